"""`opgraph daemon run`, killed with SIGKILL by itself right after a schedule tick made
its run and before the tick is recorded: the crash the scheduler must survive."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from opgraph_storage.records import TickStatus
from opgraph_storage.sql import SqlStorage

real_update_tick = SqlStorage.update_tick


def update_tick_then_die(self: SqlStorage, tick: Any) -> None:
    if tick.status is TickStatus.SUCCESS and tick.run_ids:
        os.kill(os.getpid(), signal.SIGKILL)  # the run exists; the tick says STARTED
    real_update_tick(self, tick)


SqlStorage.update_tick = update_tick_then_die  # type: ignore[method-assign]

if __name__ == "__main__":
    from opgraph_app.cli import main

    sys.exit(main(["daemon", "run"]))
