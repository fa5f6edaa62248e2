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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opgraph.compute_logs import capture_file_descriptors, capture_python_streams
from opgraph.context import OpExecutionContext, OpLogger, RunInfo
from opgraph.definitions.io import DynamicOutput, Output
from opgraph.errors import Failure, RetryRequested
from opgraph.events import EventType, make_event
from opgraph.logs import log_context
from opgraph.plan import ExecutionPlan
from opgraph.resources import InputContext, OutputContext, Resources
from opgraph.steps import ExecutionStep, UpstreamOutput
from opgraph_storage.records import EventRecord

Emit = Callable[[EventRecord], None]


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
    if isinstance(exc, Failure):
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
        )

    def _manager_key(self, input_name: str, upstream: OutputContext) -> str:
        spec = self.op_def.ins[input_name]
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
        context = InputContext(
            name=input_name,
            step_key=self.step.key,
            upstream_output=upstream,
            op_def=self.op_def,
            metadata=dict(spec.metadata),
            resources=self.env.resources,
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
            else:
                values[name] = spec.default_value
            self.emit(EventType.STEP_INPUT, f'Got input "{name}"', input_name=name)
        return values

    # -- the op itself -------------------------------------------------------------------
    def _context(self) -> OpExecutionContext:
        def log_event(level: str, message: str) -> None:
            self.emit(EventType.LOG, message, level=level)

        return OpExecutionContext(
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
        self.emit(
            EventType.STEP_OUTPUT,
            f'Yielded output "{output.output_name}"'
            + (f' with mapping key "{mapping_key}"' if mapping_key else ""),
            output_name=output.output_name,
            mapping_key=mapping_key,
            metadata=_jsonable(output.metadata),
        )
        if out.is_nothing:
            return
        if self.env.output_capture is not None:
            self.env.output_capture[(self.step.key, output.output_name, mapping_key)] = output.value
        context = OutputContext(
            step_key=self.step.key,
            name=output.output_name,
            run_id=self.env.run.run_id,
            mapping_key=mapping_key,
            op_def=self.op_def,
            metadata=dict(out.metadata),
            resources=self.env.resources,
        )
        self.env.resources[out.io_manager_key].handle_output(context, output.value)
        self.emit(
            EventType.HANDLED_OUTPUT,
            f'Handled output "{output.output_name}" using IO manager "{out.io_manager_key}"',
            output_name=output.output_name,
            mapping_key=mapping_key,
            manager_key=out.io_manager_key,
        )

    # -- the whole step --------------------------------------------------------------------
    def _capture(self) -> AbstractContextManager[list[Path]]:
        base = self.env.compute_logs_dir
        if base is None or self.env.capture == "none":
            return nullcontext([])
        capture = capture_file_descriptors if self.env.capture == "fd" else capture_python_streams
        return capture(base, self.env.run.run_id, self.step.key)

    def run(self) -> None:
        if self.step.attempt == 0:
            self.emit(EventType.STEP_START, f'Started execution of step "{self.step.key}"')
        else:
            self.emit(
                EventType.STEP_RESTARTED,
                f'Started re-execution (attempt # {self.step.attempt + 1}) of step "{self.step.key}"',
            )
        started = time.perf_counter()
        captured: list[Path] = []
        try:
            with self._capture() as captured:
                self._execute()
        except _StepFailed as exc:
            self.emit(EventType.STEP_FAILURE, str(exc), level="ERROR", **error_data(exc, False))
        except Exception as exc:
            self._user_error(exc)
        else:
            duration_ms = (time.perf_counter() - started) * 1000
            self.emit(
                EventType.STEP_SUCCESS,
                f'Finished execution of step "{self.step.key}" in {duration_ms:.1f}ms',
                duration_ms=duration_ms,
            )
        finally:
            if captured:
                self.emit(
                    EventType.LOGS_CAPTURED,
                    f"Captured stdout/stderr of {self.step.key}",
                    paths=[str(p) for p in captured],
                )

    def _execute(self) -> None:
        inputs = self.load_inputs()
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

    def _user_error(self, exc: Exception) -> None:
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
            return
        if self.env.on_user_failure is not None:
            self.env.on_user_failure(exc)
        data = error_data(exc, True)
        if isinstance(exc, Failure):
            data["metadata"] = _jsonable(exc.metadata)
        message = (
            exc.description
            if isinstance(exc, Failure) and exc.description
            else f'Execution of step "{self.step.key}" failed: {type(exc).__name__}: {exc}'
        )
        self.emit(EventType.STEP_FAILURE, message, level="ERROR", **data)


def _jsonable(metadata: dict[str, Any]) -> dict[str, Any]:
    safe: dict[str, Any] = {}
    for key, value in metadata.items():
        safe[str(key)] = (
            value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        )
    return safe


def run_step(env: StepEnvironment, step: ExecutionStep, emit: Emit) -> None:
    with log_context(run_id=env.run.run_id, step_key=step.key):  # fields of JSON log lines
        StepRun(env, step, emit).run()
