"""Run the notifier service: ``python -m services.notifier``."""

from services.notifier.bootstrap import create_app
from shared.entrypoint import run_service

run_service("notifier", create_app)
