"""The coordinators' pages and what feeds them: proposals and decisions, the state of the
network, secondment flows and fairness, the CSV export and the decision links from emails."""
