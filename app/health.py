"""`/health`: for load balancers and `docker compose` health checks."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from opgraph.errors import OpgraphError
from opgraph_app.extension import current_instance
from opgraph_storage.base import SchemaOutOfDate, StorageUnreachable

health_blueprint = Blueprint("health", __name__)


@health_blueprint.get("/health")
def health() -> ResponseReturnValue:
    """200 when storage answers and its schema is current; 503 naming the problem otherwise."""
    try:
        storage = current_instance().storage  # opening it checks the schema revision
        storage.kv_get("opgraph/health")  # one cheap primary-key read proves it answers
    except SchemaOutOfDate as exc:
        return _unhealthy(storage="reachable", schema="out of date", reason=str(exc))
    except StorageUnreachable as exc:
        return _unhealthy(storage="unreachable", schema="unknown", reason=str(exc))
    except OpgraphError as exc:  # e.g. a broken instance.yaml
        return _unhealthy(storage="unknown", schema="unknown", reason=str(exc))
    except Exception as exc:  # a health check answers; it never turns into a 500
        reason = f"{type(exc).__name__}: {exc}"
        return _unhealthy(storage="error", schema="unknown", reason=reason)
    return jsonify(status="ok", storage="reachable", schema="current")


def _unhealthy(**fields: str) -> ResponseReturnValue:
    return jsonify(status="unhealthy", **fields), 503
