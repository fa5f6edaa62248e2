"""In-memory test doubles: a launcher that starts nothing, for coordinator and CLI tests.

Name it in a test instance as
`InstanceConfig(run_launcher={"module": "opgraph_launchers.testing", "class": "InMemoryRunLauncher"})`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opgraph.ports import RunLauncher, WorkerHealth
from opgraph.run_lifecycle import mark_starting
from opgraph_storage.records import RunRecord

if TYPE_CHECKING:
    from opgraph.instance import OpgraphInstance


class InMemoryRunLauncher(RunLauncher):
    """Moves runs to STARTING like a real launcher and remembers them; runs no code."""

    supports_terminate = True
    supports_health_check = True
    supports_resume = True

    def __init__(self, instance: OpgraphInstance):
        self._instance = instance
        self.launched: list[str] = []
        self.terminated: list[str] = []
        self.resumed: list[str] = []

    def launch_run(self, run: RunRecord) -> RunRecord:
        mark_starting(self._instance, run, "Launched in memory.")
        self.launched.append(run.run_id)
        return self._instance.get_run(run.run_id)

    def terminate(self, run_id: str) -> bool:
        if run_id not in self.launched or run_id in self.terminated:
            return False
        self.terminated.append(run_id)
        return True

    def resume_run(self, run: RunRecord) -> RunRecord:
        self.resumed.append(run.run_id)
        if run.run_id in self.terminated:
            self.terminated.remove(run.run_id)  # a new worker: alive again
        return self._instance.get_run(run.run_id)

    def check_run_worker_health(self, run: RunRecord) -> WorkerHealth:
        if run.run_id not in self.launched:
            return WorkerHealth.UNKNOWN
        return WorkerHealth.DEAD if run.run_id in self.terminated else WorkerHealth.RUNNING
