"""Accounts and who may do what: sign-in, coordinators and administrators, API tokens, the audit
log, and the administrators' pages."""
