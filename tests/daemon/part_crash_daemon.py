"""`opgraph daemon run` whose RUN_QUEUE part's thread ends (SystemExit) on a tick while the
file named by PART_CRASH_MARKER exists; with PART_CRASH_ONCE=1 that tick removes the
file, so the part dies once. The crash the controller must restart or hand over for."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from opgraph.daemon.run_queue import RunQueue

real_tick = RunQueue.tick


def tick_or_die(self: RunQueue, now: float) -> Any:
    marker = Path(os.environ["PART_CRASH_MARKER"])
    if marker.exists():
        if os.environ.get("PART_CRASH_ONCE") == "1":
            marker.unlink()
        raise SystemExit("injected crash of the run queue part")
    return real_tick(self, now)


RunQueue.tick = tick_or_die  # type: ignore[method-assign]

if __name__ == "__main__":
    from opgraph_app.cli import main

    sys.exit(main(["daemon", "run"]))
