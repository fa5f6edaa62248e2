"""AutomationCondition: when an asset (or one of its partitions) should be materialized.

Dagster's declarative automation, by its names and semantics: operands (`missing()`,
`newly_updated()`, `cron_tick_passed(...)`, ...) say something about an asset partition
now; operators combine them (`&`, `|`, `~`, `.since(...)`, `.newly_true()`,
`any_deps_match(...)`); the builders `eager()`, `on_cron(...)` and `on_missing()` are made
of them. A condition evaluates to the subset of its asset's partitions it is true for
(`""` stands for an unpartitioned asset); the daemon requests the root condition's subset.

Conditions travel as JSON in the asset snapshots (the daemon never imports user code):
`to_json()` / `condition_from_json()`. Each node of a tree has an id made of its parent's
id, its place and its name, under which it keeps state between evaluations (what
`since` and `newly_true` remember).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

from croniter import croniter

from opgraph.errors import DefinitionError

if TYPE_CHECKING:
    from opgraph.automation.context import AutomationContext

Subset = frozenset[str]
EMPTY: Subset = frozenset()


@functools.lru_cache(maxsize=65536)
def node_id(parent: str | None, index: int | str | None, name: str) -> str:
    text = f"{parent}\0{index}\0{name}"
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]


@dataclass(frozen=True)
class AutomationCondition(ABC):
    """Base of every condition; build them with the static methods below."""

    label: str | None = field(default=None, kw_only=True)
    kind: ClassVar[str] = ""  # the JSON "type"

    # -- structure ------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.kind

    @property
    def children(self) -> Sequence[AutomationCondition]:
        return ()

    def get_label(self) -> str | None:
        return self.label

    def with_label(self, label: str | None) -> AutomationCondition:
        return replace(self, label=label)

    @functools.cached_property
    def stateful(self) -> bool:
        """Whether evaluating it keeps state (since, newly_true, code_version_changed): a
        stateless node with nothing to evaluate is skipped."""
        return any(c.stateful for c in self.children)

    def unique_id(self, parent: str | None = None, index: int | None = None) -> str:
        """An id of the whole tree: changes when any node of it does."""
        own = node_id(parent, index, self.name)
        kids = "".join(c.unique_id(own, i) for i, c in enumerate(self.children))
        return node_id(own, None, kids)

    @abstractmethod
    def evaluate(self, context: AutomationContext) -> Subset:
        """The part of `context.candidate` this condition is true for."""

    # -- combinators ----------------------------------------------------------------------
    def __and__(self, other: AutomationCondition) -> AutomationCondition:
        return AndAutomationCondition(operands=(*_flat(self, And), *_flat(other, And)))

    def __or__(self, other: AutomationCondition) -> AutomationCondition:
        return OrAutomationCondition(operands=(*_flat(self, Or), *_flat(other, Or)))

    def __invert__(self) -> AutomationCondition:
        return NotAutomationCondition(operand=self)

    def since(self, reset_condition: AutomationCondition) -> AutomationCondition:
        """True once this condition has been true since `reset_condition` was last true."""
        return SinceCondition(trigger_condition=self, reset_condition=reset_condition)

    def newly_true(self) -> AutomationCondition:
        """True on the evaluation where this condition goes from false to true."""
        return NewlyTrueCondition(operand=self)

    def since_last_handled(self) -> AutomationCondition:
        """True once this condition has become true since the asset was last requested or
        updated (or since the condition was first evaluated, or changed)."""
        handled = (
            AutomationCondition.newly_requested()
            | AutomationCondition.newly_updated()
            | AutomationCondition.initial_evaluation()
        ).with_label("handled")
        return self.since(handled)

    # -- rewriting the tree ---------------------------------------------------------------
    def _with_children(self, children: Sequence[AutomationCondition]) -> AutomationCondition:
        return self  # an operand has none

    def _map(
        self, change: Callable[[AutomationCondition], AutomationCondition]
    ) -> AutomationCondition:
        """This tree with `change` applied to every node, children first."""
        kids = [child._map(change) for child in self.children]
        # By identity: an unresolved selection does not take part in equality.
        same = all(new is old for new, old in zip(kids, self.children, strict=True))
        node = self if same else self._with_children(kids)
        return change(node)

    def allow(self, selection: Any) -> AutomationCondition:
        """Only the deps in `selection` (an AssetSelection) count, in every deps condition
        of this tree (`any_deps_match`, `all_deps_match` and what is made of them)."""
        return self._map(lambda c: _set_deps_field(c, allow_selection=selection))

    def ignore(self, selection: Any) -> AutomationCondition:
        """The deps in `selection` (an AssetSelection) do not count, in every deps condition
        of this tree."""
        return self._map(lambda c: _set_deps_field(c, ignore_selection=selection))

    def replace(
        self, old: AutomationCondition | str, new: AutomationCondition
    ) -> AutomationCondition:
        """This tree with every node equal to `old` (or labeled `old`, given a string)
        replaced by `new`."""

        def swap(node: AutomationCondition) -> AutomationCondition:
            matches = node.label == old if isinstance(old, str) else node == old
            return new if matches else node

        return self._map(swap)

    def resolved(self, graph: Any) -> AutomationCondition:
        """The deps conditions' allow/ignore selections resolved to asset keys against the
        code location's asset graph: what the snapshot carries to the daemon."""
        return self._map(lambda c: c._resolve_selections(graph) if _is_deps(c) else c)  # type: ignore[attr-defined]

    # -- JSON -----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return self._json

    @functools.cached_property
    def _json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.kind}
        if self.label is not None:
            data["label"] = self.label
        data.update(self._fields_json())
        return data

    def _fields_json(self) -> dict[str, Any]:
        return {}

    def describe(self) -> str:
        return self.label or self.name

    # -- operands -------------------------------------------------------------------------
    @staticmethod
    def missing() -> AutomationCondition:
        """True for a partition that has never been materialized."""
        return MissingCondition()

    @staticmethod
    def run_in_progress() -> AutomationCondition:
        """True for a partition a run that has not finished targets."""
        return RunInProgressCondition()

    @staticmethod
    def backfill_in_progress() -> AutomationCondition:
        """True for a partition a live backfill has yet to run or is running."""
        return BackfillInProgressCondition()

    @staticmethod
    def in_progress() -> AutomationCondition:
        return (
            AutomationCondition.run_in_progress() | AutomationCondition.backfill_in_progress()
        ).with_label("in_progress")

    @staticmethod
    def execution_failed() -> AutomationCondition:
        """True for a partition whose latest run failed (before materializing it)."""
        return ExecutionFailedCondition()

    @staticmethod
    def newly_updated() -> AutomationCondition:
        """True for a partition materialized (or observed) since the previous evaluation."""
        return NewlyUpdatedCondition()

    @staticmethod
    def newly_requested() -> AutomationCondition:
        """True for a partition requested on the previous evaluation."""
        return NewlyRequestedCondition()

    @staticmethod
    def will_be_requested() -> AutomationCondition:
        """True for a partition requested on this evaluation, in a run that can also run the
        asset the root condition belongs to."""
        return WillBeRequestedCondition()

    @staticmethod
    def initial_evaluation() -> AutomationCondition:
        """True on the first evaluation of the condition, and the first after it changed."""
        return InitialEvaluationCondition()

    @staticmethod
    def code_version_changed() -> AutomationCondition:
        """True when the asset's code version differs from the previous evaluation's."""
        return CodeVersionChangedCondition()

    @staticmethod
    def cron_tick_passed(cron_schedule: str, cron_timezone: str = "UTC") -> AutomationCondition:
        """True when a tick of the cron schedule passed since the previous evaluation."""
        if not croniter.is_valid(cron_schedule):
            raise DefinitionError(
                f"cron_tick_passed: {cron_schedule!r} is not a cron schedule; expected five "
                "fields such as '0 * * * *'"
            )
        return CronTickPassedCondition(cron_schedule=cron_schedule, cron_timezone=cron_timezone)

    @staticmethod
    def in_latest_time_window(
        lookback_delta: dt.timedelta | None = None,
    ) -> AutomationCondition:
        """True for the latest time partition (and those ending within `lookback_delta` of
        its end); every partition of an asset without time partitions."""
        seconds = lookback_delta.total_seconds() if lookback_delta is not None else None
        return InLatestTimeWindowCondition(lookback_seconds=seconds)

    @staticmethod
    def newly_missing() -> AutomationCondition:
        return AutomationCondition.missing().newly_true().with_label("newly_missing")

    # -- dependencies ---------------------------------------------------------------------
    @staticmethod
    def any_deps_match(condition: AutomationCondition) -> AutomationCondition:
        """True for a partition where the condition is true for a partition of any dep."""
        return AnyDepsCondition(operand=condition)

    @staticmethod
    def all_deps_match(condition: AutomationCondition) -> AutomationCondition:
        """True for a partition where the condition is true for a partition of every dep
        (always true for an asset without deps)."""
        return AllDepsCondition(operand=condition)

    @staticmethod
    def any_deps_updated() -> AutomationCondition:
        return AutomationCondition.any_deps_match(
            AutomationCondition.newly_updated() | AutomationCondition.will_be_requested()
        ).with_label("any_deps_updated")

    @staticmethod
    def any_deps_missing() -> AutomationCondition:
        return AutomationCondition.any_deps_match(
            AutomationCondition.missing() & ~AutomationCondition.will_be_requested()
        ).with_label("any_deps_missing")

    @staticmethod
    def any_deps_in_progress() -> AutomationCondition:
        return AutomationCondition.any_deps_match(AutomationCondition.in_progress()).with_label(
            "any_deps_in_progress"
        )

    @staticmethod
    def all_deps_updated_since_cron(
        cron_schedule: str, cron_timezone: str = "UTC"
    ) -> AutomationCondition:
        return AutomationCondition.all_deps_match(
            AutomationCondition.newly_updated().since(
                AutomationCondition.cron_tick_passed(cron_schedule, cron_timezone)
            )
            | AutomationCondition.will_be_requested()
        ).with_label(f"all_deps_updated_since_cron({cron_schedule}, {cron_timezone})")

    # -- the builders ---------------------------------------------------------------------
    @staticmethod
    def eager() -> AutomationCondition:
        """Materialize when any dep updates, or when a partition becomes missing; never while
        a dep is missing or in progress, or the asset itself is in progress."""
        return (
            AutomationCondition.in_latest_time_window()
            & (
                AutomationCondition.newly_missing() | AutomationCondition.any_deps_updated()
            ).since_last_handled()
            & ~AutomationCondition.any_deps_missing()
            & ~AutomationCondition.any_deps_in_progress()
            & ~AutomationCondition.in_progress()
        ).with_label("eager")

    @staticmethod
    def on_cron(cron_schedule: str, cron_timezone: str = "UTC") -> AutomationCondition:
        """Materialize once per cron tick, after every dep has updated since that tick."""
        return (
            AutomationCondition.in_latest_time_window()
            & AutomationCondition.cron_tick_passed(
                cron_schedule, cron_timezone
            ).since_last_handled()
            & AutomationCondition.all_deps_updated_since_cron(cron_schedule, cron_timezone)
        ).with_label(f"on_cron({cron_schedule}, {cron_timezone})")

    @staticmethod
    def on_missing() -> AutomationCondition:
        """Materialize partitions that become missing after the condition is applied (new
        time windows, new dynamic keys), once no dep is missing."""
        return (
            AutomationCondition.in_latest_time_window()
            & AutomationCondition.missing()
            .newly_true()
            .since_last_handled()
            .with_label("missing_since_last_handled")
            & ~AutomationCondition.any_deps_missing()
        ).with_label("on_missing")


def _flat(condition: AutomationCondition, cls: type) -> tuple[AutomationCondition, ...]:
    """`a & b & c` is one And of three (an unlabeled And is merged, as Dagster does)."""
    if isinstance(condition, cls) and condition.label is None:
        return tuple(condition.operands)  # type: ignore[attr-defined]
    return (condition,)


# -- operands -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Operand(AutomationCondition):
    def evaluate(self, context: AutomationContext) -> Subset:
        return self.compute(context) & context.candidate

    @abstractmethod
    def compute(self, context: AutomationContext) -> Subset: ...


@dataclass(frozen=True)
class MissingCondition(_Operand):
    kind: ClassVar[str] = "missing"

    def compute(self, context: AutomationContext) -> Subset:
        return context.candidate - context.data.materialized(context.key, context.candidate)


@dataclass(frozen=True)
class RunInProgressCondition(_Operand):
    kind: ClassVar[str] = "run_in_progress"

    def compute(self, context: AutomationContext) -> Subset:
        return context.data.run_in_progress(context.key)


@dataclass(frozen=True)
class BackfillInProgressCondition(_Operand):
    kind: ClassVar[str] = "backfill_in_progress"

    def compute(self, context: AutomationContext) -> Subset:
        return context.data.backfill_in_progress(context.key)


@dataclass(frozen=True)
class ExecutionFailedCondition(_Operand):
    kind: ClassVar[str] = "execution_failed"

    def compute(self, context: AutomationContext) -> Subset:
        return context.data.execution_failed(context.key)


@dataclass(frozen=True)
class NewlyUpdatedCondition(_Operand):
    kind: ClassVar[str] = "newly_updated"

    def compute(self, context: AutomationContext) -> Subset:
        previous = context.previous_asset_state
        if previous is None:  # the first evaluation: nothing is "new" yet
            return EMPTY
        return context.data.updated_since(context.key, previous.get("max_event_id") or 0)


@dataclass(frozen=True)
class NewlyRequestedCondition(_Operand):
    kind: ClassVar[str] = "newly_requested"

    def compute(self, context: AutomationContext) -> Subset:
        previous = context.previous_asset_state
        return frozenset(previous.get("requested", ())) if previous else EMPTY


@dataclass(frozen=True)
class WillBeRequestedCondition(_Operand):
    kind: ClassVar[str] = "will_be_requested"

    def compute(self, context: AutomationContext) -> Subset:
        requested = context.requested.get(context.key)
        if not requested or not context.data.same_run(context.key, context.root_key):
            return EMPTY
        return requested


@dataclass(frozen=True)
class InitialEvaluationCondition(_Operand):
    kind: ClassVar[str] = "initial_evaluation"

    def compute(self, context: AutomationContext) -> Subset:
        previous = context.previous_asset_state
        if previous is None or previous.get("condition_id") != context.condition_id:
            return context.candidate
        return EMPTY


@dataclass(frozen=True)
class CodeVersionChangedCondition(_Operand):
    kind: ClassVar[str] = "code_version_changed"

    @property
    def stateful(self) -> bool:  # type: ignore[override]
        return True

    def compute(self, context: AutomationContext) -> Subset:
        current = context.data.code_version(context.key)
        previous = context.previous_node_state()
        context.set_node_state({"code_version": current})
        if previous is None or previous.get("code_version") in (None, current):
            return EMPTY
        return context.candidate


@dataclass(frozen=True)
class CronTickPassedCondition(_Operand):
    cron_schedule: str = "0 0 * * *"
    cron_timezone: str = "UTC"
    kind: ClassVar[str] = "cron_tick_passed"

    @property
    def name(self) -> str:
        return f"cron_tick_passed(cron_schedule={self.cron_schedule}, cron_timezone={self.cron_timezone})"

    def _fields_json(self) -> dict[str, Any]:
        return {"cron_schedule": self.cron_schedule, "cron_timezone": self.cron_timezone}

    def latest_tick(self, now: float) -> float:
        from opgraph.partitions.cron import get_timezone

        # croniter counts whole seconds: start just past `now` so a tick at `now` counts.
        start = dt.datetime.fromtimestamp(int(now) + 1, get_timezone(self.cron_timezone))
        return float(croniter(self.cron_schedule, start).get_prev(dt.datetime).timestamp())

    def compute(self, context: AutomationContext) -> Subset:
        previous = context.previous_asset_state
        if previous is None:
            return EMPTY
        if self.latest_tick(context.now) <= previous["timestamp"]:
            return EMPTY
        return context.candidate


@dataclass(frozen=True)
class InLatestTimeWindowCondition(_Operand):
    lookback_seconds: float | None = None
    kind: ClassVar[str] = "in_latest_time_window"

    @property
    def name(self) -> str:
        if self.lookback_seconds:
            return f"in_latest_time_window(lookback_seconds={self.lookback_seconds:g})"
        return "in_latest_time_window"

    def _fields_json(self) -> dict[str, Any]:
        return {"lookback_seconds": self.lookback_seconds} if self.lookback_seconds else {}

    def compute(self, context: AutomationContext) -> Subset:
        return context.data.latest_time_window(context.key, self.lookback_seconds)


# -- operators ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Operands(AutomationCondition):
    operands: tuple[AutomationCondition, ...] = ()

    @property
    def name(self) -> str:
        return self.kind.upper()

    @property
    def children(self) -> Sequence[AutomationCondition]:
        return self.operands

    def _fields_json(self) -> dict[str, Any]:
        return {"operands": [o.to_json() for o in self.operands]}

    def _with_children(self, children: Sequence[AutomationCondition]) -> AutomationCondition:
        return replace(self, operands=tuple(children))

    def without(self, condition: AutomationCondition) -> AutomationCondition:
        """This condition without the operand `condition` (compared by value, as
        `eager().without(~AutomationCondition.any_deps_missing())`); keeps the label."""
        if condition not in self.operands:
            raise DefinitionError(
                f"{self.describe()} has no operand {condition.describe()!r}; its operands: "
                f"{[o.describe() for o in self.operands]}"
            )
        return replace(self, operands=tuple(o for o in self.operands if o != condition))


@dataclass(frozen=True)
class AndAutomationCondition(_Operands):
    kind: ClassVar[str] = "and"

    def evaluate(self, context: AutomationContext) -> Subset:
        true = context.candidate
        for index, operand in enumerate(self.operands):
            # Each operand sees only what is still true: a false one spares the rest.
            true = context.child(operand, index, true).evaluate()
        return true


@dataclass(frozen=True)
class OrAutomationCondition(_Operands):
    kind: ClassVar[str] = "or"

    def evaluate(self, context: AutomationContext) -> Subset:
        true: Subset = EMPTY
        for index, operand in enumerate(self.operands):
            true = true | context.child(operand, index, context.candidate).evaluate()
        return true


@dataclass(frozen=True)
class _Operand1(AutomationCondition):
    """An operator of one condition (`~`, newly_true, the deps operators)."""

    operand: AutomationCondition = field(default_factory=lambda: MissingCondition())

    @property
    def children(self) -> Sequence[AutomationCondition]:
        return (self.operand,)

    def _fields_json(self) -> dict[str, Any]:
        return {"operand": self.operand.to_json()}

    def _with_children(self, children: Sequence[AutomationCondition]) -> AutomationCondition:
        return replace(self, operand=children[0])


@dataclass(frozen=True)
class NotAutomationCondition(_Operand1):
    kind: ClassVar[str] = "not"

    @property
    def name(self) -> str:
        return "NOT"

    def evaluate(self, context: AutomationContext) -> Subset:
        return context.candidate - context.child(self.operand, 0, context.candidate).evaluate()


@dataclass(frozen=True)
class SinceCondition(AutomationCondition):
    trigger_condition: AutomationCondition = field(default_factory=lambda: MissingCondition())
    reset_condition: AutomationCondition = field(default_factory=lambda: MissingCondition())
    kind: ClassVar[str] = "since"

    @property
    def stateful(self) -> bool:  # type: ignore[override]
        return True

    @property
    def name(self) -> str:
        return "SINCE"

    @property
    def children(self) -> Sequence[AutomationCondition]:
        return (self.trigger_condition, self.reset_condition)

    def _fields_json(self) -> dict[str, Any]:
        return {
            "trigger_condition": self.trigger_condition.to_json(),
            "reset_condition": self.reset_condition.to_json(),
        }

    def _with_children(self, children: Sequence[AutomationCondition]) -> AutomationCondition:
        return replace(self, trigger_condition=children[0], reset_condition=children[1])

    def evaluate(self, context: AutomationContext) -> Subset:
        # The children see every partition, so no transition is missed outside the candidate.
        everything = context.data.full_subset(context.key)
        trigger = context.child(self.trigger_condition, 0, everything).evaluate()
        reset = context.child(self.reset_condition, 1, everything).evaluate()
        previous = context.previous_node_state() or {}
        true = (frozenset(previous.get("true", ())) | trigger) - reset
        context.set_node_state({"true": sorted(true)} if true else None)
        return true & context.candidate


@dataclass(frozen=True)
class NewlyTrueCondition(_Operand1):
    kind: ClassVar[str] = "newly_true"

    @property
    def stateful(self) -> bool:  # type: ignore[override]
        return True

    @property
    def name(self) -> str:
        return "NEWLY_TRUE"

    def evaluate(self, context: AutomationContext) -> Subset:
        everything = context.data.full_subset(context.key)
        now_true = context.child(self.operand, 0, everything).evaluate()
        previous = context.previous_node_state()
        context.set_node_state({"true": sorted(now_true)} if now_true else {})
        # With no earlier evaluation the operand counts as false before: a missing
        # partition is newly missing on the first tick (Dagster's on_missing / eager).
        before = frozenset(previous.get("true", ())) if previous is not None else EMPTY
        return (now_true - before) & context.candidate


@dataclass(frozen=True)
class _DepsCondition(_Operand1):
    # `.allow()` / `.ignore()`: AssetSelections while defined, asset keys ("a/b") once
    # resolved against the asset graph (`resolved`), which is what travels as JSON.
    allow_selection: Any = field(default=None, compare=False)
    ignore_selection: Any = field(default=None, compare=False)
    allow_keys: tuple[str, ...] | None = None
    ignore_keys: tuple[str, ...] | None = None

    def _fields_json(self) -> dict[str, Any]:
        unresolved = (self.allow_selection is not None and self.allow_keys is None) or (
            self.ignore_selection is not None and self.ignore_keys is None
        )
        if unresolved:  # the snapshot resolves them; nothing else should serialize them
            raise DefinitionError(
                f"{self.describe()}: its allow/ignore selection is resolved against the "
                "asset graph first (AutomationCondition.resolved(graph))"
            )
        data = super()._fields_json()
        if self.allow_keys is not None:
            data["allow_keys"] = list(self.allow_keys)
        if self.ignore_keys is not None:
            data["ignore_keys"] = list(self.ignore_keys)
        return data

    def _resolve_selections(self, graph: Any) -> _DepsCondition:
        def keys(selection: Any, resolved: tuple[str, ...] | None) -> tuple[str, ...] | None:
            if selection is None:
                return resolved
            return tuple(sorted(k.to_user_string() for k in selection.resolve(graph)))

        return replace(
            self,
            allow_keys=keys(self.allow_selection, self.allow_keys),
            ignore_keys=keys(self.ignore_selection, self.ignore_keys),
        )

    def counts(self, dep: str) -> bool:
        """Whether `dep` is one of the deps this condition looks at."""
        if self.allow_keys is not None and dep not in self.allow_keys:
            return False
        return self.ignore_keys is None or dep not in self.ignore_keys

    def _per_dep(self, context: AutomationContext) -> list[Subset]:
        """For each dep, the candidate partitions where the operand is true for the dep."""
        found = []
        for dep in context.data.deps(context.key):
            if not self.counts(dep):
                continue
            dep_candidate = context.data.upstream_subset(context.key, dep, context.candidate)
            dep_true = context.for_dep(self.operand, dep, dep_candidate).evaluate()
            found.append(context.data.downstream_subset(dep, context.key, dep_true))
        return found


@dataclass(frozen=True)
class AnyDepsCondition(_DepsCondition):
    kind: ClassVar[str] = "any_deps_match"

    @property
    def name(self) -> str:
        return "ANY_DEPS_MATCH"

    def evaluate(self, context: AutomationContext) -> Subset:
        true: Subset = EMPTY
        for subset in self._per_dep(context):
            true |= subset
        return true & context.candidate


@dataclass(frozen=True)
class AllDepsCondition(_DepsCondition):
    kind: ClassVar[str] = "all_deps_match"

    @property
    def name(self) -> str:
        return "ALL_DEPS_MATCH"

    def evaluate(self, context: AutomationContext) -> Subset:
        true = context.candidate
        for subset in self._per_dep(context):
            true &= subset
        return true


And = AndAutomationCondition
Or = OrAutomationCondition

_KINDS: dict[str, type[AutomationCondition]] = {
    cls.kind: cls
    for cls in (
        MissingCondition,
        RunInProgressCondition,
        BackfillInProgressCondition,
        ExecutionFailedCondition,
        NewlyUpdatedCondition,
        NewlyRequestedCondition,
        WillBeRequestedCondition,
        InitialEvaluationCondition,
        CodeVersionChangedCondition,
        CronTickPassedCondition,
        InLatestTimeWindowCondition,
        AndAutomationCondition,
        OrAutomationCondition,
        NotAutomationCondition,
        SinceCondition,
        NewlyTrueCondition,
        AnyDepsCondition,
        AllDepsCondition,
    )
}
_NESTED = ("operand", "trigger_condition", "reset_condition")


def _is_deps(condition: AutomationCondition) -> bool:
    return isinstance(condition, _DepsCondition)


def _set_deps_field(condition: AutomationCondition, **changes: Any) -> AutomationCondition:
    """A deps condition with `changes`; any other condition as it is."""
    return replace(condition, **changes) if isinstance(condition, _DepsCondition) else condition


def condition_from_json(data: dict[str, Any]) -> AutomationCondition:
    """The condition `to_json()` gave; DefinitionError names an unknown type."""
    kind = data.get("type")
    cls = _KINDS.get(str(kind))
    if cls is None:
        raise DefinitionError(
            f"unknown automation condition type {kind!r}; known: {', '.join(sorted(_KINDS))}"
        )
    fields: dict[str, Any] = {k: v for k, v in data.items() if k != "type"}
    for name in _NESTED:
        if name in fields:
            fields[name] = condition_from_json(fields[name])
    if "operands" in fields:
        fields["operands"] = tuple(condition_from_json(o) for o in fields["operands"])
    for name in ("allow_keys", "ignore_keys"):
        if name in fields:
            fields[name] = tuple(fields[name])
    return cls(**fields)
