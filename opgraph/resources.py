"""Resources and IO managers (Dagster's @resource, ConfigurableResource, IOManager, ...)."""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import inspect
import logging
import os
import pickle
import tempfile
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, model_validator

from opgraph.config import ConfigSchema, Field, normalize_config_schema
from opgraph.env_var import env_var_fields, read_env_vars, with_placeholders
from opgraph.errors import OpgraphError
from opgraph.metadata import MetadataValue

log = logging.getLogger("opgraph")


@dataclass
class InitResourceContext:
    resource_config: Any = None
    resources: Any = None
    instance: Any = None
    run_id: str | None = None
    log: logging.Logger = field(default_factory=lambda: log)


class ResourceDefinition:
    def __init__(
        self,
        resource_fn: Callable[[InitResourceContext], Any],
        config_schema: Any = None,
        description: str | None = None,
        required_resource_keys: set[str] | None = None,
    ):
        self.resource_fn = resource_fn
        self.config_schema: ConfigSchema = normalize_config_schema(
            config_schema, getattr(resource_fn, "__name__", "resource")
        )
        self.description = description
        self.required_resource_keys = set(required_resource_keys or ())

    @staticmethod
    def hardcoded_resource(value: Any, description: str | None = None) -> ResourceDefinition:
        return ResourceDefinition(lambda _ctx: value, description=description)

    def __call__(self, *args: Any) -> Any:
        """Direct invocation (tests): build the resource from a context or nothing."""
        context = args[0] if args else InitResourceContext()
        return self.resource_fn(context)


def resource(
    resource_fn: Callable[..., Any] | None = None,
    *,
    config_schema: Any = None,
    description: str | None = None,
    required_resource_keys: set[str] | None = None,
) -> Any:
    """Dagster's `@resource`: a function of an init context that returns (or yields) it."""

    def decorator(fn: Callable[..., Any]) -> ResourceDefinition:
        return ResourceDefinition(_init_fn(fn), config_schema, description, required_resource_keys)

    return decorator(resource_fn) if resource_fn is not None else decorator


def _init_fn(fn: Callable[..., Any]) -> Callable[[InitResourceContext], Any]:
    if inspect.signature(fn).parameters:
        return fn
    return lambda _ctx: fn()


class ConfigurableResource(BaseModel):
    """A resource whose config is its pydantic fields (Dagster's Pythonic resources)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    # Fields given as EnvVar("NAME"): read from the environment when a run builds it.
    _env_vars: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _remember_env_vars(cls, data: Any, handler: Any) -> Any:
        fields = env_var_fields(data)
        instance = handler(with_placeholders(cls, data) if fields else data)
        if fields and isinstance(instance, ConfigurableResource):
            instance._env_vars = fields
        return instance

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """Override to open connections once per run (or per worker process)."""

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        """Override to close what setup_for_execution opened."""


# -- IO managers --------------------------------------------------------------------------
@dataclass
class OutputContext:
    step_key: str
    name: str
    run_id: str
    mapping_key: str | None = None
    op_def: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    config: Any = None
    resources: Any = None
    log: logging.Logger = field(default_factory=lambda: log)
    asset_key: Any = None  # an AssetKey when this output materializes an asset
    partition_key: str | None = None  # the partition of a partitioned asset it is
    # Every partition of the asset the run materializes (several in a range run, as a
    # BackfillPolicy makes), and the asset's partitions definition; None: not partitioned.
    asset_partition_keys: list[str] | None = None
    asset_partitions_def: Any = None
    # What the IO manager added with add_output_metadata (not an init field, so a copy made
    # with dataclasses.replace starts with none).
    _logged_metadata: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def add_output_metadata(self, metadata: Mapping[str, Any]) -> None:
        """Dagster's: metadata the IO manager adds to the output it stores (e.g. the
        filesystem IO manager's `path`); shown on HANDLED_OUTPUT and on the asset's
        materialization, over the op's own metadata of the same name."""
        twice = sorted(set(self._logged_metadata) & set(metadata))
        if twice:
            raise OpgraphError(
                f"output {self.name!r}: metadata {twice} was already added by the IO manager; "
                "add each name once"
            )
        self._logged_metadata.update(metadata)

    def get_logged_metadata(self) -> dict[str, Any]:
        return dict(self._logged_metadata)

    @property
    def has_asset_key(self) -> bool:
        return self.asset_key is not None

    @property
    def has_asset_partitions(self) -> bool:
        return self.asset_partition_keys is not None

    @property
    def asset_partition_key_range(self) -> Any:
        from opgraph.partitions.definitions import PartitionKeyRange

        keys = self.asset_partition_keys
        if not keys:
            raise OpgraphError(f"output {self.name!r} is not for asset partitions")
        return PartitionKeyRange(keys[0], keys[-1])

    @property
    def asset_partitions_time_window(self) -> Any:
        from opgraph.partitions.definitions import TimeWindow

        key_range = self.asset_partition_key_range
        time_window_for = getattr(self.asset_partitions_def, "time_window_for_partition_key", None)
        if time_window_for is None:
            raise OpgraphError(
                f"output {self.name!r}: asset_partitions_time_window needs time-window "
                f"partitions; the asset's are {self.asset_partitions_def}"
            )
        return TimeWindow(
            time_window_for(key_range.start).start, time_window_for(key_range.end).end
        )

    def get_identifier(self) -> list[str]:
        # An asset is stored by its key (and partition), so a later run finds it.
        if self.asset_key is not None:
            return self.get_asset_identifier()
        parts = [self.run_id, self.step_key, self.name]
        return [*parts, self.mapping_key] if self.mapping_key else parts

    def get_asset_identifier(self) -> list[str]:
        path = list(self.asset_key.path)
        return [*path, self.partition_key] if self.partition_key is not None else path

    @property
    def has_partition_key(self) -> bool:
        return self.partition_key is not None

    @property
    def asset_partition_key(self) -> str:
        if self.partition_key is None:
            raise OpgraphError(f"output {self.name!r} is not for one asset partition")
        return self.partition_key


@dataclass
class InputContext:
    name: str
    step_key: str
    upstream_output: OutputContext | None
    op_def: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    config: Any = None
    resources: Any = None
    log: logging.Logger = field(default_factory=lambda: log)
    asset_key: Any = None  # the AssetKey this input loads, if it is an asset
    # The upstream asset's partitions this input reads (None: it is not partitioned).
    asset_partition_keys: list[str] | None = None

    @property
    def has_asset_key(self) -> bool:
        return self.asset_key is not None

    @property
    def has_asset_partitions(self) -> bool:
        return self.asset_partition_keys is not None

    @property
    def has_partition_key(self) -> bool:
        return self.asset_partition_keys is not None and len(self.asset_partition_keys) == 1

    @property
    def partition_key(self) -> str:
        if not self.has_partition_key:
            raise OpgraphError(
                f"input {self.name!r} reads {len(self.asset_partition_keys or [])} asset "
                "partitions, not one: use asset_partition_keys"
            )
        assert self.asset_partition_keys is not None
        return self.asset_partition_keys[0]

    @property
    def asset_partition_key(self) -> str:
        return self.partition_key

    def partition_identifiers(self) -> list[tuple[str, list[str]]] | None:
        """(partition key, storage identifier) of each upstream partition this input reads,
        when it reads several (IO managers then load a dict of them, as Dagster's)."""
        upstream = self.upstream_output
        keys = self.asset_partition_keys
        if upstream is None or upstream.asset_key is None or keys is None or len(keys) == 1:
            return None
        path = list(upstream.asset_key.path)
        return [(key, [*path, key]) for key in keys]


class IOManager(ABC):
    @abstractmethod
    def handle_output(self, context: OutputContext, obj: Any) -> None: ...

    @abstractmethod
    def load_input(self, context: InputContext) -> Any: ...

    def prefetch_outputs(self, contexts: Sequence[OutputContext]) -> None:
        """Called (opgraph only) before a fan-in input loads many upstream outputs one by
        one: a manager that can read them in one go does it here. Default: nothing."""
        return None


class IOManagerDefinition(ResourceDefinition):
    pass


def io_manager(
    config_fn: Callable[..., Any] | None = None,
    *,
    config_schema: Any = None,
    description: str | None = None,
    required_resource_keys: set[str] | None = None,
) -> Any:
    """Dagster's `@io_manager`: a function of an init context returning an IOManager."""

    def decorator(fn: Callable[..., Any]) -> IOManagerDefinition:
        return IOManagerDefinition(_init_fn(fn), config_schema, description, required_resource_keys)

    return decorator(config_fn) if config_fn is not None else decorator


class ConfigurableIOManager(ConfigurableResource, IOManager):
    """An IO manager whose config is its pydantic fields."""


class PickledObjectFilesystemIOManager(IOManager):
    """Pickles each output to `base_dir/run_id/step_key/output[/mapping_key]`, atomically."""

    def __init__(self, base_dir: str | os.PathLike[str]):
        self.base_dir = Path(base_dir)
        # Folders this manager made: a step's own folder is new each run, an asset's is the
        # one of its key. Forgotten at MAX_REMEMBERED_FOLDERS (a worker lives for days).
        self._made_folders: set[Path] = set()

    def _path(self, context: OutputContext) -> Path:
        return self.base_dir.joinpath(*context.get_identifier())

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        keys = context.asset_partition_keys
        if context.partition_key is None and keys is not None and len(keys) > 1:
            # A range run (BackfillPolicy): as Dagster's UPathIOManager, the value is a
            # {partition key: value} dict, each partition stored as a run of it would be.
            missing = [k for k in keys if not isinstance(obj, dict) or k not in obj]
            if missing:
                asset = context.asset_key.to_user_string() if context.asset_key else context.name
                raise OpgraphError(
                    f"asset {asset!r}: a run of the partition range {keys[0]}...{keys[-1]} "
                    "must return a dict {partition key: value} to be stored by the "
                    f"filesystem IO manager; got {type(obj).__name__}"
                    + (f" missing partitions {missing[:5]}" if isinstance(obj, dict) else "")
                )
            for key in keys:
                partition = dataclasses.replace(
                    context, partition_key=key, asset_partition_keys=[key]
                )
                self._write(self._path(partition), obj[key])
            return
        path = self._path(context)
        self._write(path, obj)
        # As Dagster's: where the value is, on the materialization; not for None (an op
        # that returns nothing usually stores its data elsewhere itself).
        if obj is not None:
            context.add_output_metadata({"path": MetadataValue.path(str(path))})

    def _write(self, path: Path, obj: Any) -> None:
        # Write then rename, so a reader never sees a half-written file.
        fd, tmp = self._temporary_file_beside(path)
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
            # An asset is stored by key, so its file is replaced on every materialization;
            # ext4 (auto_da_alloc) flushes a file renamed over another one to disk first:
            # 1.9 ms a step against 0.3 ms for a new name (1,000-asset fan-out, this VM).
            # The old file goes first; a reader in that short gap retries (load_input).
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    MAX_REMEMBERED_FOLDERS = 10_000

    def _temporary_file_beside(self, path: Path) -> tuple[int, str]:
        """A new temporary file in `path`'s folder, made first unless this manager made it
        before: an asset's folder is the same on every materialization (its mkdir and stat
        were 1.5 % of a 1,000-asset fan-out's run). A folder removed since is made again."""
        folder = path.parent
        if folder not in self._made_folders:
            folder.mkdir(parents=True, exist_ok=True)
            if len(self._made_folders) >= self.MAX_REMEMBERED_FOLDERS:
                self._made_folders.clear()
            self._made_folders.add(folder)
        try:
            return tempfile.mkstemp(dir=folder, prefix=f".{path.name}.")
        except FileNotFoundError:
            folder.mkdir(parents=True, exist_ok=True)
            return tempfile.mkstemp(dir=folder, prefix=f".{path.name}.")

    # A reader that finds no file while a writer replaces it (unlink, then rename) retries
    # for up to this long before the missing file is an error.
    REPLACE_GAP_SECONDS = 0.5

    def load_input(self, context: InputContext) -> Any:
        assert context.upstream_output is not None
        several = context.partition_identifiers()
        if several is not None:  # {partition key: value}, as Dagster's UPathIOManager
            return {key: self._read(self.base_dir.joinpath(*ident)) for key, ident in several}
        return self._read(self._path(context.upstream_output))

    def _read(self, path: Path) -> Any:
        deadline = time.monotonic() + self.REPLACE_GAP_SECONDS
        quiet = 0  # checks in a row that saw neither the file nor a writer's temporary one
        while True:
            try:
                with open(path, "rb") as f:
                    return pickle.load(f)
            except FileNotFoundError:
                # Renamed into place since, or about to be: read again. A writer can finish
                # one replacement and start the next between two checks, so only a few
                # quiet checks in a row (a few ms) mean the file is missing.
                quiet = 0 if path.exists() or _replacing(path) else quiet + 1
                if time.monotonic() > deadline or quiet > 3:
                    raise
                time.sleep(0.001)


def _replacing(path: Path) -> bool:
    """Whether a writer's temporary file for `path` exists (it is being replaced)."""
    return any(path.parent.glob(f".{glob.escape(path.name)}.*"))


class InMemoryIOManager(IOManager):
    def __init__(self) -> None:
        self.values: dict[tuple[str, ...], Any] = {}

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        self.values[tuple(context.get_identifier())] = obj

    def load_input(self, context: InputContext) -> Any:
        assert context.upstream_output is not None
        several = context.partition_identifiers()
        if several is not None:
            return {key: self.values[tuple(ident)] for key, ident in several}
        return self.values[tuple(context.upstream_output.get_identifier())]


@io_manager(config_schema={"base_dir": Field(str, is_required=False)})
def fs_io_manager(init_context: InitResourceContext) -> IOManager:
    config = init_context.resource_config or {}
    base_dir = config.get("base_dir") if isinstance(config, dict) else None
    if base_dir is None and init_context.instance is not None:
        base_dir = init_context.instance.io_storage_dir
    return PickledObjectFilesystemIOManager(base_dir or Path(tempfile.gettempdir()) / "opgraph")


class DatabaseIOManager(IOManager):
    """Pickles outputs into the instance's database: for fleets that share only storage.

    A step's output is final once a downstream step may read it, so a worker keeps the
    last few small ones it read: a fan-out's many steps on one worker read their shared
    input from the database once (one round trip less per step)."""

    CACHED_OUTPUTS = 64
    CACHED_OUTPUT_MAX_BYTES = 256 * 1024

    def __init__(self, storage: Any):
        self.storage = storage
        self._recent: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._prefetched: dict[tuple[Any, ...], bytes] = {}

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        value = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        self.storage.put_output(*_output_key(context), value)

    def load_input(self, context: InputContext) -> Any:
        upstream = context.upstream_output
        assert upstream is not None
        key = _output_key(upstream)
        value = self._prefetched.pop(key, None) or self._recent.get(key)
        if value is None:
            value = self.storage.get_output(*key)
            if value is None:
                raise KeyError(
                    f"no stored output {upstream.name!r} of step {upstream.step_key!r} "
                    f"in run {upstream.run_id}"
                )
            self._remember(key, value)
        return pickle.loads(value)  # a fresh object per step: one cannot change another's

    def prefetch_outputs(self, contexts: Sequence[OutputContext]) -> None:
        """A fan-in's upstream outputs in one query instead of one each."""
        keys = [key for key in map(_output_key, contexts) if key not in self._recent]
        self._prefetched = self.storage.get_outputs(keys)

    def _remember(self, key: tuple[Any, ...], value: bytes) -> None:
        # An asset's stored value changes with each materialization: never cached.
        if len(value) > self.CACHED_OUTPUT_MAX_BYTES or key[0] == "__asset__":
            return
        self._recent[key] = value
        self._recent.move_to_end(key)
        while len(self._recent) > self.CACHED_OUTPUTS:
            self._recent.popitem(last=False)


def _output_key(context: OutputContext) -> tuple[str, str, str, str | None]:
    if context.asset_key is not None:  # by key, not by run: the latest value of the asset
        return ("__asset__", context.asset_key.to_user_string(), "value", None)
    return (context.run_id, context.step_key, context.name, context.mapping_key)


@io_manager
def db_io_manager(init_context: InitResourceContext) -> IOManager:
    if init_context.instance is None:
        raise ValueError("db_io_manager stores outputs in the instance's database; none is set")
    return DatabaseIOManager(init_context.instance.storage)


@io_manager
def mem_io_manager(_init_context: InitResourceContext) -> IOManager:
    return InMemoryIOManager()


# -- building resources for a run ---------------------------------------------------------
class Resources:
    """`context.resources`: attribute access to the initialized resources."""

    def __init__(self, values: dict[str, Any]):
        self._values = values

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(
                f"no resource {key!r}; this op can use {sorted(self._values)}"
            ) from None

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __contains__(self, key: str) -> bool:
        return key in self._values

    def original_resource_dict(self) -> dict[str, Any]:
        return dict(self._values)


def as_resource_definition(value: Any) -> ResourceDefinition | ConfigurableResource:
    if isinstance(value, (ResourceDefinition, ConfigurableResource)):
        return value
    return ResourceDefinition.hardcoded_resource(value)


def resource_config_schema(value: Any) -> ConfigSchema:
    if isinstance(value, ConfigurableResource):
        return ConfigSchema(None)  # validated in build_resources by the class itself
    return as_resource_definition(value).config_schema  # type: ignore[union-attr]


@contextmanager
def build_resources(
    resource_defs: dict[str, Any],
    resource_configs: dict[str, Any],
    instance: Any = None,
    run_id: str | None = None,
) -> Iterator[Resources]:
    """Initialize every resource once; tear down (generator resources too) on exit."""
    values: dict[str, Any] = {}
    with ExitStack() as stack:
        for key, definition in resource_defs.items():
            raw = resource_configs.get(key)
            context = InitResourceContext(raw, Resources(values), instance, run_id)
            if isinstance(definition, ConfigurableResource):
                overrides = raw if isinstance(raw, dict) else {}
                from_env = read_env_vars(f"resources.{key}", definition._env_vars, type(definition))
                given = definition.model_dump(exclude_unset=True)
                obj = type(definition)(**{**given, **from_env, **overrides})
                obj.setup_for_execution(context)
                stack.callback(obj.teardown_after_execution, context)
                values[key] = obj
                continue
            result = as_resource_definition(definition).resource_fn(context)  # type: ignore[union-attr]
            if inspect.isgenerator(result):
                values[key] = stack.enter_context(_generator_resource(result))
            else:
                values[key] = result
        yield Resources(values)


@contextmanager
def _generator_resource(gen: Iterator[Any]) -> Iterator[Any]:
    value = next(gen)
    try:
        yield value
    finally:
        for _ in gen:  # run the code after `yield` (teardown)
            pass
