"""Live run events for the UI: `GET /runs/<run_id>/events` as server-sent events.

Each stream waits on the storage's event watcher (LISTEN/NOTIFY on PostgreSQL: one
listening connection per webserver process, shared by every stream), so an idle stream
costs a sleeping thread, not queries. A stream ends after the run's last event, or after
MAX_STREAM_SECONDS; the browser's EventSource then reconnects with `Last-Event-ID` and
picks up where it left off.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import asdict

from flask import Blueprint, Response, jsonify, request, stream_with_context
from flask.typing import ResponseReturnValue

from opgraph_app.extension import current_instance
from opgraph_storage.base import Storage
from opgraph_storage.records import FINISHED_STATUSES, EventRecord

live_blueprint = Blueprint("live", __name__)

RUN_END_EVENTS = frozenset({"RUN_SUCCESS", "RUN_FAILURE", "RUN_CANCELED"})
PAGE = 1000
WAIT_SECONDS = 15.0  # also the keep-alive interval for proxies
MAX_STREAM_SECONDS = 300.0


@live_blueprint.get("/runs/<run_id>/events")
def run_events(run_id: str) -> ResponseReturnValue:
    storage = current_instance().storage
    if storage.get_run(run_id) is None:
        return jsonify(errors=[{"message": f"no run with id {run_id!r}"}]), 404
    after = request.headers.get("Last-Event-ID") or request.args.get("after")
    if after is not None and (not after.isdigit() or len(after) > 19):
        message = f"after / Last-Event-ID: expected an event cursor (digits), given {after!r}"
        return jsonify(errors=[{"message": message}]), 400
    after_id = int(after) if after is not None else None
    stream = _stream(storage, run_id, after_id)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy buffering
    return Response(stream_with_context(stream), mimetype="text/event-stream", headers=headers)


def _message(event: EventRecord) -> str:
    data = json.dumps(asdict(event), default=str)
    return f"id: {event.storage_id}\nevent: run_event\ndata: {data}\n\n"


def _stream(storage: Storage, run_id: str, after_id: int | None) -> Iterator[str]:
    deadline = time.monotonic() + MAX_STREAM_SECONDS
    yield "retry: 1000\n\n"  # reconnect after a second when the stream ends
    while time.monotonic() < deadline:
        # Catch up page by page, then wait for new events.
        events = storage.get_events(run_id, after_id=after_id, limit=PAGE)
        if not events:
            events = storage.wait_for_events(run_id, after_id, WAIT_SECONDS)
        for event in events:
            yield _message(event)
        if events:
            after_id = events[-1].storage_id
        if any(event.event_type in RUN_END_EVENTS for event in events):
            yield "event: end\ndata: {}\n\n"
            return
        if not events:
            run = storage.get_run(run_id)
            if run is None or run.status in FINISHED_STATUSES:
                yield "event: end\ndata: {}\n\n"  # deleted, or ended without an end event
                return
            yield ": keep-alive\n\n"
