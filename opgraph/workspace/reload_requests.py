"""Reload requests shared by every process that holds a workspace.

The webserver replicas and the daemon each run their own code servers. A reload asked
of one of them (GraphQL `reloadLocation`, `opgraph locations reload NAME`) is written to
the instance's key-value storage; every workspace polls it and follows, so all of them
serve the new code within a poll interval.
"""

from __future__ import annotations

import uuid
from typing import Protocol


class KeyValueStorage(Protocol):
    def kv_set(self, key: str, value: str) -> None: ...

    def kv_get(self, key: str) -> str | None: ...


class ReloadRequests:
    PREFIX = "opgraph/workspace/reload/"

    def __init__(self, storage: KeyValueStorage):
        self.storage = storage

    def request(self, location_name: str) -> str:
        """Ask every workspace to reload the location; returns the request's token."""
        token = uuid.uuid4().hex  # a token, not a time: machines' clocks may disagree
        self.storage.kv_set(self.PREFIX + location_name, token)
        return token

    def latest(self, location_name: str) -> str | None:
        return self.storage.kv_get(self.PREFIX + location_name)
