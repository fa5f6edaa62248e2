"""A code location reached over HTTP: what the webserver and the daemon hold.

Job, schedule and sensor snapshots are fetched in one request (`/snapshot`) and kept
until the location's version or state changes (asset nodes too, fetched on first use); a cheap `/status` call checks that at
most every `revalidate_seconds`, made by one thread while the others go on with the
snapshot they have. Evaluations always go to the server.

What a launch asks is kept with the snapshot too, for as long as its version holds: the
version itself, each job's code pointer, and each run config the server accepted. A
launch then makes no request at all: three requests each (status, validate, pointer)
were 30% of a `launchRun`'s time with 20 clients launching at once, each a new
connection to a code server competing for the CPU. A run config the server rejected is
asked again every time, so its errors always come from the current code.
"""

from __future__ import annotations

import gc
import http.client
import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from opgraph.workspace.base import (
    CodeLocation,
    CodeLocationError,
    CodeLocationUnreachable,
    ErrorInfo,
    JobSnapshot,
    LocationState,
    LocationStatus,
    PartitionRunSnapshot,
    ScheduleSnapshot,
    SensorSnapshot,
    TickEvaluation,
)
from opgraph.workspace.protocol import raise_error

DEFAULT_TIMEOUT = 10.0  # metadata calls
EVALUATION_TIMEOUT = 60.0  # schedule and sensor functions, run config checks: user code runs
MAX_ACCEPTED_CONFIGS = 256  # run configs remembered as accepted, per snapshot


@dataclass(frozen=True)
class _Snapshot:
    status: LocationStatus
    jobs: tuple[JobSnapshot, ...]
    schedules: tuple[ScheduleSnapshot, ...]
    sensors: tuple[SensorSnapshot, ...]
    checked_at: float
    # Kept while the version holds (a revalidated snapshot takes them over).
    pointers: dict[str, dict[str, Any]] = field(default_factory=dict)
    accepted: set[tuple[str, str, tuple[str, ...]]] = field(default_factory=set)
    # The asset nodes, fetched on first use (empty until then, else one list): 10,000 of
    # them were a 3.7 MB answer that took 0.5 s to fetch and decode on every catalog read.
    assets: list[list[dict[str, Any]]] = field(default_factory=list)


class ServerCodeLocation(CodeLocation):
    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        origin: Mapping[str, Any] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        evaluation_timeout: float = EVALUATION_TIMEOUT,
        revalidate_seconds: float = 1.0,
    ):
        super().__init__(name)
        self.host, self.port = host, port
        self.origin = dict(origin or {"server": {"host": host, "port": port}})
        self.timeout = timeout
        self.evaluation_timeout = evaluation_timeout
        self.revalidate_seconds = revalidate_seconds
        self._cache: _Snapshot | None = None
        self._fetching = threading.Lock()  # held by the one thread fetching a snapshot

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- HTTP ---------------------------------------------------------------------------------
    def _request(
        self, method: str, path: str, body: Any = None, timeout: float | None = None
    ) -> Any:
        connection = http.client.HTTPConnection(
            self.host, self.port, timeout=timeout or self.timeout
        )
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        except TimeoutError:
            raise CodeLocationUnreachable(
                f"code location {self.name!r}: the code server at {self.url} did not answer "
                f"{method} {path} within {timeout or self.timeout:g}s"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise CodeLocationUnreachable(
                f"code location {self.name!r}: the code server at {self.url} is not reachable "
                f"({type(exc).__name__}: {exc}); is `opgraph code-server --port {self.port}` "
                "running?"
            ) from None
        finally:
            connection.close()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            raise CodeLocationError(
                f"code location {self.name!r}: {self.url}{path} answered {response.status} "
                f"with something that is not JSON: {raw[:200]!r}; is it a code server?"
            ) from None
        if response.status >= 400:
            error = data.get("error") if isinstance(data, dict) else None
            raise_error(
                error or {"message": f"HTTP {response.status}"},
                f"code location {self.name!r} ({self.url})",
            )
        return data

    def asset_nodes(self) -> list[dict[str, Any]]:
        """Kept with the snapshot while its version holds, like the jobs (two threads
        that both find none fetch twice; either answer is that version's)."""
        kept = self._snapshot().assets
        if not kept:
            kept[:] = [self._request("GET", "/assets")["asset_nodes"]]
            # Out of the cyclic collector's sight: 10,000 nodes are about a million
            # objects, and every full collection walked them all, 100-400 ms added to
            # whichever request it fell in (1 in 4 catalog reads). JSON has no cycles, so
            # they are still freed by reference counting when a new version replaces them.
            gc.freeze()
        return list(kept[0])

    @staticmethod
    def _quoted(name: str) -> str:
        return quote(name, safe="")

    # -- status and snapshots -----------------------------------------------------------------
    def status(self) -> LocationStatus:
        """Always answers: an unreachable server is an ERROR status, not an exception."""
        try:
            return LocationStatus.from_json(self._request("GET", "/status"))
        except CodeLocationError as exc:
            return LocationStatus(
                self.name,
                LocationState.ERROR,
                error=ErrorInfo(message=str(exc), error_class=type(exc).__name__),
                origin=self.origin,
                updated_at=time.time(),
            )

    def _snapshot(self) -> _Snapshot:
        cache = self._cache
        if cache is not None and (
            time.monotonic() - cache.checked_at < self.revalidate_seconds
            or self._fetching.locked()  # another thread revalidates it right now
        ):
            return cache
        with self._fetching:
            cache = self._cache
            now = time.monotonic()
            if cache is not None and now - cache.checked_at < self.revalidate_seconds:
                return cache
            if cache is not None:
                status = LocationStatus.from_json(self._request("GET", "/status"))
                if (status.state, status.version) == (cache.status.state, cache.status.version):
                    self._cache = _Snapshot(
                        status,
                        cache.jobs,
                        cache.schedules,
                        cache.sensors,
                        now,
                        cache.pointers,
                        cache.accepted,
                        cache.assets,
                    )
                    return self._cache
            data = self._request("GET", "/snapshot")
            self._cache = _Snapshot(
                LocationStatus.from_json(data["status"]),
                tuple(JobSnapshot.from_json(j) for j in data["jobs"]),
                tuple(ScheduleSnapshot.from_json(s) for s in data["schedules"]),
                tuple(SensorSnapshot.from_json(s) for s in data["sensors"]),
                now,
            )
            return self._cache

    def _loaded(self) -> _Snapshot:
        snapshot = self._snapshot()
        status = snapshot.status
        if status.state is not LocationState.LOADED:
            detail = status.error.describe() if status.error else "still loading"
            raise CodeLocationError(
                f"code location {self.name!r} is {status.state.value}: {detail}"
            )
        return snapshot

    def forget_cache(self) -> None:
        with self._fetching:  # after a fetch under way, which may predate the change
            self._cache = None

    @property
    def version(self) -> str | None:
        """The version of the code the server has loaded, as of the snapshot."""
        return self._snapshot().status.version

    def jobs(self) -> list[JobSnapshot]:
        return list(self._loaded().jobs)

    def schedules(self) -> list[ScheduleSnapshot]:
        return list(self._loaded().schedules)

    def sensors(self) -> list[SensorSnapshot]:
        return list(self._loaded().sensors)

    # -- questions for the code -----------------------------------------------------------------
    def validate_run_config(
        self,
        job_name: str,
        run_config: Mapping[str, Any] | None,
        op_selection: list[str] | None = None,
    ) -> list[str]:
        snapshot = self._snapshot()
        key = (job_name, json.dumps(run_config), tuple(op_selection or ()))
        if key in snapshot.accepted:
            return []
        body: dict[str, Any] = {"run_config": run_config}
        if op_selection:
            body["op_selection"] = op_selection
        data = self._request(
            "POST",
            f"/jobs/{self._quoted(job_name)}/validate",
            body,
            self.evaluation_timeout,
        )
        errors = list(data["errors"])
        if not errors:
            if len(snapshot.accepted) >= MAX_ACCEPTED_CONFIGS:
                snapshot.accepted.clear()
            snapshot.accepted.add(key)
        return errors

    def execution_plan(self, job_name: str, run_config: Mapping[str, Any] | None) -> dict[str, Any]:
        return self._request(  # type: ignore[no-any-return]
            "POST",
            f"/jobs/{self._quoted(job_name)}/execution_plan",
            {"run_config": run_config},
            self.evaluation_timeout,
        )

    def code_pointer(self, job_name: str) -> dict[str, Any]:
        pointers = self._snapshot().pointers
        pointer = pointers.get(job_name)
        if pointer is None:
            pointer = self._request("GET", f"/jobs/{self._quoted(job_name)}/code_pointer")
            pointers[job_name] = pointer
        return dict(pointer)

    def partition_runs(
        self, job_name: str, partition_keys: Sequence[str]
    ) -> list[PartitionRunSnapshot]:
        data = self._request(
            "POST",
            f"/jobs/{self._quoted(job_name)}/partition_runs",
            {"partition_keys": list(partition_keys)},
            self.evaluation_timeout,
        )
        return [PartitionRunSnapshot.from_json(run) for run in data["runs"]]

    def evaluate_schedule(self, name: str, scheduled_time: float) -> TickEvaluation:
        data = self._request(
            "POST",
            f"/schedules/{self._quoted(name)}/evaluate",
            {"scheduled_time": scheduled_time},
            self.evaluation_timeout,
        )
        return TickEvaluation.from_json(data)

    def evaluate_sensor(
        self, name: str, cursor: str | None = None, last_run_key: str | None = None
    ) -> TickEvaluation:
        data = self._request(
            "POST",
            f"/sensors/{self._quoted(name)}/evaluate",
            {"cursor": cursor, "last_run_key": last_run_key},
            self.evaluation_timeout,
        )
        return TickEvaluation.from_json(data)

    def follow_reload(self) -> None:
        """Whoever asked for the reload has reloaded the server: just fetch anew."""
        self.forget_cache()

    def reload(self) -> LocationStatus:
        """Ask the server to import the code again (for `server:` locations run elsewhere)."""
        data = self._request("POST", "/reload", {}, self.evaluation_timeout)
        self.forget_cache()
        return LocationStatus.from_json(data)
