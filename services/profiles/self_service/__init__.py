"""Participants' self-service without passwords: the /me link request and the link's page."""
