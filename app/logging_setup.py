"""JSON logs for the app's processes (`--log-format json` or `OPGRAPH_LOG_FORMAT=json`).

The formatter and the run/step context live in `opgraph.logs` (the Celery worker and the
run worker use them too); this module adds what only the app needs: gunicorn's logging
for `opgraph webserver`, whose master sets up its loggers before forking its workers.
"""

from __future__ import annotations

import os
from typing import Any

from opgraph.logs import LEVEL_ENV, configure_logging, log_format

__all__ = ["configure_logging", "gunicorn_logconfig"]


def gunicorn_logconfig(service: str = "webserver") -> dict[str, Any] | None:
    """A `logconfig_dict` for gunicorn in JSON format (None in text format): gunicorn's
    error and access logs and the app's own records, all as JSON on stderr."""
    if log_format() != "json":
        return None
    level = (os.environ.get(LEVEL_ENV) or "INFO").upper()
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "opgraph.logs.JsonFormatter", "service": service}},
        "handlers": {"json": handler},
        "root": {"level": level, "handlers": ["json"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["json"], "propagate": False},
            "gunicorn.access": {"level": level, "handlers": ["json"], "propagate": False},
        },
    }
