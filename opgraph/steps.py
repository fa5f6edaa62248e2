"""Concrete steps: what an executor runs. JSON-able, so they can travel as pointers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class UpstreamOutput:
    step_key: str
    output_name: str
    mapping_key: str | None = None  # the item of a DynamicOut
    run_id: str | None = None  # set when the output was made by an earlier (parent) run


@dataclass(frozen=True)
class StepInput:
    name: str
    sources: tuple[UpstreamOutput, ...]
    fan_in: bool = False  # the op receives a list (collect, or a list of outputs)


@dataclass(frozen=True)
class ExecutionStep:
    key: str
    handle: str
    mapping_key: str | None
    inputs: tuple[StepInput, ...]
    attempt: int = 0  # context.retry_number: 0 for the first attempt

    @property
    def upstream_step_keys(self) -> set[str]:
        return {source.step_key for step_input in self.inputs for source in step_input.sources}

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "handle": self.handle,
            "mapping_key": self.mapping_key,
            "attempt": self.attempt,
            "inputs": [
                {
                    "name": i.name,
                    "fan_in": i.fan_in,
                    "sources": [
                        [s.step_key, s.output_name, s.mapping_key, s.run_id] for s in i.sources
                    ],
                }
                for i in self.inputs
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecutionStep:
        return cls(
            key=data["key"],
            handle=data["handle"],
            mapping_key=data["mapping_key"],
            attempt=int(data["attempt"]),
            inputs=tuple(
                StepInput(
                    name=i["name"],
                    fan_in=bool(i["fan_in"]),
                    sources=tuple(UpstreamOutput(*s) for s in i["sources"]),
                )
                for i in data["inputs"]
            ),
        )


def step_key_for(handle: str, mapping_key: str | None) -> str:
    return f"{handle}[{mapping_key}]" if mapping_key is not None else handle
