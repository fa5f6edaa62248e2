"""Sensors: evaluated every `minimum_interval_seconds` in their code location.

The cursor a sensor returns is saved only after the runs it asked for were submitted:
a crash in between evaluates it again from the old cursor. A run request with a
`run_key` makes at most one run per sensor and key, ever (the key is unique in storage);
a repeat is recorded on the tick as already requested.
"""

from __future__ import annotations

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
from opgraph.workspace.base import CodeLocationUnreachable, SensorSnapshot, Workspace
from opgraph_storage.base import DuplicateTickKey
from opgraph_storage.records import InstigatorType, TickRecord, TickStatus


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


def _replace(tick: TickRecord, status: TickStatus, **fields: object) -> TickRecord:
    return TickRecord(**{**tick.__dict__, "status": status, **fields})
