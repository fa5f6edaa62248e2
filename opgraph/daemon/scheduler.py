"""The scheduler: one run (or skip) per cron tick of every running schedule.

Each tick has a unique key, `<location>:<schedule>@<scheduled time, UTC ISO>`, stored in
a unique-indexed column, and each run it makes has a run key derived from the tick key
(and a run id derived from that). So a tick never makes two runs: a second daemon gets
DuplicateTickKey, and a daemon that crashed between "run created" and "tick recorded"
finds the tick STARTED on restart, evaluates it again and finds the same run.

The schedule function runs in the code location (`evaluate_schedule`), never here.
"""

from __future__ import annotations

from opgraph.daemon.instigators import (
    SCHEDULE_NAME_TAG,
    TICK_TAG,
    Instigator,
    due_tick_times,
    instigators,
    save_data,
    submit_request,
    tick_time_text,
)
from opgraph.daemon.part import DaemonPart, TickReport
from opgraph.errors import OpgraphError
from opgraph.instance import OpgraphInstance
from opgraph.workspace.base import CodeLocationUnreachable, ScheduleSnapshot, Workspace
from opgraph_storage.base import DuplicateTickKey
from opgraph_storage.records import InstigatorType, TickRecord, TickStatus


class Scheduler(DaemonPart):
    name = "SCHEDULER"

    def __init__(
        self,
        instance: OpgraphInstance,
        workspace: Workspace,
        max_catchup_runs: int = 5,
        interval_seconds: float = 5.0,
    ):
        self.instance = instance
        self.workspace = workspace
        self.max_catchup_runs = max_catchup_runs
        self.interval_seconds = interval_seconds

    def tick(self, now: float) -> TickReport:
        report = TickReport()
        for item in instigators(self.instance, self.workspace, InstigatorType.SCHEDULE):
            if not item.running:
                continue
            report.count("schedules")
            try:
                self._schedule_tick(item, now, report)
            except CodeLocationUnreachable as exc:  # not the schedule's fault: retried next time
                report.errors.append(f"schedule {item.key}: {exc}")
            except Exception as exc:
                report.errors.append(f"schedule {item.key}: {type(exc).__name__}: {exc}")
        return report

    def _schedule_tick(self, item: Instigator, now: float, report: TickReport) -> None:
        schedule = item.definition
        assert isinstance(schedule, ScheduleSnapshot)
        data = item.data
        if "start_time" not in data:  # running by default_status: it starts now
            data["start_time"] = now
            save_data(self.instance, item, data, now)
        after = max(data.get("last_tick_time") or 0.0, data["start_time"])
        due, dropped = due_tick_times(schedule, after, now, self.max_catchup_runs)
        if dropped:
            report.count("catchup_ticks_dropped")
        for scheduled_time in due:
            self._run_tick(item, scheduled_time, now, report)
            data["last_tick_time"] = scheduled_time
            save_data(self.instance, item, data, now)

    def _run_tick(
        self, item: Instigator, scheduled_time: float, now: float, report: TickReport
    ) -> None:
        storage = self.instance.storage
        tick_key = f"{item.key}@{tick_time_text(scheduled_time)}"
        tick = storage.get_tick(tick_key)
        if tick is None:
            try:
                tick = storage.create_tick(
                    TickRecord(item.key, tick_key, TickStatus.STARTED, scheduled_time)
                )
            except DuplicateTickKey:  # another daemon made it a moment ago
                tick = storage.get_tick(tick_key)
        if tick is None or tick.status is not TickStatus.STARTED:
            return  # done already, by us before a crash or by another daemon
        # CodeLocationUnreachable propagates: the tick stays STARTED and is retried.
        evaluation = item.location.evaluate_schedule(item.definition.name, scheduled_time)
        if evaluation.error is not None:
            error = evaluation.error
            storage.update_tick(
                _replace(tick, TickStatus.FAILURE, error=f"{error.describe()}\n{error.traceback}")
            )
            report.count("ticks_failed")
            return
        if not evaluation.run_requests:
            message = evaluation.skip_message or "the schedule function requested no runs"
            storage.update_tick(_replace(tick, TickStatus.SKIPPED, skip_reason=message))
            report.count("ticks_skipped")
            return
        run_ids: list[str] = []
        errors: list[str] = []
        for index, request in enumerate(evaluation.run_requests):
            run_key = f"{tick_key}/{request.run_key or index}"
            tags = {SCHEDULE_NAME_TAG: item.definition.name, TICK_TAG: tick_key}
            try:
                submitted = submit_request(
                    self.instance, item.location, item.definition, request, run_key, tags
                )
            except OpgraphError as exc:  # run config that does not fit, unknown job, ...
                errors.append(f"run request {index}: {exc}")
                continue
            # Anything else (storage, launcher) propagates: the tick stays STARTED and the
            # next pass retries it, finding the runs made so far by their run keys.
            run_ids.append(submitted.run.run_id)
        status = TickStatus.FAILURE if errors else TickStatus.SUCCESS
        storage.update_tick(
            _replace(tick, status, run_ids=run_ids, error="\n".join(errors) or None)
        )
        report.count("runs_submitted", len(run_ids))


def _replace(tick: TickRecord, status: TickStatus, **fields: object) -> TickRecord:
    return TickRecord(**{**tick.__dict__, "status": status, **fields})
