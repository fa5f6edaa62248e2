"""The code server's HTTP/JSON protocol, shared by the server (opgraph_app.code_server) and the
client (opgraph.workspace.client).

Every response is JSON. Errors are `{"error": {"kind", "message", "errors"?}}` with the
HTTP status below, so the client raises the same exception the server caught.

| method | path | body | answer |
| --- | --- | --- | --- |
| GET | /status | | LocationStatus |
| GET | /snapshot | | {status, jobs, schedules, sensors} |
| GET | /assets | | {asset_nodes: [...]} (opgraph.assets.snapshot) |
| GET | /jobs/<job> | | JobSnapshot |
| GET | /jobs/<job>/code_pointer | | code pointer |
| POST | /jobs/<job>/validate | {run_config, op_selection?} | {errors: [...]} |
| POST | /jobs/<job>/execution_plan | {run_config} | plan |
| POST | /schedules/<name>/evaluate | {scheduled_time} | TickEvaluation |
| POST | /sensors/<name>/evaluate | {cursor, last_run_key} | TickEvaluation |
| POST | /reload | | LocationStatus |
"""

from __future__ import annotations

from typing import Any

from opgraph.errors import OpgraphError, RunConfigError
from opgraph.workspace.base import CodeLocationError, DefinitionNotFound

PROTOCOL_VERSION = 1

# error kind -> HTTP status
STATUS_FOR_KIND = {
    "BadRequest": 400,
    "DefinitionNotFound": 404,
    "CodeLocationError": 409,  # the location's code did not load
    "RunConfigError": 422,
    "InternalError": 500,
}


class BadRequest(OpgraphError):
    """A request the code server cannot take (wrong JSON shape); names field and expected."""


def error_body(exc: BaseException) -> tuple[dict[str, Any], int]:
    """The JSON error for an exception, and its HTTP status."""
    if isinstance(exc, RunConfigError):
        kind = "RunConfigError"
    elif isinstance(exc, DefinitionNotFound):
        kind = "DefinitionNotFound"
    elif isinstance(exc, CodeLocationError):
        kind = "CodeLocationError"
    elif isinstance(exc, BadRequest):
        kind = "BadRequest"
    else:
        kind = "InternalError"
    error: dict[str, Any] = {"kind": kind, "message": str(exc)}
    if isinstance(exc, RunConfigError):
        error["errors"] = list(exc.errors)
    return {"error": error}, STATUS_FOR_KIND[kind]


def raise_error(error: dict[str, Any], where: str) -> None:
    """Raise what the server reported, as the exception the server caught."""
    kind, message = error.get("kind"), str(error.get("message", ""))
    if kind == "RunConfigError":
        raise RunConfigError(list(error.get("errors") or [message]))
    if kind == "DefinitionNotFound":
        raise DefinitionNotFound(message)
    if kind == "BadRequest":
        raise CodeLocationError(f"{where} refused the request: {message}")
    if kind == "CodeLocationError":
        raise CodeLocationError(message)
    raise CodeLocationError(f"{where} failed: {message}")
