"""db_io_manager: outputs in the instance's database, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from opgraph.resources import DatabaseIOManager, InputContext, OutputContext


class CountingStorage:
    """The real storage, counting the reads that reach it."""

    def __init__(self, storage: Any):
        self.storage = storage
        self.reads = 0

    def put_output(self, *args: Any) -> None:
        self.storage.put_output(*args)

    def get_output(self, *args: Any) -> bytes | None:
        self.reads += 1
        return self.storage.get_output(*args)

    def get_outputs(self, keys: Any) -> dict[Any, bytes]:
        self.reads += 1
        return self.storage.get_outputs(keys)


def _input_of(upstream: OutputContext, step_key: str) -> InputContext:
    return InputContext(name="x", step_key=step_key, upstream_output=upstream)


def test_a_shared_input_is_read_from_the_database_once_per_worker(storage) -> None:
    counting = CountingStorage(storage)
    manager = DatabaseIOManager(counting)
    origin = OutputContext(step_key="start", name="result", run_id="r1")
    manager.handle_output(origin, {"rows": [1, 2, 3]})

    loaded = [manager.load_input(_input_of(origin, f"leaf_{i}")) for i in range(50)]

    assert counting.reads == 1
    assert all(value == {"rows": [1, 2, 3]} for value in loaded)
    loaded[0]["rows"].append(4)  # each step gets its own object
    assert manager.load_input(_input_of(origin, "leaf_50")) == {"rows": [1, 2, 3]}
    # Another worker process (another manager) reads the same stored value.
    assert DatabaseIOManager(storage).load_input(_input_of(origin, "x")) == {"rows": [1, 2, 3]}


def test_large_outputs_are_not_kept_and_missing_ones_are_an_error(storage) -> None:
    counting = CountingStorage(storage)
    manager = DatabaseIOManager(counting)
    big = OutputContext(step_key="big", name="result", run_id="r1")
    manager.handle_output(big, b"x" * (DatabaseIOManager.CACHED_OUTPUT_MAX_BYTES + 1))
    for step in ("a", "b"):
        manager.load_input(_input_of(big, step))
    assert counting.reads == 2
    missing = OutputContext(step_key="never_ran", name="result", run_id="r1")
    with pytest.raises(KeyError, match="no stored output 'result' of step 'never_ran'"):
        manager.load_input(_input_of(missing, "a"))


def test_a_fan_in_reads_its_upstream_outputs_in_one_query(storage) -> None:
    counting = CountingStorage(storage)
    manager = DatabaseIOManager(counting)
    leaves = [OutputContext(step_key=f"leaf_{i}", name="result", run_id="r1") for i in range(600)]
    mapped = OutputContext(step_key="fan", name="result", run_id="r1", mapping_key="k1")
    for i, leaf in enumerate(leaves):
        manager.handle_output(leaf, i)
    manager.handle_output(mapped, "mapped")
    upstreams = [*leaves, mapped]

    manager.prefetch_outputs(upstreams)
    assert counting.reads == 1  # 601 outputs, one call (the storage reads them in chunks)
    loaded = [manager.load_input(_input_of(upstream, "gather")) for upstream in upstreams]
    assert counting.reads == 1
    assert loaded == [*range(600), "mapped"]
    # Prefetched values are used once: a later load reads the database again.
    assert manager.load_input(_input_of(leaves[0], "again")) == 0
    assert counting.reads == 2


def test_get_outputs_leaves_out_what_is_not_stored(storage) -> None:
    storage.put_output("r1", "s", "result", None, b"plain")
    storage.put_output("r1", "s", "result", "k", b"mapped")
    found = storage.get_outputs(
        [("r1", "s", "result", None), ("r1", "s", "result", "k"), ("r1", "t", "result", None)]
    )
    assert found == {("r1", "s", "result", None): b"plain", ("r1", "s", "result", "k"): b"mapped"}
    assert storage.get_outputs([]) == {}
