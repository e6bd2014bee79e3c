"""Run the profiles service: ``python -m services.profiles``."""

from services.profiles.app import create_app
from shared.entrypoint import run_service

run_service("profiles", create_app)
