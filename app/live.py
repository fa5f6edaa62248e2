"""Live run events for the UI: `GET /runs/<run_id>/events` as server-sent events.

A stream catches up from storage page by page, then waits on its run's follower
(`opgraph_app.event_hub`): one per watched run per process, which waits for new events
once (LISTEN/NOTIFY on PostgreSQL) and wakes every stream of that run. Under
`opgraph webserver` (gunicorn's gevent worker) a waiting stream is a sleeping greenlet,
not a thread, so hundreds of viewers leave /health and /graphql answering; the number of
streams per process is still capped (`webserver.max_streams`, 503 with Retry-After past
it). A stream ends after the run's last event, or after MAX_STREAM_SECONDS; the browser's
EventSource then reconnects with `Last-Event-ID` and picks up where it left off.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context
from flask.typing import ResponseReturnValue

from opgraph_app.event_hub import RUN_END_EVENTS, EventHub, StreamsExhausted, sse_message
from opgraph_app.extension import OpgraphExtension
from opgraph_storage.base import Storage
from opgraph_storage.records import FINISHED_STATUSES

live_blueprint = Blueprint("live", __name__)

PAGE = 1000
WAIT_SECONDS = 15.0  # also the keep-alive interval for proxies
MAX_STREAM_SECONDS = 300.0
MAX_CURSOR = 2**63 - 1  # event ids are BIGINT
RETRY_AFTER_SECONDS = 5  # told to a client refused for the stream cap
# Run ids are UUIDs; others (tests, imports) are names. Checked before any query, so a NUL
# byte or a 10 KB path segment is a 400 and never reaches the database.
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")


@live_blueprint.get("/runs/<path:run_id>/events")
def run_events(run_id: str) -> ResponseReturnValue:
    if not RUN_ID.fullmatch(run_id):
        shown = run_id if len(run_id) <= 64 else run_id[:64] + "..."
        message = (
            f"run_id: expected 1-128 letters, digits, '_', '.', ':' or '-' (a run id), "
            f"given {shown!r}"
        )
        return _error(400, message)
    after = request.headers.get("Last-Event-ID") or request.args.get("after")
    if after is not None and (not after.isdigit() or len(after) > 19 or int(after) > MAX_CURSOR):
        shown = after if len(after) <= 64 else after[:64] + "..."
        return _error(
            400, f"after / Last-Event-ID: expected an event cursor (digits), given {shown!r}"
        )
    extension: OpgraphExtension = current_app.extensions["opgraph"]
    storage = extension.instance.storage
    if storage.get_run(run_id) is None:
        return _error(404, f"no run with id {run_id!r}")
    hub = extension.event_hub
    try:
        release = hub.open_stream()
    except StreamsExhausted:
        message = (
            f"this webserver process already serves {hub.max_streams} live streams "
            f"(webserver.max_streams); retry in {RETRY_AFTER_SECONDS} s"
        )
        response = _error(503, message)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    after_id = int(after) if after is not None else None
    stream = _stream(hub, storage, run_id, after_id)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy buffering
    response = Response(stream_with_context(stream), mimetype="text/event-stream", headers=headers)
    response.call_on_close(release)  # also when the client goes away mid-stream
    return response


def _error(status: int, message: str) -> Response:
    response = jsonify(errors=[{"message": message}])
    response.status_code = status
    return response


END = "event: end\ndata: {}\n\n"


def _stream(hub: EventHub, storage: Storage, run_id: str, after_id: int | None) -> Iterator[str]:
    deadline = time.monotonic() + MAX_STREAM_SECONDS
    cursor = after_id
    # A follower starts where its first stream caught up, so only a cursor that names an
    # event read here may start one: `?after=<huge>` must not start a follower no other
    # stream can use.
    cursor_seen = after_id is None
    yield "retry: 1000\n\n"  # reconnect after a second when the stream ends
    while time.monotonic() < deadline:
        events = storage.get_events(run_id, after_id=cursor, limit=PAGE)  # catch up
        if events:
            yield "".join(sse_message(event) for event in events)
            cursor = events[-1].storage_id
            cursor_seen = True
            if any(event.event_type in RUN_END_EVENTS for event in events):
                yield END
                return
            continue
        if _has_ended(storage, run_id):  # e.g. ?after=<a cursor past its end>: answer now
            if storage.get_events(run_id, after_id=cursor, limit=1):
                continue  # it ended after the read above: send those events first
            yield END
            return
        if not cursor_seen and not hub.has_follower(run_id):
            if not storage.wait_for_events(run_id, cursor, WAIT_SECONDS):
                yield ": keep-alive\n\n"
            continue
        with hub.follow(run_id, cursor) as (follower, slot):
            if not follower.covers(cursor):
                # The follower started later than this stream's cursor: wait on storage
                # once, then catch up again.
                storage.wait_for_events(run_id, cursor, WAIT_SECONDS)
                continue
            while time.monotonic() < deadline:
                batch = follower.events_after(cursor, WAIT_SECONDS, slot)
                if batch is None:
                    break  # fell behind the follower's buffer: catch up from storage
                text, cursor = batch
                if text:  # one write for the batch, the same text for every stream
                    yield text
                if follower.finished_at(cursor):
                    yield END
                    return
                if not text:
                    yield ": keep-alive\n\n"


def _has_ended(storage: Storage, run_id: str) -> bool:
    """The run is gone, or finished with its end event stored: nothing more will come."""
    run = storage.get_run(run_id)
    if run is None:
        return True
    if run.status not in FINISHED_STATUSES:
        return False
    return bool(storage.get_events(run_id, event_types=sorted(RUN_END_EVENTS), limit=1))
