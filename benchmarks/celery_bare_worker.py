"""A raw Celery worker that imports nothing of opgraph: the baseline of
benchmarks.worker_start. It gets opgraph's Celery settings as JSON
(OPGRAPH_BENCH_CELERY_SETTINGS, made by the parent with `celery_settings`), so the two
workers differ only in what opgraph adds, and starts as `opgraph_celery.worker` does:
`app.Worker`, no command line.

    python -m benchmarks.celery_bare_worker QUEUE NODE
"""

from __future__ import annotations

import json
import os
import sys

from celery import Celery

SETTINGS_ENV = "OPGRAPH_BENCH_CELERY_SETTINGS"

app = Celery("bench_bare")
app.conf.update(json.loads(os.environ.get(SETTINGS_ENV) or "{}"))


@app.task(name="bench.noop")
def noop(x: int) -> int:
    return x


if __name__ == "__main__":
    queue, node = sys.argv[1:3]
    worker = app.Worker(
        queues=[queue],
        concurrency=2,
        hostname=node,
        loglevel="INFO",
        without_gossip=True,
        without_mingle=True,
    )
    worker.start()
