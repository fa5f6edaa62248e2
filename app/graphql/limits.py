"""Limits on what one GraphQL request may ask for: size, tokens, depth and cost.

The request body size is capped by Flask (`MAX_CONTENT_LENGTH`, 413); the parser stops
after `MAX_TOKENS` tokens; the validation rules below refuse selections nested deeper
than `MAX_DEPTH`, counting through fragments (each fragment's depth is computed once,
so a fan of fragments spreading each other cannot make this exponential), and requests
whose cost is over the budget (`webserver.limits.max_query_cost`).

Cost: every field with a selection (an object or a list of objects) costs 1 plus what is
selected under it, times the list size it asks for: `limit`, `maxBytes` (one unit per
KiB: 60 aliases of `capturedLogs(maxBytes: 4194304)` once answered 252 MB), or the
length of a list argument (`runIds`). Aliases add up; values from variables count as
given, else the variable's or the argument's default. Scalars cost nothing, so the UI
can select what it likes; what multiplies is the number of rows and bytes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from graphql import (
    ExecutionContext,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLLeafType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
    get_named_type,
)
from graphql.language import OperationType

MAX_BODY_BYTES = 1024 * 1024
MAX_TOKENS = 20_000
# The introspection query GraphiQL sends nests 13 deep (ofType chains); leave room.
MAX_DEPTH = 20


def depth_limit_rule(max_depth: int) -> type[ValidationRule]:
    class DepthLimit(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            fragments = {
                definition.name.value: definition
                for definition in self.context.document.definitions
                if isinstance(definition, FragmentDefinitionNode)
            }
            depth = _Depth(fragments).of(node.selection_set)
            if depth > max_depth:
                name = node.name.value if node.name else "(anonymous)"
                self.report_error(
                    GraphQLError(
                        f"operation {name} nests {depth} levels deep; the limit is {max_depth}",
                        node,
                    )
                )

    return DepthLimit


class _Depth:
    def __init__(self, fragments: dict[str, FragmentDefinitionNode]):
        self.fragments = fragments
        self.memo: dict[str, int] = {}

    def of(self, selection_set: SelectionSetNode | None) -> int:
        if selection_set is None:
            return 0
        deepest = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                depth = 1 + self.of(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                depth = self.of(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                depth = self._fragment(selection.name.value)
            else:
                depth = 0
            deepest = max(deepest, depth)
        return deepest

    def _fragment(self, name: str) -> int:
        if name not in self.memo:
            fragment = self.fragments.get(name)
            self.memo[name] = 0  # a cycle counts as nothing; NoFragmentCyclesRule reports it
            self.memo[name] = self.of(fragment.selection_set) if fragment else 0
        return self.memo[name]


# Argument name -> units per value: a row per `limit`, a unit per KiB of `maxBytes`.
SIZE_ARGUMENTS = {"limit": 1.0, "maxBytes": 1 / 1024}
LIMIT_EXCEEDED = "LIMIT_EXCEEDED"  # `extensions.code` of a refusal by a limit


def cost_limit_rule(max_cost: int, variables: Mapping[str, Any] | None) -> type[ValidationRule]:
    """A rule for one request: `variables` are its raw variable values."""

    class CostLimit(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            schema = self.context.schema
            document = self.context.document
            fragments = {
                d.name.value: d
                for d in document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            defaults = {
                d.variable.name.value: d.default_value for d in node.variable_definitions or ()
            }
            cost = _Cost(schema, fragments, variables or {}, defaults).of(
                node.selection_set, _root_type(schema, node.operation)
            )
            if cost > max_cost:
                name = node.name.value if node.name else "(anonymous)"
                self.report_error(
                    GraphQLError(
                        f"operation {name} costs {cost}; the limit is {max_cost} (each object "
                        "costs 1, times the `limit`, KiB of `maxBytes` or ids it asks for; "
                        "set webserver.limits.max_query_cost to change it)",
                        node,
                        extensions={
                            "code": LIMIT_EXCEEDED,
                            "limit": "query cost",
                            "maximum": max_cost,
                            "setting": "webserver.limits.max_query_cost",
                        },
                    )
                )

    return CostLimit


def _root_type(schema: GraphQLSchema, operation: OperationType) -> GraphQLNamedType | None:
    if operation is OperationType.MUTATION:
        return schema.mutation_type
    if operation is OperationType.SUBSCRIPTION:
        return schema.subscription_type
    return schema.query_type


class _Cost:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        defaults: Mapping[str, Any],
    ):
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.defaults = defaults
        self.memo: dict[str, int] = {}

    def of(self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                named = self.schema.get_type(condition.name.value) if condition else parent
                total += self.of(selection.selection_set, named)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value)
        return total

    def _field(self, node: FieldNode, parent: GraphQLNamedType | None) -> int:
        if node.selection_set is None:
            return 0  # a scalar: free
        field = None
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            field = parent.fields.get(node.name.value)
        child = get_named_type(field.type) if field else None
        return self._multiplier(node, field) * (1 + self.of(node.selection_set, child))

    def _multiplier(self, node: FieldNode, field: Any) -> int:
        given = {argument.name.value: argument.value for argument in node.arguments or ()}
        multiplier = 1
        for name, unit in SIZE_ARGUMENTS.items():
            if field is None or name not in field.args:
                continue
            value = self._value(given.get(name), field.args[name].default_value)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                multiplier *= max(1, math.ceil(value * unit))
        for value_node in given.values():
            value = self._value(value_node, None)
            if isinstance(value, list):
                multiplier *= max(1, len(value))
        return multiplier

    def _value(self, node: Any, default: Any) -> Any:
        if isinstance(node, VariableNode):
            name = node.name.value
            if name in self.variables:
                return self.variables[name]
            node = self.defaults.get(name)
            if node is None:
                return default
        if isinstance(node, IntValueNode):
            return int(node.value)
        if isinstance(node, ListValueNode):
            return node.values
        return default if node is None else None

    def _fragment(self, name: str) -> int:
        if name not in self.memo:
            fragment = self.fragments.get(name)
            self.memo[name] = 0  # a cycle counts as nothing; NoFragmentCyclesRule reports it
            if fragment is not None:
                named = self.schema.get_type(fragment.type_condition.name.value)
                self.memo[name] = self.of(fragment.selection_set, named)
        return self.memo[name]


class AnswerTooLarge(BaseException):
    """Stops an execution whose answer outgrew `max_response_bytes` while it was built.

    A BaseException: graphql-core turns every Exception of a field into a null and an
    error and goes on building the rest of the answer, the very thing to stop."""

    def __init__(self, size: int, maximum: int):
        super().__init__(size, maximum)
        self.size, self.maximum = size, maximum

    def message(self) -> str:
        return (
            f"the answer grew past {self.size} bytes while it was built, the limit is "
            f"{self.maximum}; ask for less (a smaller limit or maxBytes, fewer aliases) or "
            "set webserver.limits.max_response_bytes"
        )


# The least JSON a leaf adds besides its value: `"k": ` and a separator (an object key
# is at least one letter). Counting no more than JSON will hold keeps every answer that
# fits the cap; the exact size is checked again once it is serialized (view.py).
_LEAF_OVERHEAD = 6


class BoundedExecutionContext(ExecutionContext):
    """graphql-core's execution with a running count of the answer's JSON bytes.

    Without it a hostile request was refused only once its whole answer had been built
    and serialized: 60 aliased pages of logs held hundreds of MB first. Each scalar's
    JSON length (a lower bound: keys count 1 letter, escapes 1 character) is added as it
    is completed, and the execution stops at `context_value.limits.max_response_bytes`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limits = getattr(self.context_value, "limits", None)
        self.answer_maximum: int | None = limits.max_response_bytes if limits else None
        self.answer_bytes = 0

    def complete_leaf_value(self, return_type: GraphQLLeafType, result: Any) -> Any:  # type: ignore[override]
        serialized = ExecutionContext.complete_leaf_value(return_type, result)
        if self.answer_maximum is not None:
            if isinstance(serialized, str):
                self.answer_bytes += len(serialized) + 2 + _LEAF_OVERHEAD
            else:  # numbers, booleans; a custom scalar's structure counts as one leaf
                self.answer_bytes += len(str(serialized)) + _LEAF_OVERHEAD
            if self.answer_bytes > self.answer_maximum:
                raise AnswerTooLarge(self.answer_bytes, self.answer_maximum)
        return serialized
