"""What the app keeps in `app.extensions["opgraph"]`, and how views and commands reach it."""

from __future__ import annotations

from typing import Any

from flask import current_app

from opgraph.instance import OpgraphInstance


class OpgraphExtension:
    def __init__(
        self, instance: OpgraphInstance | None, workspace: Any = None, read_only: bool = False
    ):
        self._instance = instance
        self.workspace = workspace
        self.read_only = read_only  # on top of the instance's webserver.read_only
        self.launcher_warmed = False  # see opgraph_app.graphql.view._warm_up_launcher

    @property
    def instance(self) -> OpgraphInstance:
        # Lazily: `opgraph --help` must work without reading instance.yaml or the database.
        if self._instance is None:
            self._instance = OpgraphInstance.get()
        return self._instance


def current_instance() -> OpgraphInstance:
    extension: OpgraphExtension = current_app.extensions["opgraph"]
    return extension.instance
