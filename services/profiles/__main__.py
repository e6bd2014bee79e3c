"""Run the profiles service: ``python -m services.profiles``."""

import uvicorn

from services.profiles.api import create_app
from shared.logs import configure_logging
from shared.observability.tracing import configure_tracing
from shared.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, "profiles", settings.log_format, settings.environment)
    configure_tracing(settings, "profiles")
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
