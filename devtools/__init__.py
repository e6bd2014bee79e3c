"""Development tooling: the local stack, the demo, screenshots, the SMTP catcher, the API
documents and where the reference data lives. Nothing here is deployed (that is deploy/)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the checkout
