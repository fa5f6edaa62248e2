"""Declarative automation (Dagster's AutomationCondition): conditions on assets, and the
daemon part that evaluates them and requests runs (docs/automation.md)."""

from opgraph.automation.condition import AutomationCondition

__all__ = ["AutomationCondition"]
