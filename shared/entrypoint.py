"""The one way a service process starts (``python -m services.<name>``): settings from the
environment, logging and tracing under the service's name, the service's application from its
bootstrap, then run it (a FastStream application, or the profiles service's ASGI app)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI
from faststream import FastStream

from shared.gc_tuning import shorten_gc_pauses
from shared.logs import configure_logging
from shared.observability.collector import time_collector_pauses
from shared.observability.tracing import configure_tracing
from shared.settings import Settings


def run_service(name: str, create_app: Callable[[Settings], FastStream | FastAPI]) -> None:
    settings = Settings()
    configure_logging(settings.log_level, name, settings.log_format, settings.environment)
    configure_tracing(settings, name)
    time_collector_pauses()
    app = create_app(settings)
    if settings.gc_freeze:
        shorten_gc_pauses()  # after the imports and set-up, which live as long as the process
    if isinstance(app, FastStream):
        asyncio.run(app.run())
        return
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
    )
