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
        assets: Iterable[Any] | None = None,
        asset_checks: Iterable[Any] | None = None,
    ):
        from opgraph.assets.repository import AssetsOfDefinitions

        self.resources = dict(resources or {})
        self.executor = executor
        self.schedules = list(schedules or [])
        self.sensors = list(sensors or [])
        jobs_by_name: dict[str, Any] = {}
        # Assets compile to jobs: define_asset_job's and the implicit all-assets job.
        self.asset_repo = AssetsOfDefinitions(assets, asset_checks, self.resources)
        given = [*(jobs or []), *(d.job for d in [*self.schedules, *self.sensors] if d.job)]
        for job in [*self.asset_repo.resolve_jobs(given), *self.asset_repo.implicit_jobs()]:
            if job.name in jobs_by_name and jobs_by_name[job.name] is not job:
                raise DefinitionError(f"two different jobs are named {job.name!r}")
            jobs_by_name[job.name] = job
        self._jobs = {name: self._bind(job) for name, job in jobs_by_name.items()}
        self.schedules = [self._resolve_schedule(s) for s in self.schedules]
        for definition in [*self.schedules, *self.sensors]:
            if definition.job_name and definition.job_name not in self._jobs:  # "": none
                raise DefinitionError(
                    f"{definition.name!r} targets job {definition.job_name!r}, "
                    f"which is not in these Definitions ({sorted(self._jobs)})"
                )
        self._check_unique("schedule", self.schedules)
        self._check_unique("sensor", self.sensors)

    def _resolve_schedule(self, schedule: Any) -> Any:
        """A partitioned asset job's schedule, built now that its job is compiled."""
        from opgraph.partitions.schedule import UnresolvedPartitionedAssetScheduleDefinition

        if isinstance(schedule, UnresolvedPartitionedAssetScheduleDefinition):
            return schedule.resolve(self._jobs[schedule.job_name])
        return schedule

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
        if name not in self._jobs and self.asset_repo.is_subset_name(name):
            return self._bind(self.asset_repo.subset_job(name, self._jobs))
        if name not in self._jobs:
            raise DefinitionError(f"no job named {name!r}; jobs are {sorted(self._jobs)}")
        return self._jobs[name]

    def resolve_job_def(self, name: str) -> Any:
        return self.get_job_def(name)

    def get_implicit_global_asset_job_def(self) -> Any:
        return self.get_job_def(self.asset_repo.implicit_job_name)

    def resolve_implicit_global_asset_job_def(self) -> Any:
        return self.get_implicit_global_asset_job_def()

    def get_assets_def(self, key: Any) -> Any:
        return self.asset_repo.get_assets_def(key)

    def resolve_assets_def(self, key: Any) -> Any:
        return self.get_assets_def(key)

    @property
    def assets(self) -> list[Any]:
        return self.asset_repo.given_assets

    @property
    def asset_checks(self) -> list[Any]:
        return self.asset_repo.given_checks

    def only_job(self) -> Any:
        if len(self._jobs) == 2 and self.asset_repo.implicit_job_name in self._jobs:
            # A file of one op job and some assets: the op job is the one meant.
            return next(j for n, j in self._jobs.items() if n != self.asset_repo.implicit_job_name)
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
