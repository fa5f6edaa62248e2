"""What the app keeps in `app.extensions["opgraph"]`, and how views and commands reach it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import current_app

from opgraph.errors import InstanceConfigError
from opgraph.instance import OpgraphInstance

if TYPE_CHECKING:
    from opgraph_app.event_hub import EventHub


class OpgraphExtension:
    def __init__(
        self,
        instance: OpgraphInstance | None,
        workspace: Any = None,
        read_only: bool = False,
        bind_host: str | None = None,
        allowed_hosts: list[str] | None = None,
    ):
        self._instance = instance
        self.workspace = workspace
        self.read_only = read_only  # on top of the instance's webserver.read_only
        self.launcher_warmed = False  # see opgraph_app.graphql.view._warm_up_launcher
        self._bind_host = bind_host  # what `opgraph webserver` binds; else webserver.host
        self._allowed_hosts = allowed_hosts  # from the command line; else instance.yaml
        self._event_hub: EventHub | None = None

    def allowed_hosts(self) -> list[str]:
        from opgraph_app.hosts import default_allowed_hosts

        if self._allowed_hosts is None:
            try:
                settings = self.instance.config.webserver
            except InstanceConfigError:
                # The page that needs the instance reports the broken file; until it is
                # fixed, only the names of the bound address are served.
                return default_allowed_hosts(self._bind_host or "127.0.0.1")
            self._allowed_hosts = settings.allowed_hosts or default_allowed_hosts(
                self._bind_host or settings.host
            )
        return self._allowed_hosts

    @property
    def event_hub(self) -> EventHub:
        """The live streams' followers and stream cap of this process (see live.py)."""
        from opgraph_app.event_hub import EventHub

        if self._event_hub is None:
            settings = self.instance.config.webserver
            self._event_hub = EventHub(self.instance.storage, settings.max_streams)
        return self._event_hub

    @property
    def instance(self) -> OpgraphInstance:
        # Lazily: `opgraph --help` must work without reading instance.yaml or the database.
        if self._instance is None:
            self._instance = OpgraphInstance.get()
        return self._instance


def current_instance() -> OpgraphInstance:
    extension: OpgraphExtension = current_app.extensions["opgraph"]
    return extension.instance
