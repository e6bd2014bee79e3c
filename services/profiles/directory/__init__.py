"""The directory's use cases: networks, trusts, people and placements. Each stores its change and
its event in one transaction (the outbox); the JSON API, imports, self-service and the
administrators' pages all go through them."""
