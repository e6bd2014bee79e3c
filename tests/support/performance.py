"""The pipeline's performance settings as docs/scaling.md measured them: the Kubernetes
ConfigMap and docker-compose.yml must both set exactly these."""

PERFORMANCE = {
    "BRIDGEWORK_PROPOSE_ON_ARRIVAL": "true",
    "BRIDGEWORK_CONSUMER_FETCH_MAX_WAIT_MS": "20",
    "BRIDGEWORK_CONSUMER_BATCH_MAX_RECORDS": "500",
    "BRIDGEWORK_CONSUMER_BATCH_TIMEOUT_MS": "20",
    "BRIDGEWORK_CONSUMER_FRESH_FETCH_MS": "5",
    "BRIDGEWORK_ROUND_QUIET_SECONDS": "1.5",
    "BRIDGEWORK_ROUND_MAX_DELAY_SECONDS": "10",
    "BRIDGEWORK_ROUND_DUTY_CYCLE": "0.25",
}
