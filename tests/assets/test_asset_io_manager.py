"""The filesystem IO manager stores an asset by key and replaces its file on every
materialization: a reader at the same time loads the old or the new value, never fails."""

from __future__ import annotations

import threading

import pytest

from opgraph import AssetKey
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
            manager.handle_output(output, i)
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
    manager.handle_output(output, 2)
    assert manager.load_input(input_) == 2
