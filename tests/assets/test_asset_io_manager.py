"""The filesystem IO manager stores an asset by key and replaces its file on every
materialization: a reader at the same time loads the old or the new value, never fails.
It records where it wrote as `path` metadata, and an IO manager's add_output_metadata
reaches HANDLED_OUTPUT and the materialization, as in Dagster."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from opgraph import AssetKey, IOManager, Output, asset, materialize
from opgraph.errors import OpgraphError
from opgraph.resources import InputContext, OutputContext, PickledObjectFilesystemIOManager


def _contexts(key: AssetKey) -> tuple[OutputContext, InputContext]:
    output = OutputContext(step_key="a", name="result", run_id="r1", asset_key=key)
    return output, InputContext(name="a", step_key="b", upstream_output=output, asset_key=key)


def test_a_reader_never_fails_while_the_asset_is_replaced(tmp_path):
    manager = PickledObjectFilesystemIOManager(tmp_path)
    output, input_ = _contexts(AssetKey(["raw", "orders"]))
    manager.handle_output(output, 0)
    writes = 300
    done = threading.Event()

    def writer() -> None:
        for i in range(1, writes + 1):
            # A fresh context per write, as a run makes one per output it stores.
            manager.handle_output(dataclasses.replace(output), i)
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen = []
    while not done.is_set():
        seen.append(manager.load_input(input_))
    thread.join()
    assert manager.load_input(input_) == writes
    assert seen == sorted(seen)  # each read is a whole value, never an older one after a newer
    assert list(tmp_path.joinpath("raw").iterdir()) == [tmp_path / "raw" / "orders"]


def test_a_never_materialized_asset_is_an_error_at_once(tmp_path):
    manager = PickledObjectFilesystemIOManager(tmp_path)
    _, input_ = _contexts(AssetKey("missing"))
    with pytest.raises(FileNotFoundError):
        manager.load_input(input_)


def test_a_folder_removed_after_a_write_is_made_again(tmp_path):
    """The manager remembers the folders it made, so a key's folder removed since (a
    wipe, a cleanup of the storage folder) must still be made again, not be an error."""
    import shutil

    manager = PickledObjectFilesystemIOManager(tmp_path)
    output, input_ = _contexts(AssetKey(["raw", "orders"]))
    manager.handle_output(output, 1)
    shutil.rmtree(tmp_path / "raw")
    manager.handle_output(dataclasses.replace(output), 2)  # the next run's context
    assert manager.load_input(input_) == 2


def test_the_path_written_is_the_outputs_path_metadata(tmp_path):
    manager = PickledObjectFilesystemIOManager(tmp_path)
    output, _ = _contexts(AssetKey(["raw", "orders"]))
    manager.handle_output(output, [1, 2])
    path = output.get_logged_metadata()["path"]
    assert (path.type, path.value) == ("path", str(tmp_path / "raw" / "orders"))
    # As Dagster's: no path for None (the op stored its data some other way).
    nothing, _ = _contexts(AssetKey("nothing"))
    manager.handle_output(nothing, None)
    assert nothing.get_logged_metadata() == {}


def test_metadata_added_twice_by_name_is_an_error() -> None:
    output, _ = _contexts(AssetKey("a"))
    output.add_output_metadata({"rows": 1})
    with pytest.raises(OpgraphError, match=r"\['rows'\] was already added"):
        output.add_output_metadata({"rows": 2, "other": 3})
    assert output.get_logged_metadata() == {"rows": 1}


class _CountingIOManager(IOManager):
    """A user's IO manager that tells what it stored, as Dagster's docs show."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def handle_output(self, context: OutputContext, obj: object) -> None:
        self.values[context.step_key] = obj
        context.add_output_metadata({"stored_rows": len(obj), "label": "from the IO manager"})

    def load_input(self, context: InputContext) -> object:
        assert context.upstream_output is not None
        return self.values[context.upstream_output.step_key]


def test_io_manager_metadata_reaches_the_events() -> None:
    @asset(metadata={"label": "definition"})
    def rows():
        return Output([1, 2, 3], metadata={"label": "from the op", "kept": True})

    result = materialize([rows], resources={"io_manager": _CountingIOManager()})
    [materialization] = result.asset_materializations_for_node("rows")
    # The IO manager's value wins a name both give, as in Dagster.
    assert {k: v.value for k, v in materialization.metadata.items()} == {
        "label": "from the IO manager",
        "kept": True,
        "stored_rows": 3,
    }
    [handled] = [e for e in result.all_events if e.event_type_value == "HANDLED_OUTPUT"]
    assert set(handled.record.data["metadata"]) == {"stored_rows", "label"}


def test_materialize_records_where_each_asset_was_written() -> None:
    @asset(key_prefix=["raw"])
    def orders():
        return [1]

    @asset
    def nothing() -> None:
        return None

    result = materialize([orders, nothing])
    by_key = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert by_key["nothing"] == {}
    path = Path(by_key["raw/orders"]["path"].value)
    assert path.parts[-3:] == ("storage", "raw", "orders") and path.is_absolute()
