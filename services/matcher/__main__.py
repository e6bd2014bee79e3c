"""Run the matcher service: ``python -m services.matcher``."""

from services.matcher.bootstrap import create_app
from shared.entrypoint import run_service

run_service("matcher", create_app)
