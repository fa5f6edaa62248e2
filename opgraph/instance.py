"""The instance: where runs and events are stored and how runs are coordinated and launched.

Kept deliberately small: storage does the I/O, the coordinator and launcher are
pluggable components named in instance.yaml (a plugin's short name, found through its
entry point, or `{module, class, config}`), typed by the interfaces in `opgraph.ports`.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
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
# create_run's records, kept for the submit_run that nearly always follows it in the same
# process (GraphQL, CLI, daemon, backfills): it need not read the run back (two statements,
# a tenth of a launchRun's database time). Only briefly, so that what it hands the
# coordinator is what storage holds.
_JUST_CREATED_SECONDS = 2.0
_JUST_CREATED_MAX = 256


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
        self._just_created: OrderedDict[str, tuple[float, RunRecord]] = OrderedDict()
        self._just_created_lock = threading.Lock()

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
        stored = self.storage.add_run(record)
        with self._just_created_lock:
            self._just_created[stored.run_id] = (time.monotonic(), stored)
            while len(self._just_created) > _JUST_CREATED_MAX:
                self._just_created.popitem(last=False)
        return stored

    def _take_just_created(self, run_id: str) -> RunRecord | None:
        with self._just_created_lock:
            created = self._just_created.pop(run_id, None)
        if created is None or time.monotonic() - created[0] > _JUST_CREATED_SECONDS:
            return None
        return created[1]

    def get_run(self, run_id: str) -> RunRecord:
        run = self.storage.get_run(run_id)
        if run is None:
            raise RunNotFound(f"no run with id {run_id!r}")
        return run

    def submit_run(self, run_id: str) -> RunRecord:
        """Hand a NOT_STARTED run to the configured run coordinator."""
        run = self._take_just_created(run_id) or self.get_run(run_id)
        return self.run_coordinator.submit_run(run)

    def launch_run(self, run_id: str, run: RunRecord | None = None) -> RunRecord:
        """Hand a run straight to the run launcher (coordinators and the daemon call this).
        `run`: its record as the caller has just read it, not read again; the launcher's
        compare-and-set into STARTING makes a stale one harmless."""
        if run is None:
            run = self._take_just_created(run_id) or self.get_run(run_id)
        return self.run_launcher.launch_run(run)

    def cancel_run(self, run_id: str) -> bool:
        return self.run_coordinator.cancel_run(run_id)

    def store_events(self, events: Sequence[EventRecord]) -> None:
        self.storage.store_events(events)

    # -- dynamic partitions (Dagster's instance methods; a DynamicPartitionsStore) -------
    def add_dynamic_partitions(
        self, partitions_def_name: str, partition_keys: Sequence[str]
    ) -> None:
        """Add keys to a DynamicPartitionsDefinition(name=partitions_def_name); keys it
        has already are left as they are."""
        from opgraph.partitions.definitions import check_key_characters

        keys = check_key_characters(partition_keys, f"dynamic partitions {partitions_def_name!r}")
        self.storage.add_dynamic_partitions(partitions_def_name, keys)

    def delete_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> None:
        self.storage.delete_dynamic_partition(partitions_def_name, partition_key)

    def get_dynamic_partitions(self, partitions_def_name: str) -> list[str]:
        return self.storage.get_dynamic_partitions(partitions_def_name)

    def has_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> bool:
        return self.storage.has_dynamic_partition(partitions_def_name, partition_key)
