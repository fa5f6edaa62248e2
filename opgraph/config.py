"""Op/resource config: Dagster-style `config_schema` dicts and pydantic `Config` classes.

Both end up as a pydantic model; run config is validated by one model per job (see
run_config.py) so that every problem is reported at once, by path.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Tag, create_model
from pydantic import Field as PydanticField

from opgraph import config_types as ct
from opgraph.errors import DefinitionError


class Config(BaseModel):
    """Base class for op and resource config (Dagster's `Config`).

    A field's docstring (a string literal under it) is its description, as Dagster reads
    it: the UI's config table and the launchpad's hover docs show it."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# Subclasses inherit this; set after the class is made because the base has no fields, and
# extracting its docstrings reads this module's source: 10-20 ms of every process start.
Config.model_config["use_attribute_docstrings"] = True


_REQUIRED = object()


class Field:
    """Dagster's `Field(config, default_value=..., is_required=..., description=...)`."""

    def __init__(
        self,
        config: Any,
        default_value: Any = _REQUIRED,
        is_required: bool | None = None,
        description: str | None = None,
    ):
        self.config = config
        self.default_value = default_value
        self.is_required = default_value is _REQUIRED if is_required is None else is_required
        self.description = description


class ConfigSchema:
    """A normalized op/resource config schema: a pydantic model, or a bare type, or none."""

    def __init__(self, model: type[BaseModel] | None, is_config_class: bool = False):
        self.model = model
        self.is_config_class = is_config_class

    @property
    def is_empty(self) -> bool:
        return self.model is None

    @property
    def has_required_fields(self) -> bool:
        if self.model is None:
            return False
        return any(field.is_required() for field in self.model.model_fields.values())

    def json_schema(self) -> dict[str, Any]:
        return {} if self.model is None else self.model.model_json_schema()


_VALUE_KEY = "value"  # a bare-type schema (config_schema=int) is wrapped in one field


def _python_type(schema: Any, name: str) -> Any:
    if isinstance(schema, dict):
        return _model_from_dict(schema, name)
    if isinstance(schema, list):
        if len(schema) != 1:
            raise DefinitionError(f"config schema list for {name!r} must hold one element type")
        return list[_python_type(schema[0], name)]  # type: ignore[misc]
    if isinstance(schema, ct.ConfigType):
        return _structured_type(schema, name)
    if schema is Any or isinstance(schema, type) or get_origin(schema) is not None:
        return schema  # typing generics (List[int], Optional[str]) are pydantic's to check
    raise DefinitionError(
        f"config schema for {name!r}: expected a type, dict, list or Field, got {schema!r}"
    )


def _structured_type(schema: ct.ConfigType, name: str) -> Any:
    """Dagster's config types as the pydantic types `_model_from_dict` builds models of."""
    if isinstance(schema, ct.Permissive):
        return _model_from_dict(schema.fields, name, extra="allow", doc=schema.description)
    if isinstance(schema, ct.Shape):
        return _model_from_dict(schema.fields, name, doc=schema.description)
    if isinstance(schema, ct.Selector):
        return _selector_type(schema, name)
    if isinstance(schema, ct.Array):
        return list[_python_type(schema.inner_type, name)]  # type: ignore[misc]
    if isinstance(schema, ct.Noneable):
        return _python_type(schema.inner_type, name) | None
    if isinstance(schema, ct.Enum):
        names = tuple(choice.config_value for choice in schema.enum_values)
        return Annotated[Literal[names], AfterValidator(schema.python_value)]  # type: ignore[valid-type]
    raise DefinitionError(f"config schema for {name!r}: unknown config type {schema!r}")


def _selector_type(schema: ct.Selector, name: str) -> Any:
    """Exactly one key: a union of single-field models, picked by the key that was given."""
    keys = list(schema.fields)
    choices = [
        Annotated[_model_from_dict({key: value}, f"{name}.{key}"), Tag(key)]
        for key, value in schema.fields.items()
    ]

    def given_key(raw: Any) -> str | None:
        if isinstance(raw, BaseModel):
            raw = raw.model_dump(exclude_unset=True)
        if isinstance(raw, dict) and len(raw) == 1 and next(iter(raw)) in keys:
            return str(next(iter(raw)))
        return None

    return Annotated[
        Union[tuple(choices)],  # noqa: UP007
        Discriminator(
            given_key,
            custom_error_type="selector",
            custom_error_message=f"expected exactly one of {keys}",
        ),
    ]


def _is_noneable(value: Any) -> bool:
    return isinstance(value, ct.Noneable) or (
        isinstance(value, Field) and isinstance(value.config, ct.Noneable)
    )


def _model_from_dict(
    schema: dict[str, Any],
    name: str,
    extra: Literal["forbid", "allow"] = "forbid",
    doc: str | None = None,
) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for key, value in schema.items():
        if isinstance(value, Field):
            annotation = _python_type(value.config, f"{name}.{key}")
            # The description goes into the JSON Schema (`description`) the UI reads.
            if value.default_value is not _REQUIRED:
                default = value.default_value
            elif value.is_required and not _is_noneable(value):
                default = ...
            else:
                annotation, default = annotation | None, None
            fields[key] = (annotation, PydanticField(default, description=value.description))
        elif _is_noneable(value):  # Dagster: a Noneable field may be left out (None)
            fields[key] = (_python_type(value, f"{name}.{key}"), None)
        else:
            fields[key] = (_python_type(value, f"{name}.{key}"), ...)
    return create_model(  # type: ignore[call-overload,no-any-return]
        f"{name}_config", __config__=ConfigDict(extra=extra), __doc__=doc, **fields
    )


def normalize_config_schema(schema: Any, name: str) -> ConfigSchema:
    """Turn whatever a user passed as config into a ConfigSchema."""
    if schema is None:
        return ConfigSchema(None)
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return ConfigSchema(schema, is_config_class=True)
    if isinstance(schema, dict):
        return ConfigSchema(_model_from_dict(schema, name))
    if isinstance(schema, Field):
        return ConfigSchema(_model_from_dict({_VALUE_KEY: schema}, name))
    return ConfigSchema(_model_from_dict({_VALUE_KEY: schema}, name))


def config_value(schema: ConfigSchema, validated: BaseModel | None) -> Any:
    """What user code sees: the Config instance, or plain dicts for config_schema."""
    if schema.model is None or validated is None:
        return None
    if schema.is_config_class:
        return validated
    dumped = validated.model_dump()
    if set(schema.model.model_fields) == {_VALUE_KEY} and _VALUE_KEY in dumped:
        return dumped[_VALUE_KEY]
    return dumped


def raw_for_model(schema: ConfigSchema, raw: Any) -> Any:
    """Wrap a bare value (config_schema=int → `config: 3`) for validation."""
    if (
        schema.model is not None
        and not schema.is_config_class
        and set(schema.model.model_fields) == {_VALUE_KEY}
        and not (isinstance(raw, dict) and set(raw) == {_VALUE_KEY})
    ):
        return {_VALUE_KEY: raw}
    return raw
