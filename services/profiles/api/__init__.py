"""The profiles JSON API: one router per resource (networks, trusts, people, placements), the
bearer-token check every route runs first, the permission checks and the request and response
schemas."""
