"""Operability shared by the three services: correlation ids and trace context that travel with
a change (HTTP → outbox → Kafka headers → consumers → email), Prometheus metrics, readiness
checks, the small operations HTTP server of the consumer services, and the AsyncAPI document."""
