"""The active execution: the state machine that decides which steps run next.

It is fed step events (from whatever executor ran the step) and answers which steps are
ready, which must be skipped and whether the run is complete. Because it only reads
events, it can be rebuilt from a run's stored event log after a crash.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import Enum

from opgraph.events import STEP_START_EVENTS, EventType
from opgraph.plan import ExecutionPlan, FlatCollect, FlatItem, FlatMany, FlatOp, FlatOutput
from opgraph.steps import ExecutionStep, StepInput, UpstreamOutput, step_key_for
from opgraph_storage.records import EventRecord


class StepState(Enum):
    PENDING = "PENDING"
    IN_FLIGHT = "IN_FLIGHT"
    WAITING_RETRY = "WAITING_RETRY"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    SKIPPED = "SKIPPED"


DONE_STATES = frozenset({StepState.SUCCESS, StepState.FAILURE, StepState.SKIPPED})


@dataclass
class _Step:
    key: str
    op: FlatOp
    mapping_key: str | None
    state: StepState = StepState.PENDING
    attempt: int = 0
    retry_at: float = 0.0
    outputs: list[tuple[str, str | None]] = field(default_factory=list)  # (output, mapping key)
    origin_run_id: str | None = None  # set when the step's outputs come from an earlier run
    # The upstream step the last check waited for: until it is done, checking again is
    # pointless (a fan-in of n steps would otherwise be checked n times over n sources).
    waiting_on: str | None = None


@dataclass(frozen=True)
class ReusedStep:
    """A step a re-execution does not run again: its outputs were made by `run_id`."""

    outputs: tuple[tuple[str, str | None], ...]
    run_id: str


@dataclass(frozen=True)
class SkipDecision:
    step_key: str
    reason: str


class ActiveExecution:
    def __init__(self, plan: ExecutionPlan, reused: dict[str, ReusedStep] | None = None):
        self.plan = plan
        self.steps: dict[str, _Step] = {}
        # Mapped templates wait until their DynamicOut step is done; keyed by that step.
        self._dynamic_consumers: dict[str, list[FlatOp]] = {}
        self._expanded: set[str] = set()
        self._skips: list[SkipDecision] = []
        for op in plan.ops.values():
            if op.dynamic_source is None:
                self.steps[op.handle] = _Step(op.handle, op, None)
            else:
                self._dynamic_consumers.setdefault(op.dynamic_source[0], []).append(op)
        if reused:
            self._apply_reused(reused)

    def _apply_reused(self, reused: dict[str, ReusedStep]) -> None:
        pending = dict(reused)
        progress = True
        while progress:  # mapped steps exist only once their dynamic source is applied
            progress = False
            for key in list(pending):
                step = self.steps.get(key)
                if step is None:
                    continue
                found = pending.pop(key)
                step.state = StepState.SUCCESS
                step.outputs = list(found.outputs)
                step.origin_run_id = found.run_id
                self._expand(step)
                progress = True

    # -- feeding events -------------------------------------------------------------------
    def handle_event(self, event: EventRecord) -> None:
        step = self.steps.get(event.step_key or "")
        if step is None:
            return
        kind = event.event_type
        if kind in STEP_START_EVENTS:
            step.state = StepState.IN_FLIGHT
            step.attempt = event.attempt or 0
        elif kind == EventType.STEP_OUTPUT.value:
            step.outputs.append(
                (event.data.get("output_name", "result"), event.data.get("mapping_key"))
            )
        elif kind == EventType.STEP_SUCCESS.value:
            step.state = StepState.SUCCESS
            self._expand(step)
        elif kind == EventType.STEP_FAILURE.value:
            step.state = StepState.FAILURE
            self._expand(step)
        elif kind == EventType.STEP_SKIPPED.value:
            step.state = StepState.SKIPPED
            self._expand(step)
        elif kind == EventType.STEP_UP_FOR_RETRY.value:
            step.state = StepState.WAITING_RETRY
            step.attempt = (event.attempt or 0) + 1
            step.outputs.clear()
            step.retry_at = event.timestamp + float(event.data.get("delay") or 0)

    def handle_events(self, events: Iterable[EventRecord]) -> None:
        for event in events:
            self.handle_event(event)

    def _expand(self, dynamic_step: _Step) -> None:
        """Once a DynamicOut step is done, its mapped consumers become concrete steps."""
        if dynamic_step.key in self._expanded:
            return
        self._expanded.add(dynamic_step.key)
        for op in self._dynamic_consumers.get(dynamic_step.key, []):
            output = op.dynamic_source[1] if op.dynamic_source else "result"
            keys = [m for name, m in dynamic_step.outputs if name == output and m is not None]
            if dynamic_step.state is not StepState.SUCCESS:
                keys = []
            for mapping_key in keys:
                key = step_key_for(op.handle, mapping_key)
                self.steps.setdefault(key, _Step(key, op, mapping_key))

    # -- resolving a step's inputs --------------------------------------------------------
    def _mapping_keys(self, dynamic_handle: str, output: str) -> list[str] | None:
        source = self.steps.get(dynamic_handle)
        if source is None or source.state not in DONE_STATES:
            return None
        return [m for name, m in source.outputs if name == output and m is not None]

    def _sources(self, step: _Step, source: object) -> list[UpstreamOutput] | None:
        """Upstream outputs an input reads; None while they are not known yet."""
        ops = self.plan.ops
        if isinstance(source, FlatMany):
            return [UpstreamOutput(s.handle, s.output) for s in source.sources]
        if isinstance(source, FlatOutput):
            return [UpstreamOutput(source.handle, source.output)]
        if isinstance(source, FlatItem):
            upstream = ops[source.handle]
            if upstream.dynamic_source is None:  # the DynamicOut itself
                return [UpstreamOutput(source.handle, source.output, step.mapping_key)]
            return [UpstreamOutput(step_key_for(source.handle, step.mapping_key), source.output)]
        assert isinstance(source, FlatCollect)
        upstream = ops[source.handle]
        if upstream.dynamic_source is None:
            keys = self._mapping_keys(source.handle, source.output)
            if keys is None:
                return None
            return [UpstreamOutput(source.handle, source.output, k) for k in keys]
        keys = self._mapping_keys(*upstream.dynamic_source)
        if keys is None:
            return None
        return [UpstreamOutput(step_key_for(source.handle, k), source.output) for k in keys]

    def _dynamic_step_of(self, source: FlatCollect) -> _Step | None:
        """The step whose DynamicOut a collect gathers, directly or through mapped steps."""
        upstream = self.plan.ops[source.handle]
        handle = source.handle if upstream.dynamic_source is None else upstream.dynamic_source[0]
        return self.steps.get(handle)

    def _check(self, step: _Step) -> ExecutionStep | SkipDecision | None:
        """A runnable step, a reason to skip it, or None to keep waiting."""
        inputs = []
        for name, source in step.op.inputs.items():
            is_collect = isinstance(source, FlatCollect)
            if isinstance(source, FlatCollect):
                # A dynamic step that failed (or was skipped) mapped nothing: its collect
                # does not run on an empty list (nor does Dagster's).
                dynamic = self._dynamic_step_of(source)
                if dynamic is not None and dynamic.state in (StepState.FAILURE, StepState.SKIPPED):
                    return SkipDecision(
                        step.key, f"upstream step {dynamic.key} {dynamic.state.value.lower()}"
                    )
            sources = self._sources(step, source)
            if sources is None:
                return None
            present = []
            for upstream in sources:
                producer = self.steps.get(upstream.step_key)
                if producer is None:  # a mapped step that was never created
                    return SkipDecision(step.key, f"upstream {upstream.step_key} did not run")
                if producer.state in (StepState.FAILURE, StepState.SKIPPED):
                    if is_collect and producer.state is StepState.SKIPPED:
                        continue
                    return SkipDecision(
                        step.key, f"upstream step {producer.key} {producer.state.value.lower()}"
                    )
                if producer.state is not StepState.SUCCESS:
                    step.waiting_on = producer.key
                    return None
                if (upstream.output_name, upstream.mapping_key) not in producer.outputs:
                    if is_collect:
                        continue
                    return SkipDecision(
                        step.key,
                        f"upstream output {upstream.step_key}.{upstream.output_name} was not produced",
                    )
                if producer.origin_run_id is not None:
                    upstream = UpstreamOutput(
                        upstream.step_key,
                        upstream.output_name,
                        upstream.mapping_key,
                        producer.origin_run_id,
                    )
                present.append(upstream)
            fan_in = is_collect or isinstance(source, FlatMany)
            inputs.append(StepInput(name, tuple(present), fan_in))
        return ExecutionStep(
            step.key, step.op.handle, step.mapping_key, tuple(inputs), step.attempt
        )

    # -- what executors ask ---------------------------------------------------------------
    def get_steps_to_execute(
        self, now: float | None = None, limit: int | None = None
    ) -> list[ExecutionStep]:
        """Ready steps, marked in flight. Skip decisions are queued for `pop_skips()`."""
        now = time.time() if now is None else now
        ready: list[ExecutionStep] = []
        changed = True
        while changed:  # a skip can unblock (or skip) steps further down
            changed = False
            for step in list(self.steps.values()):
                if limit is not None and len(ready) >= limit:
                    return ready
                if step.state is StepState.WAITING_RETRY and step.retry_at <= now:
                    step.state = StepState.PENDING
                if step.state is not StepState.PENDING or self._still_waiting(step):
                    continue
                decision = self._check(step)
                if isinstance(decision, SkipDecision):
                    step.state = StepState.SKIPPED
                    self._skips.append(decision)
                    self._expand(step)
                    changed = True
                elif isinstance(decision, ExecutionStep):
                    step.state = StepState.IN_FLIGHT
                    ready.append(decision)
        return ready

    def _still_waiting(self, step: _Step) -> bool:
        if step.waiting_on is None:
            return False
        if self.steps[step.waiting_on].state not in DONE_STATES:
            return True
        step.waiting_on = None
        return False

    def pop_skips(self) -> list[SkipDecision]:
        skips, self._skips = self._skips, []
        return skips

    def adopt(self, step_key: str, attempt: int) -> ExecutionStep | None:
        """Mark a step in flight as `attempt`, which an earlier run worker dispatched and
        which still runs (or finished unseen); None if the step is done or not ready."""
        step = self.steps.get(step_key)
        if step is None or step.state in DONE_STATES:
            return None
        decision = self._check(step)
        if not isinstance(decision, ExecutionStep):
            return None
        step.state = StepState.IN_FLIGHT
        step.attempt = attempt
        return replace(decision, attempt=attempt)

    def retry_step(self, step_key: str) -> None:
        """Run a dispatched step again as a new attempt (its worker was lost)."""
        step = self.steps[step_key]
        step.state = StepState.PENDING
        step.attempt += 1
        step.outputs.clear()

    @property
    def in_flight(self) -> list[str]:
        return [s.key for s in self.steps.values() if s.state is StepState.IN_FLIGHT]

    @property
    def next_retry_at(self) -> float | None:
        times = [s.retry_at for s in self.steps.values() if s.state is StepState.WAITING_RETRY]
        return min(times) if times else None

    @property
    def is_complete(self) -> bool:
        for step in self.steps.values():
            if step.state not in DONE_STATES:
                return False
        return all(
            key in self._expanded or key not in self.steps for key in self._dynamic_consumers
        )

    @property
    def failed_steps(self) -> list[str]:
        return [s.key for s in self.steps.values() if s.state is StepState.FAILURE]

    def state_of(self, step_key: str) -> StepState:
        return self.steps[step_key].state

    @property
    def reused_step_keys(self) -> list[str]:
        return [s.key for s in self.steps.values() if s.origin_run_id is not None]

    @classmethod
    def rebuild(
        cls,
        plan: ExecutionPlan,
        events: Iterable[EventRecord],
        reused: dict[str, ReusedStep] | None = None,
    ) -> ActiveExecution:
        """Resume after a crash: steps that started but never finished run again."""
        active = cls(plan, reused)
        active.handle_events(events)
        for step in active.steps.values():
            if step.state is StepState.IN_FLIGHT:
                step.state = StepState.PENDING
                step.attempt += 1
                step.outputs.clear()
        return active
