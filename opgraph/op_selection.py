"""Op selection: run only some ops of a job (Dagster's `op_selection`).

A clause names an op and, optionally, how far to walk the graph from it:

    "emit"        the op itself
    "*report"     report and every op upstream of it
    "emit*"       emit and every op downstream of it
    "+double"     double and the ops one step upstream ("++double": two steps)
    "double+"     double and the ops one step downstream
    "*flaky+"     both directions at once

Names are op handles as the plan has them: a nested graph's op is `graph.op`, and naming
the graph selects every op inside it. The selected ops keep their wiring to each other;
an input fed by an op left out must come from run config (`ops.<op>.inputs.<name>`) or a
default, and config given for ops left out is allowed but not used (as in Dagster).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from opgraph.errors import OpgraphError
from opgraph.plan import FlatMany, FlatOp, FlatSource

if TYPE_CHECKING:
    from opgraph.definitions.graph import JobDefinition

# On a run of some ops only: the clauses, comma-separated (Dagster's dagster/solid_selection).
OP_SELECTION_TAG = "opgraph/op_selection"
_CLAUSE = re.compile(r"^(?P<up>\*|\++)?(?P<name>[^*+\s]+)(?P<down>\*|\++)?$")


class OpSelectionError(OpgraphError):
    """A clause names no op of the job, or the selection cannot run on its own."""

    def __init__(self, job_name: str, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__(f"op_selection of job {job_name!r}: " + "; ".join(problems))


def _depth(marker: str | None) -> float:
    if not marker:
        return 0
    return float("inf") if marker == "*" else len(marker)


def _walk(start: set[str], edges: Mapping[str, set[str]], depth: float) -> set[str]:
    found, frontier, level = set(start), set(start), 0
    while frontier and level < depth:
        frontier = {n for handle in frontier for n in edges.get(handle, ())} - found
        found |= frontier
        level += 1
    return found


def resolve_op_selection(
    job_name: str, ops: Mapping[str, FlatOp], clauses: Iterable[str]
) -> frozenset[str]:
    """The op handles the clauses select; OpSelectionError names every clause that fails."""
    upstream = {handle: op.upstream_handles for handle, op in ops.items()}
    downstream: dict[str, set[str]] = {handle: set() for handle in ops}
    for handle, parents in upstream.items():
        for parent in parents:
            downstream[parent].add(handle)
    selected: set[str] = set()
    problems: list[str] = []
    for clause in clauses:
        match = _CLAUSE.match(clause.strip()) if isinstance(clause, str) else None
        if match is None:
            problems.append(
                f"{clause!r} is not a selection clause; expected an op name with optional "
                "'*' or '+' before or after it, e.g. '*op', 'op+'"
            )
            continue
        name = match["name"]
        named = {h for h in ops if h == name or h.startswith(f"{name}.")}
        if not named:
            problems.append(f"{clause!r} matches no op; the job's ops are {sorted(ops)}")
            continue
        selected |= _walk(named, upstream, _depth(match["up"]))
        selected |= _walk(named, downstream, _depth(match["down"]))
    if not problems and not selected:
        problems.append("no op selected: give at least one op name")
    if problems:
        raise OpSelectionError(job_name, problems)
    return frozenset(selected)


def _kept(source: FlatSource, selected: frozenset[str]) -> FlatSource | None:
    if isinstance(source, FlatMany):
        parts = tuple(s for s in source.sources if s.handle in selected)
        return FlatMany(parts) if parts else None
    return source if source.handle in selected else None


def subset_ops(
    job_name: str, ops: Mapping[str, FlatOp], selected: frozenset[str]
) -> dict[str, FlatOp]:
    """The selected ops in plan order, their inputs from ops left out cut off."""
    problems = []
    subset: dict[str, FlatOp] = {}
    for handle, op in ops.items():
        if handle not in selected:
            continue
        if op.dynamic_source and op.dynamic_source[0] not in selected:
            problems.append(
                f"op {handle!r} is mapped over the dynamic output of {op.dynamic_source[0]!r}; "
                "select that op too"
            )
            continue
        inputs = {}
        for name, source in op.inputs.items():
            kept = _kept(source, selected)
            if kept is not None:
                inputs[name] = kept
        subset[handle] = replace(op, inputs=inputs)
    if problems:
        raise OpSelectionError(job_name, problems)
    return subset


def subset_job(job: JobDefinition, clauses: Sequence[str]) -> JobDefinition:
    """A copy of `job` that runs only the ops the clauses select."""
    selected = resolve_op_selection(job.name, job.flat_ops, clauses)
    ops = subset_ops(job.name, job.flat_ops, selected)
    copy = job.with_resources({})
    copy.flat_ops = ops
    copy.op_selection = tuple(clauses)
    return copy
