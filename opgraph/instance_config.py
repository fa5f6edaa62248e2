"""instance.yaml: the models that describe it and the loader that reads it.

Every field carries a description: the deployment docs generate the configuration
reference from these models, so the description is the documentation.

The loader composes the YAML into nodes first (not straight into dicts) so that every
error can name the file and line it comes from, and so that `${ENV_VAR}` interpolation
happens on string scalars only.
"""

from __future__ import annotations

import logging
import math
from functools import cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    create_model,
    field_validator,
    model_validator,
)

from opgraph import plugins
from opgraph.config_files import field_model, is_model, read_mapping, validate
from opgraph.data_bounds import DataLimits
from opgraph.errors import InstanceConfigError

M = TypeVar("M", bound=BaseModel)

INSTANCE_FILE = "instance.yaml"
DEFAULT_SQLITE_DIR = "storage"
SQLITE_FILE = "opgraph.db"


class _Strict(BaseModel):
    """Unknown keys are errors: a misspelt option must never be silently ignored."""

    model_config = ConfigDict(extra="forbid")


# -- storage ------------------------------------------------------------------------------
class SqliteStorageConfig(_Strict):
    base_dir: str | None = Field(
        None,
        description=f"Directory holding `{SQLITE_FILE}`; relative paths are relative to "
        f"OPGRAPH_HOME. Default: `OPGRAPH_HOME/{DEFAULT_SQLITE_DIR}`.",
    )


class PostgresStorageConfig(_Strict):
    url: str | None = Field(
        None, description="Full PostgreSQL URL. Give either this or hostname/username/db_name."
    )
    hostname: str | None = Field(None, description="PostgreSQL server host name.")
    port: int = Field(5432, ge=1, le=65535, description="PostgreSQL server port.")
    username: str | None = Field(None, description="PostgreSQL user.")
    password: str | None = Field(
        None, description="PostgreSQL password; use `${ENV_VAR}` rather than a literal."
    )
    db_name: str | None = Field(None, description="Database name.")

    @model_validator(mode="after")
    def _url_or_parts(self) -> PostgresStorageConfig:
        parts = [self.hostname, self.username, self.db_name]
        if self.url and any(parts):
            raise ValueError("give either url or hostname/username/db_name, not both")
        if not self.url and not all(parts):
            raise ValueError("expected url, or all of hostname, username and db_name")
        return self

    def to_url(self) -> str:
        if self.url:
            return self.url
        # The explicit psycopg2 driver: SQLAlchemy 2.1 maps bare postgresql:// to psycopg 3.
        credentials = quote(self.username or "", safe="")
        if self.password:
            credentials += ":" + quote(self.password, safe="")
        return f"postgresql+psycopg2://{credentials}@{self.hostname}:{self.port}/{self.db_name}"


class StorageConfig(_Strict):
    """Exactly one of `sqlite`, `postgres` or `url`; nothing at all means default SQLite."""

    sqlite: SqliteStorageConfig | None = Field(None, description="SQLite file storage.")
    postgres: PostgresStorageConfig | None = Field(None, description="PostgreSQL storage.")
    url: str | None = Field(None, description="Any SQLAlchemy URL (sqlite:// or postgresql://).")
    reconnect_timeout_seconds: float = Field(
        60,
        ge=0,
        description="How long run workers, Celery workers and the daemon keep reconnecting to a "
        "database that went away (a restart, a failover) before a write fails. CLI commands and "
        "web requests do not wait.",
    )

    @model_validator(mode="after")
    def _at_most_one(self) -> StorageConfig:
        given = [name for name in ("sqlite", "postgres", "url") if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"expected one of sqlite, postgres or url; given {', '.join(given)}")
        return self

    def to_url(self, home: Path) -> str:
        if self.url:
            return self.url
        if self.postgres:
            return self.postgres.to_url()
        base_dir = self.sqlite.base_dir if self.sqlite and self.sqlite.base_dir else None
        directory = home / (base_dir or DEFAULT_SQLITE_DIR)  # an absolute base_dir wins
        return f"sqlite:///{directory.resolve() / SQLITE_FILE}"


# -- run coordinator and run launcher --------------------------------------------------------
class ComponentConfig(_Strict):
    """A class loaded by module and name, constructed as `cls(instance=..., **config)`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    module: str = Field(description="Importable module holding the class.")
    class_name: str = Field(
        validation_alias=AliasChoices("class", "class_name"),
        description="Class name (key `class` in YAML).",
    )
    config: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for the class constructor."
    )


class TagConcurrencyLimit(_Strict):
    key: str = Field(description="Run tag key the limit applies to.")
    value: str | None = Field(
        None, description="Only runs whose tag has this value count; omitted: any value."
    )
    limit: int = Field(ge=0, description="At most this many such runs in progress at once.")
    per_value: bool = Field(
        False,
        description="Apply the limit to each value of the tag separately (e.g. at most 2 "
        "runs per `customer`), instead of to all values together.",
    )

    @model_validator(mode="after")
    def _value_or_per_value(self) -> TagConcurrencyLimit:
        if self.per_value and self.value is not None:
            raise ValueError("give value (one value) or per_value: true (each value), not both")
        return self


def _component(kind: str, value: Any) -> Any:
    """Turn `queued` / `{queued: {...}}` into a ComponentConfig; pass other forms on.

    Short names are the entry points of the plugin group (`opgraph.run_launchers`, ...);
    each plugin's own model validates its options."""
    group = _PLUGIN_GROUPS[kind]
    names = plugins.components(group)
    expected = f"one of {', '.join(names)}, or {{module, class, config}} for your own class"
    if value is None:
        value = _default_name(kind)
    if isinstance(value, str):
        value = {value: None}
    if not isinstance(value, dict) or "module" in value or "class" in value:
        return value  # ComponentConfig, {module, class, config} or a type error for pydantic
    if len(value) != 1:
        raise ValueError(f"expected {expected}; given keys {', '.join(map(str, value))}")
    [(name, options)] = value.items()
    short = names.get(name)
    if short is None:
        raise ValueError(f"unknown {kind.replace('_', ' ')} {name!r}; expected {expected}")
    wrapper = _wrapper_model(kind, name, short.config_model)
    parsed = getattr(wrapper.model_validate({name: options or {}}), name)
    return ComponentConfig(
        module=short.module, class_name=short.class_name, config=parsed.model_dump()
    )


@cache
def _wrapper_model(kind: str, name: str, config_model: type[BaseModel]) -> type[BaseModel]:
    """A one-field wrapper keeps the short name in error locations: run_coordinator.queued.x.
    Built once per plugin and process: pydantic takes about 1.5 ms to build one, which every
    run worker paid twice reading instance.yaml (prepare_component_models)."""
    fields: dict[str, Any] = {name: (config_model, ...)}
    return create_model(f"{kind}_{name}", __base__=_Strict, **fields)


def prepare_component_models() -> None:
    """Build the wrapper of every installed coordinator and launcher plugin now, in a
    process whose children read instance.yaml (the zygote, a Celery worker's parent)."""
    for kind, group in _PLUGIN_GROUPS.items():
        for name, plugin in plugins.components(group).items():
            _wrapper_model(kind, name, plugin.config_model)


_PLUGIN_GROUPS = {
    "run_coordinator": plugins.RUN_COORDINATORS,
    "run_launcher": plugins.RUN_LAUNCHERS,
}


def _default_name(kind: str) -> str:
    """The short name of the plugin that marks itself the default for `kind`."""
    group = _PLUGIN_GROUPS[kind]
    defaults = [name for name, plugin in plugins.components(group).items() if plugin.default]
    if len(defaults) != 1:
        raise InstanceConfigError(
            f"expected one installed {group} plugin marked default, found "
            f"{len(defaults)} ({', '.join(defaults) or 'none'}); name the {kind} in instance.yaml"
        )
    return defaults[0]


def component_plugins(kind: str) -> dict[str, plugins.ComponentPlugin]:
    """The short names `kind` (run_coordinator, run_launcher) accepts, by name."""
    return plugins.components(_PLUGIN_GROUPS[kind])


def default_component(kind: str) -> str:
    return _default_name(kind)


# -- keys replaced by `liveness` ---------------------------------------------------------------
log = logging.getLogger("opgraph.config")

# old section.key -> liveness key; heartbeat timeouts become a number of missed beats.
DEPRECATED_KEYS = {
    ("run_monitoring", "start_timeout_seconds"): "start_timeout_seconds",
    ("run_monitoring", "cancel_timeout_seconds"): "cancel_timeout_seconds",
    ("run_monitoring", "worker_heartbeat_timeout_seconds"): "missed_heartbeats",
    ("daemon", "step_heartbeat_timeout_seconds"): "missed_heartbeats",
    ("daemon", "step_queued_timeout_seconds"): "step_queued_timeout_seconds",
}


def missed_heartbeats_for(timeout_seconds: Any, interval_seconds: float) -> Any:
    """An old heartbeat timeout as a number of missed beats (rounded up: never less grace)."""
    if isinstance(timeout_seconds, int | float) and not isinstance(timeout_seconds, bool):
        return max(1, math.ceil(timeout_seconds / interval_seconds - 1e-9))
    return timeout_seconds  # not a number: the liveness model reports the type error


def map_deprecated_keys(data: dict[str, Any]) -> dict[str, Any]:
    """Accept the keys `liveness` replaced: each is moved there with a warning naming the
    old key and the new one. A key given both ways keeps the `liveness` value; two old
    heartbeat timeouts keep the longer grace."""
    data = dict(data)
    given = data.get("liveness")
    liveness = dict(given) if isinstance(given, dict) else {}
    explicit = set(liveness)
    moved = False
    interval = liveness.get("heartbeat_interval_seconds", 5)
    if not isinstance(interval, int | float) or interval <= 0:
        interval = 5
    for (section, key), new in DEPRECATED_KEYS.items():
        old = data.get(section)
        if not isinstance(old, dict) or key not in old:
            continue
        old = dict(old)
        value = old.pop(key)
        data[section] = old
        if new in explicit:
            log.warning(
                "instance.yaml: %s.%s is deprecated and ignored: liveness.%s is given too",
                section,
                key,
                new,
            )
            continue
        if new == "missed_heartbeats":
            value = missed_heartbeats_for(value, interval)
            if isinstance(liveness.get(new), int) and isinstance(value, int):
                value = max(value, liveness[new])
            log.warning(
                "instance.yaml: %s.%s is deprecated; use liveness.missed_heartbeats (beats of "
                "liveness.heartbeat_interval_seconds, %gs): read as missed_heartbeats: %s",
                section,
                key,
                interval,
                value,
            )
        else:
            log.warning("instance.yaml: %s.%s is deprecated; use liveness.%s", section, key, new)
        liveness[new] = value
        moved = True
    if moved:
        data["liveness"] = liveness
    return data


# -- the other sections ------------------------------------------------------------------------
class LivenessConfig(_Strict):
    """One model of "is it still alive?" for run workers, step attempts, Celery workers and
    daemon parts (docs/liveness.md): everything alive beats every
    `heartbeat_interval_seconds`; after `missed_heartbeats` missed beats (the grace) it
    counts as gone and its watcher acts. Deadlines for runs and steps that have no beat
    yet (starting, canceling, queued) are the three `*_timeout_seconds`."""

    heartbeat_interval_seconds: float = Field(
        5,
        gt=0,
        description="How often run workers and Celery workers write a heartbeat. (Daemon parts "
        "beat once per tick; a running step attempt every second, so that its run worker notices "
        "a lost Celery worker within the executor's own `heartbeat_timeout_seconds`.)",
    )
    missed_heartbeats: int = Field(
        12,
        ge=1,
        description="Beats missed before something counts as gone: the grace is "
        "`heartbeat_interval_seconds` times `missed_heartbeats` (60 s by default). Run monitoring "
        "then resumes or fails a run whose run worker went silent, the Celery step sweeper marks "
        "a silent step attempt LOST, `/metrics` and the UI stop counting a silent Celery worker, "
        "and a daemon part silent for its own interval plus the grace is shown unhealthy.",
    )
    start_timeout_seconds: float = Field(
        180,
        gt=0,
        description="A run still STARTING after this long is failed (its worker terminated); so "
        "is one still NOT_STARTED (created but never submitted). Acts: run monitoring.",
    )
    cancel_timeout_seconds: float = Field(
        180,
        gt=0,
        description="A run still CANCELING after this long is terminated and marked CANCELED. "
        "Acts: run monitoring.",
    )
    step_queued_timeout_seconds: float = Field(
        600,
        gt=0,
        description="A remote step attempt of a run whose run worker is gone, QUEUED this long "
        "(no worker took it), is marked LOST. Acts: the executor plugin's step sweeper.",
    )
    step_unclaimed_timeout_seconds: float = Field(
        10,
        gt=0,
        description="A remote step attempt whose message left its queue this long ago while "
        "no worker claimed it (the worker that took the message died or hangs, or the broker "
        "lost it) is marked LOST and published again as a new attempt. Independent of the "
        "broker's redelivery (Redis visibility timeout); keep it above the time a fresh "
        "worker process takes to load your code. Acts: the run's executor.",
    )

    @property
    def grace_seconds(self) -> float:
        return self.heartbeat_interval_seconds * self.missed_heartbeats


class RunMonitoringConfig(_Strict):
    enabled: bool = Field(True, description="Whether the daemon watches run workers.")
    max_resume_run_attempts: int = Field(
        0, ge=0, description="How often a run whose worker died is resumed before it fails."
    )
    poll_interval_seconds: float = Field(30, gt=0, description="How often the daemon checks.")


class RunRetriesConfig(_Strict):
    enabled: bool = Field(False, description="Whether the daemon re-submits failed runs.")
    max_retries: int = Field(
        0, ge=0, description="Default retries per run; a run's `opgraph/max_retries` tag wins."
    )


class PurgeConfig(_Strict):
    purge_after_days: int | None = Field(
        None, ge=1, description="Delete records older than this many days; null keeps them."
    )


class RetentionConfig(_Strict):
    runs: PurgeConfig = Field(
        default_factory=PurgeConfig, description="Finished runs and their events."
    )
    ticks: PurgeConfig = Field(
        default_factory=lambda: PurgeConfig(purge_after_days=30),
        description="Schedule and sensor ticks.",
    )
    heartbeats: PurgeConfig = Field(
        default_factory=lambda: PurgeConfig(purge_after_days=1),
        description="Heartbeats not renewed since: those of Celery workers that stopped or "
        "died (a fleet that scales up and down leaves one per worker it ever had).",
    )


class AutoMaterializeConfig(_Strict):
    enabled: bool = Field(
        True,
        description="Whether the daemon evaluates the assets' automation conditions and "
        "requests their runs (its AUTOMATION part; docs/automation.md).",
    )
    minimum_interval_seconds: float = Field(
        30, gt=0, description="How often the automation conditions are evaluated."
    )
    run_tags: dict[str, str] = Field(
        default_factory=dict, description="Tags added to every run automation requests."
    )
    purge_after_days: int | None = Field(
        30,
        ge=1,
        description="Delete automation evaluations older than this many days; null keeps them.",
    )


class DaemonConfig(_Strict):
    lease_seconds: float = Field(
        10,
        ge=1,
        description="The active daemon holds a lease this long and renews it every quarter of "
        "it; a standby takes over at most this long (plus one second) after it dies.",
    )
    max_catchup_runs: int = Field(
        5,
        ge=1,
        description="After downtime, a schedule runs at most this many of the ticks it missed "
        "(the latest ones); older ones are dropped.",
    )
    scheduler_interval_seconds: float = Field(
        5, gt=0, description="How often the scheduler looks for schedule ticks that are due."
    )
    sensor_interval_seconds: float = Field(
        1,
        gt=0,
        description="How often the daemon looks for sensors that are due (each sensor runs "
        "at most every `minimum_interval_seconds`).",
    )
    retention_interval_seconds: float = Field(
        3600, gt=0, description="How often old runs and ticks are purged."
    )


class RequestLimitsConfig(_Strict):
    """What one webserver request may ask for (docs/security.md lists each limit)."""

    max_query_cost: int = Field(
        100_000,
        ge=1,
        description="Budget of one GraphQL request: each object field costs 1, times the "
        "list size it asks for (`limit`, `maxBytes` in KiB, `runIds`), through aliases, "
        "fragments and nesting; variables count.",
    )
    max_response_bytes: int = Field(
        32 * 1024 * 1024, ge=1024, description="Largest GraphQL answer, in bytes."
    )
    statement_timeout_seconds: float = Field(
        15.0,
        ge=0,
        description="Longest a database query of the webserver may run before it is "
        "cancelled (0: no limit).",
    )
    max_tag_filters: int = Field(
        20, ge=1, le=1000, description="Most tags in one runs filter (`filter.tags`)."
    )
    max_json_depth: int = Field(
        100, ge=8, le=400, description="Deepest nesting of a JSON request body."
    )
    run_config: DataLimits = Field(
        default_factory=DataLimits,
        description="Bounds on a run config sent to the webserver or given to `-c`.",
    )


class WebserverConfig(_Strict):
    read_only: bool = Field(False, description="Refuse every mutation (launch, cancel, delete).")
    auth_token: str | None = Field(
        None, description="If set, requests must send `Authorization: Bearer <token>`."
    )
    host: str = Field("127.0.0.1", description="Interface the webserver binds to.")
    port: int = Field(3000, ge=1, le=65535, description="Port the webserver listens on.")
    limits: RequestLimitsConfig = Field(
        default_factory=RequestLimitsConfig,
        description="Limits on one request: cost, answer size, query time, run config.",
    )
    max_streams: int = Field(
        1000,
        ge=1,
        description="Live event streams (`/runs/<id>/events`) one webserver process serves "
        "at once; past it a viewer gets 503 with Retry-After.",
    )
    allowed_hosts: list[str] | None = Field(
        None,
        description="Host header values the webserver answers (e.g. `opgraph.example.com`, "
        "`*.example.com`, `*` for any); others get 400. Default: the loopback names "
        "(localhost, 127.0.0.1, [::1]) when bound to loopback, any host otherwise.",
    )


class ComputeLogsConfig(_Strict):
    base_dir: str | None = Field(
        None,
        description="Directory for captured stdout/stderr of steps; relative to OPGRAPH_HOME. "
        "Default: `OPGRAPH_HOME/compute_logs`.",
    )


class InstanceConfig(_Strict):
    """The whole of instance.yaml. `InstanceConfig()` is the zero-config default."""

    storage: StorageConfig = Field(
        default_factory=StorageConfig,
        description=f"Where runs and events live. Default: SQLite at "
        f"`OPGRAPH_HOME/{DEFAULT_SQLITE_DIR}/{SQLITE_FILE}`.",
    )
    run_coordinator: ComponentConfig = Field(
        default_factory=lambda: _component("run_coordinator", None),
        description="A run coordinator's short name (an `opgraph.run_coordinators` entry "
        "point), the short name with options, or {module, class, config}.",
    )
    run_launcher: ComponentConfig = Field(
        default_factory=lambda: _component("run_launcher", None),
        description="A run launcher's short name (an `opgraph.run_launchers` entry point), "
        "the short name with options, or {module, class, config}.",
    )
    liveness: LivenessConfig = Field(
        default_factory=LivenessConfig,
        description="Heartbeats and deadlines: when a run worker, step attempt, Celery worker "
        "or daemon part counts as gone, and who acts (docs/liveness.md).",
    )
    run_monitoring: RunMonitoringConfig = Field(
        default_factory=RunMonitoringConfig, description="Daemon checks on run workers."
    )
    run_retries: RunRetriesConfig = Field(
        default_factory=RunRetriesConfig, description="Automatic re-runs of failed runs."
    )
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig, description="When old records are deleted."
    )
    auto_materialize: AutoMaterializeConfig = Field(
        default_factory=AutoMaterializeConfig,
        description="Declarative automation: the daemon part that evaluates automation "
        "conditions (Dagster's default automation condition sensor).",
    )
    daemon: DaemonConfig = Field(
        default_factory=DaemonConfig,
        description="The daemon: lease, scheduler, sensors, retention.",
    )
    webserver: WebserverConfig = Field(
        default_factory=WebserverConfig, description="The web UI and GraphQL server."
    )
    compute_logs: ComputeLogsConfig = Field(
        default_factory=ComputeLogsConfig, description="Captured step output."
    )

    @field_validator("run_coordinator", "run_launcher", mode="before")
    @classmethod
    def _short_names(cls, value: Any, info: Any) -> Any:
        return _component(info.field_name, value)

    @model_validator(mode="before")
    @classmethod
    def _deprecated_keys(cls, data: Any) -> Any:
        return map_deprecated_keys(data) if isinstance(data, dict) else data

    def storage_url(self, home: Path) -> str:
        return self.storage.to_url(home)

    def section(self, name: str, model: type[M]) -> M:
        """A plugin's own top-level section (an `opgraph.instance_sections` entry point),
        or its defaults where this config was built in code without it."""
        value = getattr(self, name, None)
        return value if isinstance(value, model) else model()


@cache
def instance_config_model() -> type[InstanceConfig]:
    """InstanceConfig with every installed plugin's section added (`celery:`, ...): what
    instance.yaml is validated against and what docs/configuration.md describes."""
    sections = plugins.load_all(plugins.INSTANCE_SECTIONS)
    fields: dict[str, Any] = {}
    for name, model in sections.items():
        if name in InstanceConfig.model_fields or not is_model(model):
            raise InstanceConfigError(
                f"{plugins.INSTANCE_SECTIONS} plugin {name!r} must name a pydantic model of a "
                "section opgraph itself does not have"
            )
        summary = (model.__doc__ or "").strip().split("\n\n")[0]
        fields[name] = (model, Field(default_factory=model, description=" ".join(summary.split())))
    model = create_model(_COMPOSED, __base__=InstanceConfig, **fields)
    model.__module__ = __name__
    return model


_COMPOSED = "ComposedInstanceConfig"


def __getattr__(name: str) -> Any:
    # Pickle (multiprocess children get the instance) finds the composed class by name.
    if name == _COMPOSED:
        return instance_config_model()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def default_instance_config() -> InstanceConfig:
    """The zero-config instance: every default, plugin sections included."""
    return instance_config_model()()


# -- loading ---------------------------------------------------------------------------------
_SECRET_KEYS = ("password", "auth_token")


def load_instance_config(home: Path) -> InstanceConfig:
    """Read `home/instance.yaml`; defaults when it does not exist."""
    path = home / INSTANCE_FILE
    if not path.exists():
        return default_instance_config()
    document = read_mapping(path)
    if document is None:  # an empty file
        return default_instance_config()
    root, data = document
    model = instance_config_model()
    if not isinstance(data, dict):
        raise InstanceConfigError(
            f"{path}:{root.start_mark.line + 1}: expected a mapping of sections "
            f"({', '.join(model.model_fields)}), given {type(data).__name__}"
        )
    return validate(model, path, root, data, "instance config", _allowed_keys, _SECRET_KEYS)


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """Keys the model at `loc` accepts; a launcher/coordinator short name has its own."""
    model: Any = instance_config_model()
    for index, part in enumerate(loc):
        if isinstance(part, int):
            continue
        kind = loc[index - 1] if index > 0 else None
        if kind in _PLUGIN_GROUPS and part in component_plugins(kind):
            model = component_plugins(kind)[part].config_model
            continue
        model = field_model(model, part)
        if model is None:
            return []
    if model is ComponentConfig:
        return ["module", "class", "config"]
    return list(model.model_fields) if is_model(model) else []
