"""The live streams' fan-out (opgraph_app.event_hub) on SQLite: order, lag, the cap.

The same code on PostgreSQL and a real gunicorn server: tests/web/test_serving_limits.py."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from opgraph_app import event_hub
from opgraph_app.event_hub import EventHub, StreamsExhausted
from opgraph_app.live import _stream
from opgraph_storage import create_storage
from opgraph_storage.records import EventRecord, RunRecord, RunStatus


@pytest.fixture
def storage(tmp_path: Path):
    created = create_storage(f"sqlite:///{tmp_path / 'opgraph.db'}")
    created.add_run(RunRecord(run_id="r1", job_name="j", status=RunStatus.STARTED))
    yield created
    created.dispose()


def _succeed(storage) -> None:
    event = EventRecord("r1", "RUN_SUCCESS", time.time())
    storage.append_run_event(event, RunStatus.SUCCESS, [RunStatus.STARTED], lambda _: None)


def _read(stream, into: list[str], done: threading.Event) -> None:
    for chunk in stream:
        into.append(chunk)
    done.set()


def test_every_stream_gets_every_event_in_order_even_past_the_buffer(storage, monkeypatch):
    monkeypatch.setattr(event_hub, "BUFFER_EVENTS", 5)  # streams fall behind it
    hub = EventHub(storage, max_streams=10)
    readers = []
    for _ in range(3):
        chunks: list[str] = []
        done = threading.Event()
        thread = threading.Thread(
            target=_read, args=(_stream(hub, storage, "r1", None), chunks, done)
        )
        thread.start()
        readers.append((chunks, done, thread))

    for batch in range(8):  # bursts larger than the buffer
        storage.store_events(
            [EventRecord("r1", "LOG", time.time(), message=f"m{batch}-{i}") for i in range(7)]
        )
    _succeed(storage)

    expected = [f"m{batch}-{i}" for batch in range(8) for i in range(7)]
    for chunks, done, thread in readers:
        assert done.wait(60), chunks[-3:]
        thread.join()
        text = "".join(chunks)
        positions = [text.index(f'"{message}"') for message in expected]
        assert positions == sorted(positions)  # all of them, in order, each once
        assert all(text.count(f'"{message}"') == 1 for message in expected)
        assert text.count("RUN_SUCCESS") == 1 and text.endswith("event: end\ndata: {}\n\n")


def test_a_finished_run_past_its_end_answers_without_waiting(storage):
    _succeed(storage)
    hub = EventHub(storage, max_streams=10)
    chunks = list(_stream(hub, storage, "r1", 2**63 - 1))
    assert chunks[-1] == "event: end\ndata: {}\n\n" and not any("run_event" in c for c in chunks)


def test_stream_cap_and_release():
    hub = EventHub(storage=None, max_streams=2)  # type: ignore[arg-type]
    first, second = hub.open_stream(), hub.open_stream()
    with pytest.raises(StreamsExhausted):
        hub.open_stream()
    first()
    first()  # released once only
    assert hub.open_streams == 1
    third = hub.open_stream()
    with pytest.raises(StreamsExhausted):
        hub.open_stream()
    second()
    third()
    assert hub.open_streams == 0


def test_a_cursor_past_the_end_starts_no_follower_others_cannot_use(storage):
    hub = EventHub(storage, max_streams=10)
    far, far_done = [], threading.Event()
    far_reader = threading.Thread(
        target=_read, args=(_stream(hub, storage, "r1", 2**63 - 1), far, far_done)
    )
    far_reader.start()
    near, near_done = [], threading.Event()
    near_reader = threading.Thread(
        target=_read, args=(_stream(hub, storage, "r1", None), near, near_done)
    )
    near_reader.start()
    storage.store_events([EventRecord("r1", "LOG", time.time(), message="hello")])
    _succeed(storage)

    assert near_done.wait(60) and far_done.wait(60)
    near_reader.join()
    far_reader.join()
    assert '"hello"' in "".join(near) and "RUN_SUCCESS" in "".join(near)
    assert not any("run_event" in chunk for chunk in far) and far[-1].startswith("event: end")
