"""Run the notifier service: ``python -m services.notifier``."""

import asyncio

from services.notifier.app import create_app
from shared.gc_tuning import shorten_gc_pauses
from shared.logs import configure_logging
from shared.observability.tracing import configure_tracing
from shared.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, "notifier", settings.log_format, settings.environment)
    configure_tracing(settings, "notifier")
    app = create_app(settings)
    if settings.gc_freeze:
        shorten_gc_pauses()  # after the imports and set-up, which live as long as the process
    asyncio.run(app.run())


if __name__ == "__main__":
    main()
