"""Config field descriptions reach the snapshots the UI reads (its config table and the
launchpad's hover docs): Dagster's `Field(..., description=)`, `Shape(description=)`,
and pydantic `Config` classes' `Field(description=)`, field docstrings and class docstring."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from opgraph.workspace.base import JobSnapshot, LocationState
from opgraph.workspace.in_process import InProcessCodeLocation

JOBS = '''
from pydantic import Field as PydanticField
from opgraph import Config, Field, Shape, job, op


class Tuning(Config):
    """How the model is tuned."""

    rate: float = PydanticField(0.5, description="learning rate per step")
    label: str
    """the name the results are kept under"""
    plain: int = 1


@op(config_schema={
    "count": Field(int, description="how many rows to read"),
    "where": Field(
        Shape({"table": Field(str, description="the table read")}, description="the source"),
        description="where rows come from",
    ),
    "limit": Field(int, default_value=10, description="rows per batch"),
    "bare": str,
})
def dagster_style(context):
    return context.op_config["count"]


@op
def pydantic_style(config: Tuning):
    return config.rate


@op(config_schema=Field(int, description="a bare number"))
def bare_value(context):
    return context.op_config


@job
def described():
    dagster_style()
    pydantic_style()
    bare_value()
'''


@pytest.fixture
def job(write: Callable[[str, str], Path]) -> JobSnapshot:
    location = InProcessCodeLocation("jobs", {"python_file": str(write("jobs.py", JOBS))})
    assert location.status().state is LocationState.LOADED, location.status().error
    snapshot = location.job("described")
    # As the webserver gets it from a code server: through JSON.
    return JobSnapshot.from_json(json.loads(json.dumps(snapshot.to_json())))


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    return root["$defs"][ref.rsplit("/", 1)[-1]] if ref else schema


def test_dagster_field_descriptions_in_the_op_schema(job: JobSnapshot) -> None:
    schema = job.op("dagster_style").config_schema
    props = schema["properties"]
    assert props["count"]["description"] == "how many rows to read"
    assert props["limit"]["description"] == "rows per batch"
    assert props["limit"]["default"] == 10
    assert "description" not in props["bare"]
    # A nested Shape: the field's description beside its $ref, the Shape's on its model,
    # and the inner field's on the inner field.
    assert props["where"]["description"] == "where rows come from"
    shape = _resolve(props["where"], schema)
    assert shape["description"] == "the source"
    assert shape["properties"]["table"]["description"] == "the table read"
    # Descriptions do not change what is required.
    assert sorted(schema["required"]) == ["bare", "count", "where"]


def test_pydantic_config_descriptions_in_the_op_schema(job: JobSnapshot) -> None:
    schema = job.op("pydantic_style").config_schema
    assert schema["description"] == "How the model is tuned."
    props = schema["properties"]
    assert props["rate"]["description"] == "learning rate per step"
    assert props["label"]["description"] == "the name the results are kept under"
    assert "description" not in props["plain"]
    assert schema["required"] == ["label"]


def test_bare_value_description(job: JobSnapshot) -> None:
    assert job.op("bare_value").config_schema["description"] == "a bare number"
    ops = job.run_config_schema["properties"]["ops"]["properties"]
    assert ops["bare_value"]["properties"]["config"]["description"] == "a bare number"


def test_run_config_schema_carries_the_descriptions(job: JobSnapshot) -> None:
    root = job.run_config_schema
    jsonschema.Draft202012Validator.check_schema(root)
    ops = root["properties"]["ops"]["properties"]
    dagster = _resolve(ops["dagster_style"]["properties"]["config"], root)
    assert dagster["properties"]["count"]["description"] == "how many rows to read"
    assert dagster["properties"]["where"]["description"] == "where rows come from"
    tuning = _resolve(ops["pydantic_style"]["properties"]["config"], root)
    assert tuning["properties"]["rate"]["description"] == "learning rate per step"
    assert tuning["properties"]["label"]["description"] == "the name the results are kept under"
    # The descriptions leave validation as it was.
    validator = jsonschema.Draft202012Validator(root)
    good = {
        "ops": {
            "dagster_style": {"config": {"count": 1, "where": {"table": "t"}, "bare": "b"}},
            "pydantic_style": {"config": {"label": "x"}},
            "bare_value": {"config": 3},
        }
    }
    assert validator.is_valid(good)
    good["ops"]["pydantic_style"]["config"] = {}
    assert not validator.is_valid(good)
