"""Run one step: load inputs, call the op, store outputs, and describe it all as events.

Shared by every executor (in-process, multiprocess worker, Celery task): each passes an
`emit` callback that decides where the events go.
"""

from __future__ import annotations

import inspect
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from opgraph.assets.step_events import (
    asset_key_for_input,
    asset_key_for_output,
    events_for_output,
    is_logged_asset_event,
    logged_event,
)
from opgraph.compute_logs import capture_file_descriptors, capture_python_streams
from opgraph.context import OpExecutionContext, OpLogger, RunInfo
from opgraph.dagster_errors import DagsterTypeCheckDidNotPass
from opgraph.dagster_helpers import ExpectationResult
from opgraph.dagster_types import TypeCheckContext, check_value, input_types, output_type
from opgraph.definitions.io import DynamicOutput, Output
from opgraph.errors import Failure, RetryRequested
from opgraph.events import EventType, make_event
from opgraph.hooks import HookContext, HookDefinition, HookKind, hooks_of, run_hooks
from opgraph.logs import log_context
from opgraph.metadata import metadata_to_json
from opgraph.plan import ExecutionPlan
from opgraph.resources import InputContext, OutputContext, Resources
from opgraph.steps import ExecutionStep, UpstreamOutput
from opgraph_storage.records import EventRecord

Emit = Callable[[EventRecord], None]

# The upstream "op" of an asset input loaded from storage rather than from a step.
_ASSET_SOURCE: Any = object()


@dataclass
class StepEnvironment:
    """What running steps of one run needs in one process (built once, reused per step)."""

    run: RunInfo
    plan: ExecutionPlan
    resources: Resources
    compute_logs_dir: Path | None
    capture: str = "python"  # "python" (in-process), "fd" (worker process) or "none"
    instance: Any = None
    # Called with a user exception that failed its step for good (execute_in_process re-raises it).
    on_user_failure: Callable[[BaseException], None] | None = None
    # execute_in_process keeps every output value here, as Dagster's result does.
    output_capture: dict[tuple[str, str, str | None], Any] | None = None


class _StepFailed(Exception):
    def __init__(self, message: str):
        super().__init__(message)


def error_data(exc: BaseException, user_code: bool) -> dict[str, Any]:
    return {
        "error": {
            "class": type(exc).__name__,
            "message": str(exc),
            "traceback": "".join(traceback.format_exception(exc)),
            "user_code": user_code,
        }
    }


def retry_delay(op_def: Any, attempt: int, exc: BaseException) -> float | None:
    """Seconds before the next attempt, or None when the step must fail now."""
    if isinstance(exc, (Failure, DagsterTypeCheckDidNotPass)):
        return None
    if isinstance(exc, RetryRequested):
        return float(exc.seconds_to_wait) if attempt < exc.max_retries else None
    policy = op_def.retry_policy
    if policy is not None and attempt < policy.max_retries:
        return policy.calculate_delay(attempt + 1)
    return None


class StepRun:
    def __init__(self, env: StepEnvironment, step: ExecutionStep, emit: Emit):
        self.env = env
        self.step = step
        self.emit_record = emit
        self.op = env.plan.ops[step.handle]
        self.op_def = self.op.op_def
        self.added_metadata: dict[str, dict[str, Any]] = {}  # context.add_output_metadata

    def emit(
        self, event_type: EventType, message: str = "", level: str = "INFO", **data: Any
    ) -> None:
        self.emit_record(
            make_event(
                self.env.run.run_id,
                event_type,
                step_key=self.step.key,
                attempt=self.step.attempt,
                message=message,
                level=level,
                data=data,
            )
        )

    # -- inputs -------------------------------------------------------------------------
    def _upstream_context(self, source: UpstreamOutput) -> OutputContext:
        upstream_op = self.env.plan.ops[source.step_key.split("[", 1)[0]].op_def
        return OutputContext(
            step_key=source.step_key,
            name=source.output_name,
            run_id=source.run_id or self.env.run.run_id,
            mapping_key=source.mapping_key,
            op_def=upstream_op,
            metadata=dict(upstream_op.outs[source.output_name].metadata),
            resources=self.env.resources,
            asset_key=asset_key_for_output(
                self.env.plan.job, source.step_key.split("[", 1)[0], source.output_name
            ),
        )

    def _asset_upstream(self, input_name: str, asset_key: Any) -> OutputContext:
        """An asset input no step of this run feeds: the asset's latest stored value."""
        return OutputContext(
            step_key="",
            name="result",
            run_id=self.env.run.run_id,
            op_def=_ASSET_SOURCE,
            resources=self.env.resources,
            asset_key=asset_key,
        )

    # -- partitioned assets (opgraph.partitions.assets) ---------------------------------
    def _assets_def(self, key: Any) -> Any:
        graph = getattr(self.env.plan.job, "asset_graph", None)
        return graph.assets_def_by_key.get(key) if graph is not None and key is not None else None

    def _input_partitions(self, upstream: OutputContext) -> list[str] | None:
        """The upstream asset's partitions this input reads (None: not partitioned)."""
        upstream_def = self._assets_def(upstream.asset_key)
        if getattr(upstream_def, "partitions_def", None) is None:
            return None
        from opgraph.partitions.assets import input_partition_keys

        downstream_def = getattr(self.op_def, "assets_def", None)
        if downstream_def is None:  # an op inside a graph asset reads as the graph asset
            layer = getattr(self.env.plan.job, "asset_layer", None)
            downstream_def = layer.assets_def_for_handle(self.step.handle) if layer else None
        return input_partition_keys(
            downstream_def,
            upstream_def,
            upstream.asset_key,
            self.env.run.tags,
            self.env.instance,
        )

    def _output_partition(self, asset_key: Any) -> str | None:
        """The partition an asset output is stored for: the run's one partition."""
        partitions_def = getattr(self._assets_def(asset_key), "partitions_def", None)
        if partitions_def is None:
            return None
        from opgraph.partitions.assets import run_partition_keys

        keys = run_partition_keys(self.env.run.tags, partitions_def)
        return keys[0] if keys is not None and len(keys) == 1 else None

    def _output_partitions(self, asset_key: Any) -> dict[str, Any]:
        """Every partition of the asset this run materializes (a range run has several)."""
        partitions_def = getattr(self._assets_def(asset_key), "partitions_def", None)
        if partitions_def is None:
            return {}
        from opgraph.partitions.assets import run_partition_keys

        keys = run_partition_keys(self.env.run.tags, partitions_def)
        return {"asset_partition_keys": keys, "asset_partitions_def": partitions_def}

    def _manager_key(self, input_name: str, upstream: OutputContext) -> str:
        spec = self.op_def.ins[input_name]
        if upstream.op_def is _ASSET_SOURCE:
            return spec.input_manager_key or "io_manager"
        return spec.input_manager_key or upstream.op_def.outs[upstream.name].io_manager_key

    def _prefetch(self, input_name: str, upstreams: list[OutputContext]) -> None:
        """Let each IO manager of a fan-in read its many upstream outputs in one go."""
        by_manager: dict[str, list[OutputContext]] = {}
        for upstream in upstreams:
            by_manager.setdefault(self._manager_key(input_name, upstream), []).append(upstream)
        for manager_key, contexts in by_manager.items():
            prefetch = getattr(self.env.resources[manager_key], "prefetch_outputs", None)
            if prefetch is not None:  # input managers need not derive from IOManager
                prefetch(contexts)

    def _load(self, input_name: str, upstream: OutputContext) -> Any:
        manager_key = self._manager_key(input_name, upstream)
        spec = self.op_def.ins[input_name]
        partitions = self._input_partitions(upstream)
        if partitions is not None and len(partitions) == 1:
            upstream = replace(upstream, partition_key=partitions[0])
        context = InputContext(
            name=input_name,
            step_key=self.step.key,
            upstream_output=upstream,
            op_def=self.op_def,
            metadata=dict(spec.metadata),
            resources=self.env.resources,
            asset_key=upstream.asset_key,
            asset_partition_keys=partitions,
        )
        value = self.env.resources[manager_key].load_input(context)
        self.emit(
            EventType.LOADED_INPUT,
            f'Loaded input "{input_name}" using input manager "{manager_key}"',
            input_name=input_name,
            manager_key=manager_key,
            upstream_step_key=upstream.step_key,
            upstream_output_name=upstream.name,
        )
        return value

    def load_inputs(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        connected = {step_input.name: step_input for step_input in self.step.inputs}
        for name, spec in self.op_def.ins.items():
            if spec.is_nothing:
                continue
            step_input = connected.get(name)
            if step_input is not None:
                upstreams = [self._upstream_context(s) for s in step_input.sources]
                if step_input.fan_in and len(upstreams) > 1:
                    self._prefetch(name, upstreams)
                loaded = [self._load(name, upstream) for upstream in upstreams]
                values[name] = loaded if step_input.fan_in else loaded[0]
            elif self.env.plan.run_config.input_value(self.op.handle, name) is not None:
                values[name] = self.env.plan.run_config.input_value(self.op.handle, name)
            elif (key := asset_key_for_input(self.env.plan.job, self.op.handle, name)) is not None:
                values[name] = self._load(name, self._asset_upstream(name, key))
            else:
                values[name] = spec.default_value
            self.emit(EventType.STEP_INPUT, f'Got input "{name}"', input_name=name)
        return values

    # -- the op itself -------------------------------------------------------------------
    def _context(self) -> OpExecutionContext:
        def log_event(level: str, message: str) -> None:
            self.emit(EventType.LOG, message, level=level)

        def record(item: Any) -> None:  # context.log_event(AssetMaterialization(...))
            self._emit_asset_event(item)

        context = OpExecutionContext(
            run=self.env.run,
            op_def=self.op_def,
            step_key=self.step.key,
            op_config=self.env.plan.run_config.op_configs.get(self.op.handle),
            resources=self.env.resources,
            retry_number=self.step.attempt,
            mapping_key=self.step.mapping_key,
            log=OpLogger(log_event),
            instance=self.env.instance,
        )
        context.record_event = record
        context.job_def = self.env.plan.job
        context.partitions_def = getattr(self.env.plan.job, "partitions_def", None)
        self.added_metadata = context.added_output_metadata
        return context

    def _emit_asset_event(self, item: Any) -> None:
        if not is_logged_asset_event(item):
            raise _StepFailed(
                f"op {self.op_def.name!r} logged {item!r}; expected AssetMaterialization "
                "or AssetObservation"
            )
        event_type, message, data = logged_event(item)
        self.emit(event_type, message, **data)

    def call_op(self, inputs: dict[str, Any]) -> Iterator[Output]:
        kwargs = dict(inputs)
        if self.op_def.config_param:
            kwargs[self.op_def.config_param] = self.env.plan.run_config.op_configs.get(
                self.op.handle
            )
        for param, key in self.op_def.resource_params.items():
            kwargs[param] = self.env.resources[key]
        args = (self._context(),) if self.op_def.takes_context else ()
        result = self.op_def.compute_fn(*args, **kwargs)
        if inspect.isgenerator(result):
            for item in result:
                if is_logged_asset_event(item):
                    self._emit_asset_event(item)
                    continue
                if isinstance(item, ExpectationResult):
                    self._emit_expectation(item)
                    continue
                if not isinstance(item, Output):
                    raise _StepFailed(
                        f"op {self.op_def.name!r} yielded {item!r}; expected Output or DynamicOutput"
                    )
                yield item
            return
        yield from self._returned_outputs(result)

    def _returned_outputs(self, result: Any) -> Iterator[Output]:
        outs = self.op_def.outs
        if isinstance(result, Output):
            yield result
        elif len(outs) == 1:
            ((name, out),) = outs.items()
            if out.is_dynamic:
                raise _StepFailed(f"op {self.op_def.name!r} must yield DynamicOutputs for {name!r}")
            if not (result is None and out.is_nothing):
                yield Output(result, name)
        elif len(outs) > 1 and isinstance(result, tuple) and len(result) == len(outs):
            for name, value in zip(outs, result, strict=True):
                yield value if isinstance(value, Output) else Output(value, name)
        elif outs and result is not None:
            raise _StepFailed(
                f"op {self.op_def.name!r} has outputs {list(outs)} and returned {result!r}; "
                "return a tuple in that order or yield Output(value, output_name=...)"
            )

    def handle_output(self, output: Output, seen: set[tuple[str, str | None]]) -> None:
        out = self.op_def.outs.get(output.output_name)
        if out is None:
            raise _StepFailed(
                f"op {self.op_def.name!r} has no output {output.output_name!r}; "
                f"its outputs are {list(self.op_def.outs)}"
            )
        mapping_key = output.mapping_key if isinstance(output, DynamicOutput) else None
        if out.is_dynamic != isinstance(output, DynamicOutput):
            kind = "DynamicOutput" if out.is_dynamic else "Output"
            raise _StepFailed(f"output {output.output_name!r} of {self.op_def.name!r} takes {kind}")
        if (output.output_name, mapping_key) in seen:
            raise _StepFailed(
                f"op {self.op_def.name!r} produced output {output.output_name!r}"
                + (f" with mapping key {mapping_key!r}" if mapping_key else "")
                + " twice"
            )
        seen.add((output.output_name, mapping_key))
        metadata = {**output.metadata, **self.added_metadata.get(output.output_name, {})}
        checked = output_type(self.op_def, output.output_name)
        if checked is not None:
            check_value(
                checked, output.value, self._type_context(), f'output "{output.output_name}"'
            )
        self.emit(
            EventType.STEP_OUTPUT,
            f'Yielded output "{output.output_name}"'
            + (f' with mapping key "{mapping_key}"' if mapping_key else ""),
            output_name=output.output_name,
            mapping_key=mapping_key,
            metadata=metadata_to_json(metadata),
        )
        if out.is_nothing or getattr(output, "skip_io_manager", False):
            self._asset_events(output, metadata)
            return
        if self.env.output_capture is not None:
            self.env.output_capture[(self.step.key, output.output_name, mapping_key)] = output.value
        asset_key = asset_key_for_output(self.env.plan.job, self.op.handle, output.output_name)
        context = OutputContext(
            step_key=self.step.key,
            name=output.output_name,
            run_id=self.env.run.run_id,
            mapping_key=mapping_key,
            op_def=self.op_def,
            metadata=dict(out.metadata),
            resources=self.env.resources,
            asset_key=asset_key,
            partition_key=self._output_partition(asset_key),
            **self._output_partitions(asset_key),
        )
        self.env.resources[out.io_manager_key].handle_output(context, output.value)
        # What the IO manager added (add_output_metadata, e.g. the filesystem one's `path`)
        # goes on HANDLED_OUTPUT and on the materialization, as in Dagster.
        added = context.get_logged_metadata()
        handled: dict[str, Any] = {"metadata": metadata_to_json(added)} if added else {}
        self.emit(
            EventType.HANDLED_OUTPUT,
            f'Handled output "{output.output_name}" using IO manager "{out.io_manager_key}"',
            output_name=output.output_name,
            mapping_key=mapping_key,
            manager_key=out.io_manager_key,
            **handled,
        )
        self._asset_events(output, {**metadata, **added})

    def _asset_events(self, output: Output, metadata: dict[str, Any]) -> None:
        """ASSET_MATERIALIZATION / ASSET_CHECK_EVALUATION for an asset job's output."""
        json_metadata = metadata_to_json(metadata)
        storage = self.env.instance.storage if self.env.instance is not None else None
        for event_type, message, data in events_for_output(
            self.env.plan.job,
            self.op.handle,
            output,
            json_metadata,
            self.env.run.tags,
            self.env.run.run_id,
            storage,
        ):
            self.emit(event_type, message, **data)

    # -- the whole step --------------------------------------------------------------------
    def _capture(self) -> AbstractContextManager[list[Path]]:
        base = self.env.compute_logs_dir
        if base is None or self.env.capture == "none":
            return nullcontext([])
        capture = capture_file_descriptors if self.env.capture == "fd" else capture_python_streams
        return capture(base, self.env.run.run_id, self.step.key)

    def _planned_partitions(self) -> dict[str, Any]:
        """A partitioned asset step's STEP_START / STEP_FAILURE data: the asset partitions
        it materializes, IN_PROGRESS then FAILED in the partition status table."""
        from opgraph.partitions.assets import step_asset_partitions

        pairs = step_asset_partitions(
            self.env.plan.job, self.op.handle, self.op_def.outs, self.env.run.tags
        )
        return {"asset_partitions": pairs} if pairs else {}

    def run(self) -> None:
        planned = self._planned_partitions()
        if self.step.attempt == 0:
            self.emit(
                EventType.STEP_START, f'Started execution of step "{self.step.key}"', **planned
            )
        else:
            self.emit(
                EventType.STEP_RESTARTED,
                f'Started re-execution (attempt # {self.step.attempt + 1}) of step "{self.step.key}"',
                **planned,
            )
        started = time.perf_counter()
        captured: list[Path] = []
        try:
            with self._capture() as captured:
                self._execute()
        except _StepFailed as exc:
            self.emit(
                EventType.STEP_FAILURE,
                str(exc),
                level="ERROR",
                **error_data(exc, False),
                **self._planned_partitions(),
            )
            self._hooks("failure", exc)
        except Exception as exc:
            if self._user_error(exc):
                self._hooks("failure", exc)
        else:
            duration_ms = (time.perf_counter() - started) * 1000
            self.emit(
                EventType.STEP_SUCCESS,
                f'Finished execution of step "{self.step.key}" in {duration_ms:.1f}ms',
                duration_ms=duration_ms,
            )
            self._hooks("success", None)
        finally:
            if captured:
                self.emit(
                    EventType.LOGS_CAPTURED,
                    f"Captured stdout/stderr of {self.step.key}",
                    paths=[str(p) for p in captured],
                )

    def _execute(self) -> None:
        inputs = self.load_inputs()
        for name, checked in input_types(self.op_def).items():
            if name in inputs:
                check_value(checked, inputs[name], self._type_context(), f'input "{name}"')
        seen: set[tuple[str, str | None]] = set()
        for output in self.call_op(inputs):
            self.handle_output(output, seen)
        produced = {name for name, _ in seen}
        missing = [
            name
            for name, out in self.op_def.outs.items()
            if out.is_required and not out.is_dynamic and name not in produced
        ]
        if missing:
            raise _StepFailed(f"op {self.op_def.name!r} did not produce required outputs {missing}")

    # -- Dagster types and hooks (opgraph.dagster_types, opgraph.hooks) ------------------------
    def _type_context(self) -> TypeCheckContext:
        return TypeCheckContext(self.env.run.run_id, self._context().log, self.env.resources)

    def _emit_expectation(self, result: ExpectationResult) -> None:
        """A data quality check the op made; it does not change the step's outcome."""
        label = result.label or "expectation"
        self.emit(
            EventType.ENGINE_EVENT,
            f'Expectation "{label}" {"passed" if result.success else "failed"}'
            + (f": {result.description}" if result.description else ""),
            level="INFO" if result.success else "WARNING",
            expectation={
                "label": result.label,
                "success": result.success,
                "description": result.description,
                "metadata": metadata_to_json(result.metadata),
            },
        )

    def _hooks(self, kind: HookKind, exc: BaseException | None) -> None:
        def make_context(hook: HookDefinition) -> HookContext:
            context = self._context()
            return HookContext(
                run_id=self.env.run.run_id,
                job_name=self.env.plan.job.name,
                step_key=self.step.key,
                op=self.op_def,
                op_config=context.op_config,
                resources=self.env.resources,
                log=context.log,
                instance=self.env.instance,
                hook_def=hook,
                op_exception=exc,
            )

        def report(hook: HookDefinition, error: BaseException | None) -> None:
            if error is None:
                self.emit(EventType.ENGINE_EVENT, f'Hook "{hook.name}" completed', hook=hook.name)
                return
            self.emit(
                EventType.ENGINE_EVENT,
                f'Hook "{hook.name}" failed: {type(error).__name__}: {error}',
                level="ERROR",
                hook=hook.name,
                **error_data(error, True),
            )

        run_hooks(hooks_of(self.env.plan.job, kind), make_context, report)

    def _user_error(self, exc: Exception) -> bool:
        """Record a user-code failure; True when the step failed for good (no retry)."""
        delay = retry_delay(self.op_def, self.step.attempt, exc)
        if delay is not None:
            self.emit(
                EventType.STEP_UP_FOR_RETRY,
                f'Execution of step "{self.step.key}" failed and has requested a retry'
                + (f" in {delay:.2f} seconds" if delay else ""),
                level="WARNING",
                delay=delay,
                **error_data(exc, True),
            )
            return False
        if self.env.on_user_failure is not None:
            self.env.on_user_failure(exc)
        data = error_data(exc, True)
        description = None
        if isinstance(exc, (Failure, DagsterTypeCheckDidNotPass)):  # described by the op
            data["metadata"] = metadata_to_json(exc.metadata)
            description = exc.description
        message = (
            description
            or f'Execution of step "{self.step.key}" failed: {type(exc).__name__}: {exc}'
        )
        self.emit(
            EventType.STEP_FAILURE, message, level="ERROR", **data, **self._planned_partitions()
        )
        return True


def run_step(env: StepEnvironment, step: ExecutionStep, emit: Emit) -> None:
    with log_context(run_id=env.run.run_id, step_key=step.key):  # fields of JSON log lines
        StepRun(env, step, emit).run()
