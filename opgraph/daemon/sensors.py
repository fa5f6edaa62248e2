"""Sensors: evaluated every `minimum_interval_seconds` in their code location.

The cursor a sensor returns is saved only after the runs it asked for were submitted:
a crash in between evaluates it again from the old cursor. A run request with a
`run_key` makes at most one run per sensor and key, ever (the key is unique in storage);
a repeat is recorded on the tick as already requested.
"""

from __future__ import annotations

import json
import traceback

from opgraph.daemon.instigators import (
    SENSOR_NAME_TAG,
    TICK_TAG,
    Instigator,
    instigators,
    save_data,
    submit_request,
    tick_time_text,
)
from opgraph.daemon.part import DaemonPart, TickReport
from opgraph.errors import OpgraphError
from opgraph.instance import OpgraphInstance
from opgraph.partitions.runs import apply_dynamic_partitions_requests
from opgraph.run_status_sensors import run_payload
from opgraph.workspace.base import CodeLocationUnreachable, SensorSnapshot, Workspace
from opgraph_storage.base import DuplicateTickKey
from opgraph_storage.records import (
    FINISHED_STATUSES,
    EventRecord,
    InstigatorType,
    RunRecord,
    RunStatus,
    TickRecord,
    TickStatus,
)


class SensorDaemon(DaemonPart):
    name = "SENSOR"

    def __init__(
        self, instance: OpgraphInstance, workspace: Workspace, interval_seconds: float = 1.0
    ):
        self.instance = instance
        self.workspace = workspace
        self.interval_seconds = interval_seconds

    def tick(self, now: float) -> TickReport:
        report = TickReport()
        for item in instigators(self.instance, self.workspace, InstigatorType.SENSOR):
            if not item.running:
                continue
            sensor = item.definition
            assert isinstance(sensor, SensorSnapshot)
            last = item.data.get("last_tick_time")
            if last is not None and now - last < sensor.minimum_interval_seconds:
                continue
            try:
                if sensor.run_status in _FINISHED_NAMES:
                    self._run_status_tick(item, now, report)
                elif sensor.run_status:
                    self._status_change_tick(item, now, report)
                else:
                    self._sensor_tick(item, now, report)
            except CodeLocationUnreachable as exc:
                report.errors.append(f"sensor {item.key}: {exc}")
            except Exception as exc:
                report.errors.append(f"sensor {item.key}: {type(exc).__name__}: {exc}")
        return report

    def _sensor_tick(self, item: Instigator, now: float, report: TickReport) -> None:
        storage = self.instance.storage
        data = item.data
        cursor = data.get("cursor")
        tick_key = f"{item.key}@{tick_time_text(now)}"
        try:
            tick = storage.create_tick(TickRecord(item.key, tick_key, TickStatus.STARTED, now))
        except DuplicateTickKey:
            return  # another daemon ticked this sensor at this very moment
        report.count("sensors_evaluated")
        try:
            evaluation = item.location.evaluate_sensor(
                item.definition.name, cursor, data.get("last_run_key")
            )
        except CodeLocationUnreachable as exc:
            storage.update_tick(_replace(tick, TickStatus.FAILURE, error=str(exc), cursor=cursor))
            raise
        if evaluation.error is not None:
            error = evaluation.error
            text = f"{error.describe()}\n{error.traceback}"
            storage.update_tick(_replace(tick, TickStatus.FAILURE, error=text, cursor=cursor))
            data["last_tick_time"] = now  # try again after the interval, not at once
            save_data(self.instance, item, data, now)
            report.count("ticks_failed")
            return
        # Before the run requests, which may be for the new keys. Adding and deleting
        # are idempotent: a retried tick applies them again harmlessly.
        apply_dynamic_partitions_requests(self.instance, evaluation.dynamic_partitions_requests)
        run_ids: list[str] = []
        errors: list[str] = []
        repeats: list[str] = []
        for index, request in enumerate(evaluation.run_requests):
            # A run key dedupes across every tick of the sensor; without one, only a
            # retry of this very tick could find the run again.
            scope = item.key if request.run_key else tick_key
            run_key = f"{scope}/{request.run_key or index}"
            tags = {SENSOR_NAME_TAG: item.definition.name, TICK_TAG: tick_key}
            try:
                submitted = submit_request(
                    self.instance, item.location, item.definition, request, run_key, tags
                )
            except OpgraphError as exc:  # the request's fault (config, job): recorded, skipped
                errors.append(f"run request {index}: {exc}")
                continue
            except Exception:
                # Storage or launcher trouble: the cursor stays where it was, so the next
                # tick asks again (run keys keep what was submitted from repeating).
                storage.update_tick(
                    _replace(
                        tick,
                        TickStatus.FAILURE,
                        run_ids=run_ids,
                        error=traceback.format_exc(),
                        cursor=cursor,
                    )
                )
                raise
            if submitted.existed:
                repeats.append(f"{request.run_key} (run {submitted.run.run_id})")
            else:
                run_ids.append(submitted.run.run_id)
                if request.run_key:
                    data["last_run_key"] = request.run_key
        # Only now, with every run submitted, does the cursor move on.
        data["cursor"] = evaluation.cursor
        data["last_tick_time"] = now
        save_data(self.instance, item, data, now)
        skip = evaluation.skip_message
        if repeats:
            skip = "run keys already requested: " + ", ".join(repeats)
        if errors:
            status = TickStatus.FAILURE
        elif run_ids:
            status = TickStatus.SUCCESS
        else:
            status = TickStatus.SKIPPED
            skip = skip or "the sensor function requested no runs"
        storage.update_tick(
            _replace(
                tick,
                status,
                run_ids=run_ids,
                skip_reason=skip,
                error="\n".join(errors) or None,
                cursor=evaluation.cursor,
            )
        )
        report.count("runs_submitted", len(run_ids))

    # -- run status sensors (opgraph.run_status_sensors) ---------------------------------------
    def _run_status_tick(self, item: Instigator, now: float, report: TickReport) -> None:
        """Evaluate the sensor once per run that reached its status since the cursor."""
        storage = self.instance.storage
        sensor = item.definition
        assert isinstance(sensor, SensorSnapshot) and sensor.run_status
        data = item.data
        cursor = data.get("run_status_cursor")
        if cursor is None:  # turned on now: runs that finish from now on, not the history
            data["run_status_cursor"] = {"after": now, "seen": []}
            data["last_tick_time"] = now
            save_data(self.instance, item, data, now)
            return
        tick_key = f"{item.key}@{tick_time_text(now)}"
        try:
            tick = storage.create_tick(TickRecord(item.key, tick_key, TickStatus.STARTED, now))
        except DuplicateTickKey:
            return
        report.count("sensors_evaluated")
        seen = set(cursor["seen"])
        candidates = storage.get_finished_runs(
            [RunStatus(sensor.run_status)], cursor["after"] - RUN_STATUS_LOOKBACK_SECONDS, 100
        )
        handled: list[RunRecord] = []
        run_ids: list[str] = []
        errors: list[str] = []
        failed: str | None = None
        for run in candidates:
            if run.run_id in seen:
                continue
            if _monitors(item, sensor, run):
                try:
                    self._evaluate_for_run(item, run, tick_key, run_ids, errors)
                except _EvaluationFailed as exc:
                    failed = str(exc)  # this run and later ones are tried again next tick
                    break
            handled.append(run)
        after = max([cursor["after"], *(r.ended_at or 0.0 for r in handled)])
        kept = seen | {r.run_id for r in handled}
        data["run_status_cursor"] = {
            "after": after,
            "seen": sorted(
                r.run_id
                for r in candidates
                if r.run_id in kept and (r.ended_at or 0.0) >= after - RUN_STATUS_LOOKBACK_SECONDS
            ),
        }
        data["last_tick_time"] = now
        save_data(self.instance, item, data, now)
        if failed is not None or errors:
            status = TickStatus.FAILURE
        else:
            status = TickStatus.SUCCESS if run_ids else TickStatus.SKIPPED
        skip = None
        if status is TickStatus.SKIPPED:
            fired = sum(1 for r in handled if _monitors(item, sensor, r))
            skip = f"evaluated for {fired} run(s) reaching {sensor.run_status}; no runs requested"
        storage.update_tick(
            _replace(
                tick,
                status,
                run_ids=run_ids,
                skip_reason=skip,
                error="\n".join([*errors, *([failed] if failed else [])]) or None,
                cursor=json.dumps(data["run_status_cursor"]),
            )
        )
        report.count("runs_submitted", len(run_ids))

    def _status_change_tick(self, item: Instigator, now: float, report: TickReport) -> None:
        """A status runs pass through (QUEUED, STARTING, STARTED, CANCELING): the runs whose
        event of reaching it (RUN_ENQUEUED...) came after the cursor, an event id."""
        storage = self.instance.storage
        sensor = item.definition
        assert isinstance(sensor, SensorSnapshot) and sensor.run_status
        data = item.data
        cursor = data.get("status_change_cursor")
        if cursor is None:  # turned on now: runs that reach the status from now on
            newest = storage.newest_event_id()
            data["status_change_cursor"] = {"after_id": newest, "floor": newest, "seen": []}
            data["last_tick_time"] = now
            save_data(self.instance, item, data, now)
            return
        tick_key = f"{item.key}@{tick_time_text(now)}"
        try:
            tick = storage.create_tick(TickRecord(item.key, tick_key, TickStatus.STARTED, now))
        except DuplicateTickKey:
            return
        report.count("sensors_evaluated")
        event_type = STATUS_EVENT_TYPES[sensor.run_status]
        seen = set(cursor["seen"])
        # Ids below the cursor are read again for a while: an event whose transaction
        # committed after a later one's was not visible when the cursor passed it.
        changes = storage.get_run_status_changes(
            [event_type],
            max(cursor["floor"], cursor["after_id"] - STATUS_CHANGE_LOOKBACK_IDS),
            STATUS_CHANGE_BATCH + len(seen),
        )
        handled: list[int] = []
        run_ids: list[str] = []
        errors: list[str] = []
        failed: str | None = None
        fired = 0
        for event in changes:
            assert event.storage_id is not None
            if event.storage_id in seen:
                continue
            run = storage.get_run(event.run_id)
            if run is not None and _monitors(item, sensor, run):
                try:
                    self._evaluate_for_run(item, run, tick_key, run_ids, errors, event)
                except _EvaluationFailed as exc:
                    failed = str(exc)  # this event and later ones are tried again next tick
                    break
                fired += 1
            handled.append(event.storage_id)
        after_id = max([cursor["after_id"], *handled])
        kept = seen | set(handled)
        data["status_change_cursor"] = {
            "after_id": after_id,
            "floor": cursor["floor"],  # where the sensor was turned on: nothing before it
            "seen": sorted(i for i in kept if i > after_id - STATUS_CHANGE_LOOKBACK_IDS),
        }
        data["last_tick_time"] = now
        save_data(self.instance, item, data, now)
        if failed is not None or errors:
            status = TickStatus.FAILURE
        else:
            status = TickStatus.SUCCESS if run_ids else TickStatus.SKIPPED
        skip = None
        if status is TickStatus.SKIPPED:
            skip = f"evaluated for {fired} run(s) reaching {sensor.run_status}; no runs requested"
        storage.update_tick(
            _replace(
                tick,
                status,
                run_ids=run_ids,
                skip_reason=skip,
                error="\n".join([*errors, *([failed] if failed else [])]) or None,
                cursor=json.dumps(data["status_change_cursor"]),
            )
        )
        report.count("runs_submitted", len(run_ids))

    def _evaluate_for_run(
        self,
        item: Instigator,
        run: RunRecord,
        tick_key: str,
        run_ids: list[str],
        errors: list[str],
        event: EventRecord | None = None,
    ) -> None:
        storage = self.instance.storage
        if event is None:  # a finished run: its last RUN_SUCCESS/RUN_FAILURE/RUN_CANCELED
            events = storage.get_events(run.run_id, event_types=[f"RUN_{run.status.value}"])
            event = events[-1] if events else None
        event_type = event.event_type if event else f"RUN_{run.status.value}"
        failures = [
            (e.step_key, e.message)
            for e in storage.get_events(run.run_id, event_types=["STEP_FAILURE"])
        ]
        payload = run_payload(run, event_type, event.message if event else "", failures)
        evaluation = item.location.evaluate_sensor(item.definition.name, payload, None)
        if evaluation.error is not None:
            error = evaluation.error
            raise _EvaluationFailed(f"run {run.run_id}: {error.describe()}\n{error.traceback}")
        for index, request in enumerate(evaluation.run_requests):
            # One run per monitored run and request, even if a crash repeats this evaluation.
            run_key = f"{item.key}/{run.run_id}/{request.run_key or index}"
            tags = {SENSOR_NAME_TAG: item.definition.name, TICK_TAG: tick_key}
            try:
                submitted = submit_request(
                    self.instance, item.location, item.definition, request, run_key, tags
                )
            except OpgraphError as exc:
                errors.append(f"run {run.run_id}, run request {index}: {exc}")
                continue
            if not submitted.existed:
                run_ids.append(submitted.run.run_id)


# A run's end can be stored a moment after a later-ending run's: look back this far for
# runs the cursor passed but never saw (their ids are kept in the cursor meanwhile).
RUN_STATUS_LOOKBACK_SECONDS = 60.0
# The same for statuses read from events: ids handled within this many of the cursor are
# kept in it; a tick reads at most this many new status events.
STATUS_CHANGE_LOOKBACK_IDS = 1000
STATUS_CHANGE_BATCH = 100
_FINISHED_NAMES = frozenset(s.value for s in FINISHED_STATUSES)
# The event a run records when it reaches each status (opgraph.run_lifecycle).
STATUS_EVENT_TYPES = {
    RunStatus.QUEUED.value: "RUN_ENQUEUED",
    RunStatus.STARTING.value: "RUN_STARTING",
    RunStatus.STARTED.value: "RUN_START",
    RunStatus.CANCELING.value: "RUN_CANCELING",
}


class _EvaluationFailed(Exception):
    pass


def _monitors(item: Instigator, sensor: SensorSnapshot, run: RunRecord) -> bool:
    same_location = sensor.monitor_all_code_locations or run.location_name == item.location.name
    if sensor.monitored_jobs:
        return same_location and run.job_name in sensor.monitored_jobs
    return same_location


def _replace(tick: TickRecord, status: TickStatus, **fields: object) -> TickRecord:
    return TickRecord(**{**tick.__dict__, "status": status, **fields})
