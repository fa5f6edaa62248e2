"""Building op graphs by calling ops inside a @job or @graph function.

Calling an op inside a composition function does not run it: it records a node and
returns handles to the node's outputs, which later calls take as inputs.
"""

from __future__ import annotations

import inspect
import threading
from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opgraph.errors import DefinitionError

if TYPE_CHECKING:
    from opgraph.definitions.op import OpDefinition


# -- where a node input comes from -------------------------------------------------------
@dataclass(frozen=True)
class FromOutput:
    node: str
    output: str


@dataclass(frozen=True)
class FromItem:
    """One item of a dynamic output (or of a mapped node's output): the node is mapped."""

    node: str
    output: str


@dataclass(frozen=True)
class FromCollect:
    node: str
    output: str


@dataclass(frozen=True)
class FromGraphInput:
    name: str


@dataclass(frozen=True)
class FromMany:
    sources: tuple[InputSource, ...]


InputSource = FromOutput | FromItem | FromCollect | FromGraphInput | FromMany


@dataclass
class Node:
    name: str
    definition: Any  # OpDefinition | GraphDefinition
    inputs: dict[str, InputSource] = field(default_factory=dict)
    is_mapped: bool = False


# -- handles returned while composing ----------------------------------------------------
@dataclass(frozen=True)
class InvokedOutput:
    node: str
    output: str
    per_item: bool = False  # an item of a dynamic output, or an output of a mapped node


@dataclass(frozen=True)
class GraphInputHandle:
    name: str


@dataclass(frozen=True)
class CollectedOutput:
    node: str
    output: str


class InvokedDynamicOutput:
    """What calling an op with a DynamicOut (or `.map`) returns: `.map(fn)`, `.collect()`."""

    def __init__(self, composition: Composition, node: str, output: str):
        self._composition = composition
        self.node = node
        self.output = output

    def map(self, fn: Callable[[InvokedOutput], Any]) -> Any:
        result = fn(InvokedOutput(self.node, self.output, per_item=True))
        if isinstance(result, InvokedOutput) and result.per_item:
            return InvokedDynamicOutput(self._composition, result.node, result.output)
        if isinstance(result, tuple) and all(
            isinstance(r, InvokedOutput) and r.per_item for r in result
        ):
            return tuple(InvokedDynamicOutput(self._composition, r.node, r.output) for r in result)
        if result is None:
            return None
        raise DefinitionError(
            f"the function passed to {self.node}.map(...) must return the output of an op "
            f"called on the item, got {result!r}"
        )

    def collect(self) -> CollectedOutput:
        return CollectedOutput(self.node, self.output)


# -- the composition being recorded -------------------------------------------------------
_local = threading.local()


def current_composition() -> Composition | None:
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else None


class Composition:
    def __init__(self, owner: str):
        self.owner = owner
        self.nodes: dict[str, Node] = {}

    def __enter__(self) -> Composition:
        if not hasattr(_local, "stack"):
            _local.stack = []
        _local.stack.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _local.stack.pop()

    def _unique_name(self, name: str) -> str:
        if name not in self.nodes:
            return name
        n = 2
        while f"{name}_{n}" in self.nodes:
            n += 1
        return f"{name}_{n}"

    def _source(self, value: Any, where: str) -> tuple[InputSource, bool]:
        """Convert a handle to an input source; the flag says the node becomes mapped."""
        if isinstance(value, InvokedOutput):
            if value.per_item:
                return FromItem(value.node, value.output), True
            return FromOutput(value.node, value.output), False
        if isinstance(value, CollectedOutput):
            return FromCollect(value.node, value.output), False
        if isinstance(value, GraphInputHandle):
            return FromGraphInput(value.name), False
        if isinstance(value, InvokedDynamicOutput):
            raise DefinitionError(
                f"{where}: a dynamic output of {value.node!r} must go through "
                ".map(...) or .collect() before it is passed to another op"
            )
        if isinstance(value, (list, tuple)) and value:
            sources, mapped = zip(*(self._source(v, where) for v in value), strict=True)
            if any(mapped):
                raise DefinitionError(f"{where}: cannot fan in items of a dynamic output")
            return FromMany(tuple(sources)), False
        raise DefinitionError(
            f"{where}: inside a job or graph an op takes the outputs of other ops, "
            f"got {value!r}; pass constants through config instead"
        )

    def add_node(
        self, definition: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        node_name = self._unique_name(name)
        input_names = definition.input_names
        if len(args) > len(input_names):
            raise DefinitionError(
                f"{self.owner}: {name} takes {len(input_names)} inputs "
                f"({', '.join(input_names) or 'none'}), got {len(args)} positional arguments"
            )
        bound = dict(zip(input_names, args, strict=False))
        for key, value in kwargs.items():
            if key not in input_names:
                raise DefinitionError(
                    f"{self.owner}: {name} has no input {key!r}; its inputs are {input_names}"
                )
            if key in bound:
                raise DefinitionError(f"{self.owner}: input {key!r} of {name} given twice")
            bound[key] = value
        node = Node(node_name, definition)
        for key, value in bound.items():
            source, mapped = self._source(value, f"{self.owner}: input {key!r} of {node_name}")
            node.inputs[key] = source
            node.is_mapped = node.is_mapped or mapped
        self.nodes[node_name] = node
        return self._outputs_of(node)

    def _outputs_of(self, node: Node) -> Any:
        outs = node.definition.output_defs_by_name
        handles: dict[str, InvokedOutput | InvokedDynamicOutput] = {}
        for out_name, out in outs.items():
            if out.is_dynamic and node.is_mapped:
                raise DefinitionError(
                    f"{self.owner}: {node.name} is mapped over a dynamic output and has a "
                    "DynamicOut itself; nested dynamic fan-out is not supported"
                )
            if out.is_dynamic:
                handles[out_name] = InvokedDynamicOutput(self, node.name, out_name)
            else:
                handles[out_name] = InvokedOutput(node.name, out_name, per_item=node.is_mapped)
        if not handles:
            return None
        if len(handles) == 1:
            return next(iter(handles.values()))
        tuple_type = namedtuple(f"{node.name}_outputs", list(handles))  # type: ignore[misc]
        return tuple_type(**handles)


def run_composition(fn: Callable[..., Any], owner: str) -> tuple[dict[str, Node], Any, list[str]]:
    """Call a @job/@graph body; returns its nodes, its return value and its input names."""
    params = [
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    with Composition(owner) as composition:
        returned = fn(*(GraphInputHandle(name) for name in params))
    return composition.nodes, returned, params


def invoke_directly(op_def: OpDefinition, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Calling an op outside a job runs its function (Dagster's direct invocation)."""
    from opgraph.context import build_op_context

    call_args = list(args)
    if op_def.takes_context:
        if call_args and hasattr(call_args[0], "log"):
            context = call_args.pop(0)
        else:
            context = build_op_context()
        call_args.insert(0, context)
    return op_def.compute_fn(*call_args, **kwargs)
