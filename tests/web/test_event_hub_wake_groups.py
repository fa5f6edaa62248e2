"""The follower wakes its streams group after group (opgraph_app.event_hub): with more
streams than one group, every stream still gets every event once, in order, and its end."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from opgraph_app import event_hub
from opgraph_app.event_hub import EventHub, RunFollower
from opgraph_app.live import _stream
from opgraph_storage import create_storage
from opgraph_storage.records import EventRecord, RunRecord, RunStatus


@pytest.fixture
def storage(tmp_path: Path):
    created = create_storage(f"sqlite:///{tmp_path / 'opgraph.db'}")
    created.add_run(RunRecord(run_id="r1", job_name="j", status=RunStatus.STARTED))
    yield created
    created.dispose()


def _read(stream, into: list[str], done: threading.Event) -> None:
    for chunk in stream:
        into.append(chunk)
    done.set()


def test_streams_in_every_wake_group_get_every_event(storage, monkeypatch):
    monkeypatch.setattr(event_hub, "WAKE_SLOTS", 4)
    monkeypatch.setattr(event_hub, "WAKE_GROUP", 2)  # a pause between most groups
    monkeypatch.setattr(event_hub, "BUFFER_EVENTS", 8)  # and streams fall behind it
    hub = EventHub(storage, max_streams=50)
    readers = []
    for _ in range(13):  # groups of 3 and 4
        chunks: list[str] = []
        done = threading.Event()
        thread = threading.Thread(
            target=_read, args=(_stream(hub, storage, "r1", None), chunks, done)
        )
        thread.start()
        readers.append((chunks, done, thread))

    expected = []
    for batch in range(6):
        messages = [f"m{batch}-{i}" for i in range(batch + 1)]  # 1 to 6 events at once
        storage.store_events([EventRecord("r1", "LOG", time.time(), message=m) for m in messages])
        expected += messages
    event = EventRecord("r1", "RUN_SUCCESS", time.time())
    storage.append_run_event(event, RunStatus.SUCCESS, [RunStatus.STARTED], lambda _: None)

    for chunks, done, thread in readers:
        assert done.wait(60), chunks[-3:]
        thread.join()
        text = "".join(chunks)
        positions = [text.index(f'"{message}"') for message in expected]
        assert positions == sorted(positions)
        assert all(text.count(f'"{message}"') == 1 for message in expected)
        assert text.count("RUN_SUCCESS") == 1 and text.endswith("event: end\ndata: {}\n\n")


def _record(storage_id: int) -> EventRecord:
    return EventRecord("r1", "LOG", 0.0, message=f"m{storage_id}", storage_id=storage_id)


def test_a_cursor_gets_the_events_after_it_or_none_once_the_buffer_left_it(monkeypatch):
    monkeypatch.setattr(event_hub, "BUFFER_EVENTS", 3)
    follower = RunFollower(EventHub(None, max_streams=1), "r1", None)  # type: ignore[arg-type]
    follower._publish([_record(i) for i in (2, 4, 6)], finished=False)
    text, cursor = follower.events_after(3, 0) or ("", None)
    assert cursor == 6 and '"m4"' in text and '"m6"' in text and '"m2"' not in text
    assert follower.events_after(6, 0) == ("", 6)  # nothing newer: waited, then nothing

    follower._publish([_record(8)], finished=False)  # the buffer keeps 4, 6, 8
    assert follower.events_after(1, 0) is None  # 2 left it: read storage
    assert follower.covers(2) and not follower.covers(1)
    text, cursor = follower.events_after(2, 0) or ("", None)
    assert cursor == 8 and [m for m in ("m4", "m6", "m8") if f'"{m}"' in text] == ["m4", "m6", "m8"]

    assert not follower.finished_at(8)
    follower._publish([], finished=True)  # finished with no end event: its streams end
    assert follower.finished_at(8) and not follower.finished_at(6)
