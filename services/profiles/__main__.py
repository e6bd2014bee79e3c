"""Run the profiles service: ``python -m services.profiles``."""

import uvicorn

from services.profiles.app import create_app
from shared.gc_tuning import shorten_gc_pauses
from shared.logs import configure_logging
from shared.observability.tracing import configure_tracing
from shared.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, "profiles", settings.log_format, settings.environment)
    configure_tracing(settings, "profiles")
    app = create_app(settings)
    if settings.gc_freeze:
        shorten_gc_pauses()  # after the imports and set-up, which live as long as the process
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
