"""The JSON a step task carries: pointers only (run, attempt, step, code), never values."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from opgraph.steps import ExecutionStep

NonEmpty = Annotated[str, Field(min_length=1)]


class StepPayload(BaseModel):
    """Validated on the worker: a malformed message is rejected, never half-run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str = Field(min_length=1)
    attempt_id: str = Field(min_length=1)
    step: dict[str, Any]
    code_pointer: dict[str, Any]
    job_name: str = Field(min_length=1)
    timeout_seconds: float | None = None
    # Upstream asset key -> the data version this run materialized for it, when the run
    # worker knows it (data_versions.DispatchedVersions): a hash, not a value.
    asset_versions: dict[NonEmpty, NonEmpty] = Field(default_factory=dict)

    def execution_step(self) -> ExecutionStep:
        return ExecutionStep.from_dict(self.step)
