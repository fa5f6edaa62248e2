import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from opgraph.instance import OpgraphInstance
from opgraph_app import create_app


@pytest.fixture
def instance_storage_url(storage_url: str) -> str:
    """The webserver's tests run on both storages (SQLite and PostgreSQL)."""
    return storage_url


@pytest.fixture
def instance(make_instance) -> OpgraphInstance:
    return make_instance()


@pytest.fixture
def app(instance: OpgraphInstance) -> Flask:
    return create_app(instance)


@pytest.fixture
def cli(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()
