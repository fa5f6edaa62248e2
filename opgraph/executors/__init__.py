"""Executors run the steps of a run; each is a thin loop around ActiveExecution."""

from opgraph.executors.definitions import (
    ExecutorDefinition,
    in_process_executor,
    multi_or_in_process_executor,
    multiprocess_executor,
)

__all__ = [
    "ExecutorDefinition",
    "in_process_executor",
    "multi_or_in_process_executor",
    "multiprocess_executor",
]
