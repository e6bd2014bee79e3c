"""Trusts take part: their contacts sign in with emailed links, post placements, put staff
forward, consent to secondments on both sides and follow each secondment's life."""
