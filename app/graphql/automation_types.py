"""GraphQL types of declarative automation: an asset's condition and its evaluations
(why the AUTOMATION daemon part did or did not request it), read from storage."""

from __future__ import annotations

from typing import Any

import graphene
from graphene.types.generic import GenericScalar

from opgraph_storage.automation_base import AutomationEvaluationRecord

MAX_EVALUATIONS_PAGE = 500


class AutomationCondition(graphene.ObjectType):
    label = graphene.String(description="e.g. eager, on_cron(0 * * * *, UTC)")
    name = graphene.String(required=True, description="the root operator or operand")
    condition = GenericScalar(required=True, description="the whole tree, as JSON")


class AutomationEvaluation(graphene.ObjectType):
    id = graphene.ID(required=True, description="pass as `beforeId` for the next page")
    evaluation_id = graphene.Int(required=True)
    timestamp = graphene.Float(required=True)
    num_requested = graphene.Int(required=True)
    requested_partition_keys = graphene.List(graphene.NonNull(graphene.String), required=True)
    reason = graphene.String(required=True, description="why it was or was not requested")
    condition = GenericScalar(
        required=True,
        description="the evaluated tree: each node's name, label, candidates and true count",
    )


def condition_info(node: dict[str, Any]) -> AutomationCondition | None:
    data = node.get("automation_condition")
    if data is None:
        return None
    from opgraph.automation.condition import condition_from_json

    condition = condition_from_json(data)
    return AutomationCondition(label=condition.label, name=condition.name, condition=data)


def evaluation(record: AutomationEvaluationRecord) -> AutomationEvaluation:
    return AutomationEvaluation(
        id=str(record.id),
        evaluation_id=record.evaluation_id,
        timestamp=record.timestamp,
        num_requested=record.num_requested,
        requested_partition_keys=record.data.get("requested_partitions", []),
        reason=record.data.get("reason", ""),
        condition=record.data.get("condition", {}),
    )
