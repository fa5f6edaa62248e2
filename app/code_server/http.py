"""The code server's routes: a thin JSON layer over an `InProcessCodeLocation`."""

from __future__ import annotations

import os
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from opgraph.workspace.in_process import InProcessCodeLocation
from opgraph.workspace.protocol import PROTOCOL_VERSION, BadRequest, error_body

routes = Blueprint("code_server", __name__)


def _location() -> InProcessCodeLocation:
    return current_app.extensions["code_location"]  # type: ignore[no-any-return]


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True) if request.content_length else {}
    if not isinstance(data, dict):
        raise BadRequest("expected a JSON object as the request body")
    return data


def _field(data: dict[str, Any], name: str, types: tuple[type, ...], expected: str) -> Any:
    value = data.get(name)
    if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
        raise BadRequest(f"{name}: expected {expected}, given {value!r}")
    return value


@routes.get("/status")
def status() -> ResponseReturnValue:
    body = _location().status().to_json()
    body["server"] = {"pid": os.getpid(), "protocol": PROTOCOL_VERSION}
    return jsonify(body)


@routes.get("/snapshot")
def snapshot() -> ResponseReturnValue:
    """Everything the webserver lists, in one round trip; lists are empty unless LOADED."""
    location = _location()
    status = location.status()
    loaded = status.state.value == "LOADED"
    return jsonify(
        status=status.to_json(),
        jobs=[job.to_json() for job in location.jobs()] if loaded else [],
        schedules=[s.to_json() for s in location.schedules()] if loaded else [],
        sensors=[s.to_json() for s in location.sensors()] if loaded else [],
    )


@routes.get("/assets")
def assets() -> ResponseReturnValue:
    return jsonify(asset_nodes=_location().asset_nodes())


@routes.get("/jobs/<job_name>")
def job(job_name: str) -> ResponseReturnValue:
    return jsonify(_location().job(job_name).to_json())


@routes.get("/jobs/<job_name>/code_pointer")
def code_pointer(job_name: str) -> ResponseReturnValue:
    return jsonify(_location().code_pointer(job_name))


def _run_config() -> dict[str, Any] | None:
    return _field(_body(), "run_config", (dict,), "a JSON object (ops/resources/execution)")


@routes.post("/jobs/<job_name>/validate")
def validate(job_name: str) -> ResponseReturnValue:
    selection = _field(_body(), "op_selection", (list,), "a list of op selection clauses")
    if selection is not None and not all(isinstance(c, str) for c in selection):
        raise BadRequest(f"op_selection: expected a list of strings, given {selection!r}")
    return jsonify(errors=_location().validate_run_config(job_name, _run_config(), selection))


@routes.post("/jobs/<job_name>/execution_plan")
def execution_plan(job_name: str) -> ResponseReturnValue:
    return jsonify(_location().execution_plan(job_name, _run_config()))


@routes.post("/jobs/<job_name>/partition_runs")
def partition_runs(job_name: str) -> ResponseReturnValue:
    keys = _field(_body(), "partition_keys", (list,), "a list of partition keys")
    if keys is None or not all(isinstance(k, str) for k in keys):
        raise BadRequest(f"partition_keys: expected a list of strings, given {keys!r}")
    runs = _location().partition_runs(job_name, keys)
    return jsonify(runs=[run.to_json() for run in runs])


@routes.post("/schedules/<name>/evaluate")
def evaluate_schedule(name: str) -> ResponseReturnValue:
    body = _body()
    scheduled_time = _field(body, "scheduled_time", (int, float), "seconds since the epoch")
    if scheduled_time is None:
        raise BadRequest("scheduled_time: required (seconds since the epoch)")
    return jsonify(_location().evaluate_schedule(name, float(scheduled_time)).to_json())


@routes.post("/sensors/<name>/evaluate")
def evaluate_sensor(name: str) -> ResponseReturnValue:
    body = _body()
    cursor = _field(body, "cursor", (str,), "a string or null")
    last_run_key = _field(body, "last_run_key", (str,), "a string or null")
    return jsonify(_location().evaluate_sensor(name, cursor, last_run_key).to_json())


@routes.post("/reload")
def reload() -> ResponseReturnValue:
    return jsonify(_location().reload().to_json())


def _error(exc: Exception) -> ResponseReturnValue:
    if isinstance(exc, HTTPException):  # unknown route, wrong method: still JSON
        kind = "DefinitionNotFound" if exc.code == 404 else "BadRequest"
        message = f"{request.method} {request.path}: {exc.description}"
        return jsonify(error={"kind": kind, "message": message}), exc.code or 400
    body, status_code = error_body(exc)
    if status_code == 500:
        current_app.logger.exception("code server error on %s %s", request.method, request.path)
    return jsonify(body), status_code


def create_code_server_app(location: InProcessCodeLocation) -> Flask:
    app = Flask(__name__)
    app.extensions["code_location"] = location
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.register_blueprint(routes)
    app.register_error_handler(Exception, _error)
    return app
