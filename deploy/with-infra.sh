#!/usr/bin/env bash
# Moved to devtools/with-infra.sh (development tooling lives apart from what an operator
# deploys). This forwarder keeps old command lines working for now; use the new path.
echo "deploy/with-infra.sh moved to devtools/with-infra.sh" >&2
exec bash "$(dirname "$0")/../devtools/with-infra.sh" "$@"
