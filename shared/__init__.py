"""Bridgework's common package: event contracts, topics, taxonomy, regions, settings, helpers."""
