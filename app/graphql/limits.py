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
from functools import partial
from typing import Any

from graphene.types.resolver import dict_or_attr_resolver
from graphql import (
    ExecutionContext,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLLeafType,
    GraphQLNamedType,
    GraphQLNonNull,
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
    get_nullable_type,
    is_leaf_type,
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

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Any,
        fields: dict[str, list[FieldNode]],
    ) -> Any:
        """A scalar read straight off its object (graphene's default resolver, no
        arguments) skips the path, resolve info and argument coercion it never uses: a
        page of 50 runs with 10 tags each has about 1,200 of them. A null, an error or a
        value its scalar refuses goes the general way, which reports it."""
        if self.middleware_manager is not None:
            return super().execute_fields(parent_type, source_value, path, fields)
        results: dict[str, Any] = {}
        general: dict[str, list[FieldNode]] = {}
        for response_name, field_nodes in fields.items():
            plain = _plain_leaf(parent_type, field_nodes[0])
            if plain is not None:
                name, default, leaf_type, nullable = plain
                if isinstance(source_value, dict):
                    value = source_value.get(name, default)
                else:
                    value = getattr(source_value, name, default)
                if value is None and nullable:
                    results[response_name] = None
                    continue
                if value is not None and not isinstance(value, Exception):
                    try:
                        results[response_name] = self.complete_leaf_value(leaf_type, value)
                        continue
                    except Exception:  # the general path reports it
                        pass
            general[response_name] = field_nodes
        if not general:
            return results
        rest: Any = super().execute_fields(parent_type, source_value, path, general)
        if self.is_awaitable(rest):  # not on this synchronous server; kept correct

            async def merged() -> dict[str, Any]:
                return _in_order(fields, results | await rest)

            return merged()
        return _in_order(fields, results | rest)

    def complete_list_value(
        self,
        return_type: Any,
        field_nodes: list[FieldNode],
        info: Any,
        path: Any,
        result: Any,
    ) -> Any:
        """A list of objects that asks only for plain scalars (`tags { key value }`) is
        built row by row without completing each object as a field of its own. Anything
        else, or a row the fast way cannot answer exactly, goes the general way."""
        rows = self._plain_rows(return_type, field_nodes, result)
        if rows is not None:
            return rows
        return super().complete_list_value(return_type, field_nodes, info, path, result)

    def _plain_rows(
        self, return_type: Any, field_nodes: list[FieldNode], result: Any
    ) -> list[dict[str, Any]] | None:
        if self.middleware_manager is not None or not isinstance(result, (list, tuple)):
            return None
        item_type = get_nullable_type(return_type.of_type)
        if not isinstance(item_type, GraphQLObjectType) or item_type.is_type_of is not None:
            return None
        columns: list[tuple[str, Any, Any, GraphQLLeafType | None, bool]] = []
        for response_name, nodes in self.collect_subfields(item_type, field_nodes).items():
            if nodes[0].name.value == "__typename":
                columns.append((response_name, None, None, None, False))
                continue
            plain = _plain_leaf(item_type, nodes[0])
            if plain is None:
                return None
            columns.append((response_name, *plain))
        counted = self.answer_bytes
        rows = []
        try:
            for item in result:
                row: dict[str, Any] = {}
                is_dict = isinstance(item, dict)
                for response_name, name, default, leaf_type, nullable in columns:
                    if leaf_type is None:
                        row[response_name] = item_type.name
                        continue
                    value = item.get(name, default) if is_dict else getattr(item, name, default)
                    if value is None and nullable:
                        row[response_name] = None
                        continue
                    if value is None or isinstance(value, Exception):
                        raise _NotPlain
                    row[response_name] = self.complete_leaf_value(leaf_type, value)
                rows.append(row)
        except Exception:  # _NotPlain, a value its scalar refuses: reported the general way
            self.answer_bytes = counted
            return None
        return rows

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


def _in_order(fields: dict[str, list[FieldNode]], results: dict[str, Any]) -> dict[str, Any]:
    """The answer's keys in the order of the selection, as graphql-core gives them."""
    return {key: results[key] for key in fields if key in results}


class _NotPlain(Exception):
    """A row the fast way of `BoundedExecutionContext` leaves to graphql-core."""


_Plain = tuple[str, Any, GraphQLLeafType, bool]
_PLAIN_LEAVES: dict[tuple[GraphQLObjectType, str], _Plain | None] = {}


def _plain_leaf(parent_type: GraphQLObjectType, node: FieldNode) -> _Plain | None:
    """(attribute, default, scalar type, nullable) when the field is a scalar of graphene's default
    resolver asked for without arguments; else None. Remembered per schema type and field
    name (a schema's types live as long as the process)."""
    if node.arguments:
        return None
    key = (parent_type, node.name.value)
    try:
        return _PLAIN_LEAVES[key]
    except KeyError:
        pass
    plain = None
    field = parent_type.fields.get(node.name.value)
    resolve = field.resolve if field is not None else None
    if (
        field is not None
        and isinstance(resolve, partial)
        and resolve.func is dict_or_attr_resolver
        and len(resolve.args) == 2
        and not resolve.keywords
    ):
        leaf_type = get_nullable_type(field.type)
        if is_leaf_type(leaf_type):
            nullable = not isinstance(field.type, GraphQLNonNull)
            plain = (resolve.args[0], resolve.args[1], leaf_type, nullable)
    _PLAIN_LEAVES[key] = plain
    return plain
