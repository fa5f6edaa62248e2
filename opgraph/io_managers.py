"""Dagster's class-style built-in IO managers: `FilesystemIOManager(base_dir=...)`.

`InMemoryIOManager` is `opgraph.resources.InMemoryIOManager` (outputs kept in the process
that wrote them, as with Dagster: use it with the in-process executor).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from pydantic import PrivateAttr

from opgraph.resources import (
    ConfigurableIOManager,
    InitResourceContext,
    InputContext,
    OutputContext,
    PickledObjectFilesystemIOManager,
)


class FilesystemIOManager(ConfigurableIOManager):
    """Pickles outputs under `base_dir` (default: the instance's IO storage directory)."""

    base_dir: str | None = None
    _files: PickledObjectFilesystemIOManager | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._files = PickledObjectFilesystemIOManager(self._base_dir(context.instance))

    def _base_dir(self, instance: Any) -> Path:
        if self.base_dir is not None:
            return Path(self.base_dir)
        if instance is not None:
            return Path(instance.io_storage_dir)
        return Path(tempfile.gettempdir()) / "opgraph"

    def _manager(self) -> PickledObjectFilesystemIOManager:
        if self._files is None:  # called directly (a test), not through a run's resources
            self._files = PickledObjectFilesystemIOManager(self._base_dir(None))
        return self._files

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        self._manager().handle_output(context, obj)

    def load_input(self, context: InputContext) -> Any:
        return self._manager().load_input(context)
