"""@op and OpDefinition."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Annotated, Any, get_origin

from pydantic import BaseModel

from opgraph.config import ConfigSchema, normalize_config_schema
from opgraph.definitions.io import In, Out
from opgraph.errors import DefinitionError
from opgraph.retries import RetryPolicy

_CONTEXT_NAMES = ("context", "_context", "ctx")


class OpDefinition:
    def __init__(
        self,
        compute_fn: Callable[..., Any],
        name: str,
        ins: Mapping[str, In],
        outs: Mapping[str, Out],
        config_schema: ConfigSchema,
        config_param: str | None,
        takes_context: bool,
        description: str | None = None,
        required_resource_keys: frozenset[str] = frozenset(),
        resource_params: Mapping[str, str] | None = None,
        tags: Mapping[str, Any] | None = None,
        retry_policy: RetryPolicy | None = None,
    ):
        self.compute_fn = compute_fn
        self.name = name
        self.ins = dict(ins)
        self.outs = dict(outs)
        self.config_schema = config_schema
        self.config_param = config_param
        self.takes_context = takes_context
        self.description = description
        self.resource_params = dict(resource_params or {})
        self.required_resource_keys = frozenset(required_resource_keys) | frozenset(
            self.resource_params.values()
        )
        self.tags = dict(tags or {})
        self.retry_policy = retry_policy

    @property
    def input_names(self) -> list[str]:
        return list(self.ins)

    @property
    def output_names(self) -> list[str]:
        return list(self.outs)

    @property
    def output_defs_by_name(self) -> dict[str, Out]:
        return self.outs

    def with_name(self, name: str) -> OpDefinition:
        return OpDefinition(
            self.compute_fn,
            name,
            self.ins,
            self.outs,
            self.config_schema,
            self.config_param,
            self.takes_context,
            self.description,
            self.required_resource_keys - frozenset(self.resource_params.values()),
            self.resource_params,
            self.tags,
            self.retry_policy,
        )

    def alias(self, name: str) -> _AliasedOp:
        return _AliasedOp(self, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from opgraph.definitions.composition import current_composition, invoke_directly

        composition = current_composition()
        if composition is None:
            return invoke_directly(self, args, kwargs)
        return composition.add_node(self, self.name, args, kwargs)

    def __repr__(self) -> str:
        return f"<op {self.name}>"


class _AliasedOp:
    def __init__(self, op_def: OpDefinition, alias: str):
        self.op_def = op_def
        self.alias = alias

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from opgraph.definitions.composition import current_composition

        composition = current_composition()
        if composition is None:
            raise DefinitionError(
                f"{self.op_def.name}.alias(...) can only be called in a job/graph"
            )
        return composition.add_node(self.op_def, self.alias, args, kwargs)


def _annotation(fn: Callable[..., Any], param: inspect.Parameter) -> Any:
    """The parameter's annotation, evaluated when it is a string (a job file with `from
    __future__ import annotations`); one that names what only type checkers import stays
    a string, as before."""
    annotation = param.annotation
    if not isinstance(annotation, str):
        return annotation
    try:
        # The user's own annotation, in the namespace of the module that wrote it.
        return eval(annotation, getattr(fn, "__globals__", {}))
    except Exception:
        return annotation


def _resource_param_names(fn: Callable[..., Any]) -> dict[str, str]:
    """Parameters annotated with a ConfigurableResource subclass are resources (Pythonic API)."""
    from opgraph.dagster_helpers import RESOURCE_PARAM
    from opgraph.resources import ConfigurableResource

    found = {}
    for param in inspect.signature(fn).parameters.values():
        annotation = _annotation(fn, param)
        if isinstance(annotation, type) and issubclass(annotation, ConfigurableResource):
            found[param.name] = param.name
        elif get_origin(annotation) is Annotated and RESOURCE_PARAM in annotation.__metadata__:
            found[param.name] = param.name  # ResourceParam[T]: a plain object as resource
    return found


def build_op(
    fn: Callable[..., Any],
    name: str | None = None,
    description: str | None = None,
    ins: Mapping[str, In] | None = None,
    out: Out | Mapping[str, Out] | None = None,
    config_schema: Any = None,
    required_resource_keys: set[str] | None = None,
    tags: Mapping[str, Any] | None = None,
    retry_policy: RetryPolicy | None = None,
) -> OpDefinition:
    op_name = name or fn.__name__
    params = list(inspect.signature(fn).parameters.values())
    takes_context = bool(params) and params[0].name in _CONTEXT_NAMES
    if takes_context:
        params = params[1:]
    config_param = None
    resource_params = _resource_param_names(fn)
    input_params = []
    for param in params:
        annotation = _annotation(fn, param)
        if (
            isinstance(annotation, type)
            and issubclass(annotation, BaseModel)
            and (param.name not in resource_params)
        ):
            if config_schema is not None:
                raise DefinitionError(
                    f"op {op_name!r} has both config_schema and a Config parameter; use one"
                )
            config_schema = annotation
            config_param = param.name
        elif param.name not in resource_params:
            input_params.append(param)

    declared_ins = dict(ins or {})
    unknown = set(declared_ins) - {p.name for p in input_params}
    nothing_ins = {k for k, v in declared_ins.items() if v.is_nothing}
    if unknown - nothing_ins:
        raise DefinitionError(
            f"op {op_name!r} declares ins {sorted(unknown - nothing_ins)} "
            "that are not parameters of its function"
        )
    all_ins: dict[str, In] = {}
    for param in input_params:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        spec = declared_ins.get(param.name)
        if spec is None:
            has_default = param.default is not inspect.Parameter.empty
            spec = In(default_value=param.default) if has_default else In()
        all_ins[param.name] = spec
    for key in nothing_ins:  # Nothing inputs are not function parameters
        all_ins.setdefault(key, declared_ins[key])

    if out is None:
        outs: dict[str, Out] = {"result": Out()}
    elif isinstance(out, Out):
        outs = {"result": out}
    else:
        outs = dict(out)

    return OpDefinition(
        compute_fn=fn,
        name=op_name,
        ins=all_ins,
        outs=outs,
        config_schema=normalize_config_schema(config_schema, op_name),
        config_param=config_param,
        takes_context=takes_context,
        description=description or inspect.getdoc(fn),
        required_resource_keys=frozenset(required_resource_keys or ()),
        resource_params=resource_params,
        tags=tags,
        retry_policy=retry_policy,
    )


def op(
    compute_fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    ins: Mapping[str, In] | None = None,
    out: Out | Mapping[str, Out] | None = None,
    config_schema: Any = None,
    required_resource_keys: set[str] | None = None,
    tags: Mapping[str, Any] | None = None,
    retry_policy: RetryPolicy | None = None,
) -> Any:
    """Dagster's `@op`, with or without arguments."""

    def decorator(fn: Callable[..., Any]) -> OpDefinition:
        return build_op(
            fn,
            name,
            description,
            ins,
            out,
            config_schema,
            required_resource_keys,
            tags,
            retry_policy,
        )

    if compute_fn is not None:
        return decorator(compute_fn)
    return decorator
