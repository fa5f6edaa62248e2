"""Hooks: functions run after a step succeeds or fails (`success_hook`, `failure_hook`).

Attached with `@job(hooks={...})` (or by applying the hook to a job). They run in the
process that ran the step, right after its STEP_SUCCESS or its final STEP_FAILURE, so
every executor (in-process, multiprocess, Celery) runs them the same way. A hook that
raises does not change the step's outcome: an ENGINE_EVENT records the error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

HookKind = Literal["success", "failure"]


@dataclass
class HookContext:
    """What a hook function gets: the step, its op, config, resources and outcome."""

    run_id: str
    job_name: str
    step_key: str
    op: Any  # the OpDefinition
    op_config: Any
    resources: Any
    log: Any
    instance: Any
    hook_def: HookDefinition
    op_exception: BaseException | None = None
    op_output_values: dict[str, Any] | None = None

    @property
    def required_resource_keys(self) -> frozenset[str]:
        return self.hook_def.required_resource_keys

    @property
    def op_output_metadata(self) -> dict[str, Any]:
        return {}


class HookDefinition:
    def __init__(
        self,
        name: str,
        hook_fn: Callable[[HookContext], Any],
        kind: HookKind,
        required_resource_keys: Iterable[str] | None = None,
    ):
        self.name = name
        self.hook_fn = hook_fn
        self.kind = kind
        self.required_resource_keys = frozenset(required_resource_keys or ())

    def __call__(self, target: Any) -> Any:
        """`my_hook(job)` (or `@my_hook` above `@job`): the job with this hook added;
        `my_hook(context)`: call the function (tests)."""
        from opgraph.definitions.graph import JobDefinition

        if isinstance(target, JobDefinition):
            return target.with_hooks({self})
        return self.hook_fn(target)

    def __repr__(self) -> str:
        return f"<{self.kind}_hook {self.name}>"


def _hook_decorator(
    kind: HookKind,
    hook_fn: Callable[..., Any] | None,
    name: str | None,
    required_resource_keys: Iterable[str] | None,
) -> Any:
    def decorator(fn: Callable[..., Any]) -> HookDefinition:
        return HookDefinition(name or fn.__name__, fn, kind, required_resource_keys)

    return decorator(hook_fn) if hook_fn is not None else decorator


def success_hook(
    hook_fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    required_resource_keys: Iterable[str] | None = None,
) -> Any:
    """Run `fn(context)` after each step of the job that succeeds."""
    return _hook_decorator("success", hook_fn, name, required_resource_keys)


def failure_hook(
    hook_fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    required_resource_keys: Iterable[str] | None = None,
) -> Any:
    """Run `fn(context)` after each step of the job that fails for good (not on retries)."""
    return _hook_decorator("failure", hook_fn, name, required_resource_keys)


def hooks_of(job: Any, kind: HookKind) -> list[HookDefinition]:
    hooks = getattr(job, "hook_defs", ())
    return sorted((h for h in hooks if h.kind == kind), key=lambda h: h.name)


def run_hooks(
    hooks: list[HookDefinition],
    make_context: Callable[[HookDefinition], HookContext],
    report: Callable[[HookDefinition, BaseException | None], None],
) -> None:
    """Run each hook; `report(hook, error)` records its outcome (an error never escapes)."""
    for hook in hooks:
        try:
            hook.hook_fn(make_context(hook))
        except Exception as exc:  # a broken hook must not change the step's outcome
            report(hook, exc)
        else:
            report(hook, None)
