"""Definitions: everything one code location holds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opgraph.errors import DefinitionError


class Definitions:
    def __init__(
        self,
        jobs: Iterable[Any] | None = None,
        schedules: Iterable[Any] | None = None,
        sensors: Iterable[Any] | None = None,
        resources: Mapping[str, Any] | None = None,
        executor: Any = None,
    ):
        self.resources = dict(resources or {})
        self.executor = executor
        self.schedules = list(schedules or [])
        self.sensors = list(sensors or [])
        jobs_by_name: dict[str, Any] = {}
        # Jobs named only by schedules/sensors are part of the location too.
        for job in [*(jobs or []), *(d.job for d in [*self.schedules, *self.sensors] if d.job)]:
            if job.name in jobs_by_name and jobs_by_name[job.name] is not job:
                raise DefinitionError(f"two different jobs are named {job.name!r}")
            jobs_by_name[job.name] = job
        self._jobs = {name: self._bind(job) for name, job in jobs_by_name.items()}
        for definition in [*self.schedules, *self.sensors]:
            if definition.job_name not in self._jobs:
                raise DefinitionError(
                    f"{definition.name!r} targets job {definition.job_name!r}, "
                    f"which is not in these Definitions ({sorted(self._jobs)})"
                )
        self._check_unique("schedule", self.schedules)
        self._check_unique("sensor", self.sensors)

    def _bind(self, job: Any) -> Any:
        if self.executor is not None and job.executor_def is None:
            job.executor_def = self.executor
        return job.with_resources(self.resources) if self.resources else job

    @staticmethod
    def _check_unique(kind: str, definitions: list[Any]) -> None:
        names = [d.name for d in definitions]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise DefinitionError(f"{kind} names must be unique, duplicates: {duplicates}")

    @property
    def jobs(self) -> list[Any]:
        return list(self._jobs.values())

    def get_job_def(self, name: str) -> Any:
        if name not in self._jobs:
            raise DefinitionError(f"no job named {name!r}; jobs are {sorted(self._jobs)}")
        return self._jobs[name]

    def only_job(self) -> Any:
        if len(self._jobs) != 1:
            raise DefinitionError(f"these Definitions hold jobs {sorted(self._jobs)}; name one")
        return next(iter(self._jobs.values()))

    def get_schedule_def(self, name: str) -> Any:
        for schedule in self.schedules:
            if schedule.name == name:
                return schedule
        raise DefinitionError(f"no schedule named {name!r}")

    def get_sensor_def(self, name: str) -> Any:
        for sensor in self.sensors:
            if sensor.name == name:
                return sensor
        raise DefinitionError(f"no sensor named {name!r}")
