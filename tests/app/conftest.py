from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskCliRunner

from app import create_app
from opgraph.instance import OpgraphInstance

IN_MEMORY_LAUNCHER = {"module": "launchers.testing", "class": "InMemoryRunLauncher"}


@pytest.fixture
def make_instance(tmp_path: Path, storage_url: str) -> Iterator[Callable[..., OpgraphInstance]]:
    """Instances over the parametrized storage (SQLite and PostgreSQL), via instance.yaml."""
    created: list[OpgraphInstance] = []

    def make(coordinator: Any = "immediate", launcher: Any = IN_MEMORY_LAUNCHER) -> OpgraphInstance:
        home = tmp_path / "home"
        home.mkdir(exist_ok=True)
        config = {
            "storage": {"url": storage_url},
            "run_coordinator": coordinator,
            "run_launcher": launcher,
        }
        (home / "instance.yaml").write_text(yaml.safe_dump(config))
        instance = OpgraphInstance.get(home)
        created.append(instance)
        return instance

    yield make
    for instance in created:
        instance.dispose()


@pytest.fixture
def instance(make_instance) -> OpgraphInstance:
    return make_instance()


@pytest.fixture
def app(instance: OpgraphInstance) -> Flask:
    return create_app(instance)


@pytest.fixture
def cli(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()
