"""Give memory back to the system after heavy requests (glibc's malloc_trim).

A large GraphQL answer (a thousand runs, ten aliases) builds tens of MB of strings and
dicts. Python frees them, but the allocator keeps the freed pages, so a worker's resident
memory stayed near its peak (81 -> 494 MB over a few thousand requests in the issue).
Three parts bring it back to within a few % of its steady size
(benchmarks/web_streams.py, `rss_after_vs_steady_pct`):

- `opgraph webserver` runs its workers on the C allocator (PYTHONMALLOC=malloc,
  app/cli_webserver.py). Under pymalloc they stayed 30-40 % above steady whatever was
  trimmed: a few hundred KB of objects that outlive a request pin pymalloc's 1 MiB arenas.
- Once a request grew the process by TRIM_GROWTH_BYTES, a trim runs TRIM_DELAY_SECONDS
  after it: by then the server has dropped the answer (when the response closes it still
  holds its body, the 5 MB that the trim should give back). The trim is a full garbage
  collection (graphql-core leaves cycles, about 280 objects per heavy request) and
  `malloc_trim(0)`, which returns every free page of the heap, not only its top. Ordinary
  requests after a heavy one reuse the freed gaps and fault pages back in, which is why
  growth is counted from the size after the last trim, not only per request.
- The gevent worker freezes what the app holds after loading (`gc.freeze`,
  app/gunicorn_worker.py): a full collection then takes about 1 ms instead of 100-170 ms
  over the 400,000 objects of the loaded app, which every greenlet would wait for.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import threading
from collections.abc import Callable

from flask import Flask, Response

TRIM_GROWTH_BYTES = 4 * 1024 * 1024
TRIM_DELAY_SECONDS = 0.1
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim  # glibc only; musl and macOS have none
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


def resident_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except OSError:
        return 0


def freeze_loaded_objects() -> None:
    """Exclude what exists now (modules, schema, app) from every later collection."""
    gc.collect()  # garbage frozen now could never be collected
    gc.freeze()


class _Trimmer:
    def __init__(self, trim: Callable[[int], int]) -> None:
        self.trim = trim
        self.low_water = resident_bytes()  # resident size after the last trim
        self.lock = threading.Lock()
        self.pending = False

    def after_response(self) -> None:
        resident = resident_bytes()
        with self.lock:
            if self.pending:
                return
            if resident - self.low_water < TRIM_GROWTH_BYTES:
                self.low_water = min(self.low_water, resident)
                return
            self.pending = True
        # A greenlet under the gevent worker (threading is patched), else a thread.
        timer = threading.Timer(TRIM_DELAY_SECONDS, self.run)
        timer.daemon = True
        timer.start()

    def run(self) -> None:
        gc.collect()
        self.trim(0)
        with self.lock:
            self.low_water = resident_bytes()
            self.pending = False


def install_memory_trim(app: Flask) -> None:
    trim = _malloc_trim()
    if trim is None or not resident_bytes():
        return
    trimmer = _Trimmer(trim)

    @app.after_request
    def schedule_trim(response: Response) -> Response:
        response.call_on_close(trimmer.after_response)  # after the answer went out
        return response
