"""Raw Celery, for comparison: a no-op task on the same broker and Celery settings as
opgraph's step task (JSON, late acks, prefetch 1), its results in Redis.

    celery -A benchmarks.celery_noop worker -Q QUEUE   (OPGRAPH_BENCH_BROKER_URL, _QUEUE)
"""

from __future__ import annotations

import os

from celery import Celery

from opgraph_celery.settings import celery_settings

BROKER_URL = os.environ.get("OPGRAPH_BENCH_BROKER_URL", "redis://127.0.0.1:6379/0")
QUEUE = os.environ.get("OPGRAPH_BENCH_QUEUE", "bench-noop")
RESULTS_URL = os.environ.get("OPGRAPH_BENCH_RESULTS_URL", "redis://127.0.0.1:6379/1")

app = Celery("bench_noop")
app.conf.update(celery_settings(BROKER_URL, QUEUE))
app.conf.update(result_backend=RESULTS_URL, task_ignore_result=False)


@app.task(name="bench.noop")
def noop(x: int) -> int:
    return x
