"""The profiles service: the front door for networks, trusts, people and placements, the
coordinators' and administrators' pages, imports and self-service (see app.py)."""
