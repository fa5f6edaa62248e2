"""Limits on what one GraphQL request may ask for: size, tokens and depth.

The request body size is capped by Flask (`MAX_CONTENT_LENGTH`, 413); the parser stops
after `MAX_TOKENS` tokens; the validation rule below refuses selections nested deeper
than `MAX_DEPTH`, counting through fragments (each fragment's depth is computed once,
so a fan of fragments spreading each other cannot make this exponential).
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)

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
