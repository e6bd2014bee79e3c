"""Run the matcher service: ``python -m services.matcher``."""

import asyncio

from services.matcher.app import create_app
from shared.logs import configure_logging
from shared.observability.tracing import configure_tracing
from shared.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, "matcher", settings.log_format, settings.environment)
    configure_tracing(settings, "matcher")
    asyncio.run(create_app(settings).run())


if __name__ == "__main__":
    main()
