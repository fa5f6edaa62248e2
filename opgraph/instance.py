"""The instance: where runs and events are stored and how runs are coordinated and launched.

Kept deliberately small: storage does the I/O, the coordinator and launcher are
pluggable components named in instance.yaml (a plugin's short name, found through its
entry point, or `{module, class, config}`), typed by the interfaces in `opgraph.ports`.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import time
import uuid
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from opgraph.errors import InstanceConfigError, RunNotFound
from opgraph.instance_config import (
    ComponentConfig,
    InstanceConfig,
    default_instance_config,
    load_instance_config,
)
from opgraph.ports import RunCoordinator, RunLauncher
from opgraph_storage import Storage, create_storage
from opgraph_storage.records import EventRecord, RunRecord, RunStatus

DEFAULT_HOME = ".opgraph"


def home_from_env() -> Path:
    return Path(os.environ.get("OPGRAPH_HOME", DEFAULT_HOME)).resolve()


def _load_component(component: ComponentConfig, instance: OpgraphInstance, port: type) -> Any:
    """`cls(instance=..., **config)`, checked to implement `port` (an ABC of opgraph.ports)."""
    named = f"{component.module}.{component.class_name}"
    try:
        module = importlib.import_module(component.module)
        cls = getattr(module, component.class_name)
    except (ImportError, AttributeError) as exc:
        raise InstanceConfigError(f"cannot load {named} named in instance.yaml: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, port)):
        raise InstanceConfigError(
            f"{named} named in instance.yaml is not a {port.__name__}: subclass "
            f"opgraph.ports.{port.__name__}"
        )
    constructor: Any = cls  # a subclass of `port`, built with the keywords of its config
    return constructor(instance=instance, **component.config)


class OpgraphInstance:
    def __init__(self, home: Path, config: InstanceConfig, storage: Storage | None = None):
        self.home = home
        self.config = config
        self._storage = storage

    # -- construction -------------------------------------------------------------------
    @classmethod
    def get(cls, home: Path | str | None = None) -> OpgraphInstance:
        """The instance configured by `OPGRAPH_HOME/instance.yaml` (defaults when absent)."""
        home_path = Path(home).resolve() if home else home_from_env()
        return cls(home_path, load_instance_config(home_path))

    @classmethod
    def ephemeral(cls, home: Path | str | None = None) -> OpgraphInstance:
        """A throwaway SQLite instance in a temporary directory (execute_in_process)."""
        home_path = Path(home) if home else Path(tempfile.mkdtemp(prefix="opgraph-"))
        return cls(home_path, default_instance_config())

    def ride_out_database_outages(self) -> None:
        """For services with work in flight: wait `storage.reconnect_timeout_seconds` for
        the database to come back instead of failing a write at once."""
        from opgraph_storage.engine import set_connect_patience  # SQLAlchemy: only where it is used

        set_connect_patience(self.config.storage.reconnect_timeout_seconds)

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            self._storage = create_storage(self.config.storage_url(self.home))
        return self._storage

    @cached_property
    def run_coordinator(self) -> RunCoordinator:
        coordinator: RunCoordinator = _load_component(
            self.config.run_coordinator, self, RunCoordinator
        )
        return coordinator

    @cached_property
    def run_launcher(self) -> RunLauncher:
        launcher: RunLauncher = _load_component(self.config.run_launcher, self, RunLauncher)
        return launcher

    @property
    def compute_logs_dir(self) -> Path:
        base_dir = self.config.compute_logs.base_dir
        return self.home / base_dir if base_dir else self.home / "compute_logs"

    @property
    def io_storage_dir(self) -> Path:
        """Base dir of the default filesystem IO manager."""
        return self.home / "storage"

    def dispose(self) -> None:
        # Components built so far (cached_property keeps them in __dict__) release their
        # connections too, e.g. a Celery launcher's broker pool.
        for name in ("run_launcher", "run_coordinator"):
            component: RunLauncher | RunCoordinator | None = self.__dict__.get(name)
            if component is not None:
                component.close()
        if self._storage is not None:
            self._storage.dispose()

    # -- runs -----------------------------------------------------------------------------
    def create_run(
        self,
        job_name: str,
        *,
        run_config: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
        code_pointer: dict[str, Any] | None = None,
        location_name: str | None = None,
        code_version: str | None = None,
        parent_run_id: str | None = None,
        root_run_id: str | None = None,
        run_key: str | None = None,
        run_id: str | None = None,
    ) -> RunRecord:
        """Store a NOT_STARTED run. The caller validated run_config already."""
        now = time.time()
        record = RunRecord(
            run_id=run_id or str(uuid.uuid4()),
            job_name=job_name,
            status=RunStatus.NOT_STARTED,
            run_config=run_config or {},
            tags=tags or {},
            parent_run_id=parent_run_id,
            root_run_id=root_run_id,
            code_pointer=code_pointer,
            location_name=location_name,
            code_version=code_version,
            run_key=run_key,
            created_at=now,
            updated_at=now,
        )
        return self.storage.add_run(record)

    def get_run(self, run_id: str) -> RunRecord:
        run = self.storage.get_run(run_id)
        if run is None:
            raise RunNotFound(f"no run with id {run_id!r}")
        return run

    def submit_run(self, run_id: str) -> RunRecord:
        """Hand a NOT_STARTED run to the configured run coordinator."""
        return self.run_coordinator.submit_run(self.get_run(run_id))

    def launch_run(self, run_id: str) -> RunRecord:
        """Hand a run straight to the run launcher (coordinators and the daemon call this)."""
        return self.run_launcher.launch_run(self.get_run(run_id))

    def cancel_run(self, run_id: str) -> bool:
        return self.run_coordinator.cancel_run(run_id)

    def store_events(self, events: Sequence[EventRecord]) -> None:
        self.storage.store_events(events)
