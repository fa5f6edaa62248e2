"""What every resolver sees as `info.context`: the instance, the workspace, who is asking."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from opgraph.data_bounds import DataLimitExceeded
from opgraph.instance import OpgraphInstance
from opgraph.instance_config import RequestLimitsConfig
from opgraph.workspace.base import Workspace
from opgraph_app.graphql.errors import ReadOnlyError, UnauthorizedError


@dataclass
class GraphQLContext:
    instance: OpgraphInstance
    # Loaded on first use: a query about runs must not start code servers.
    load_workspace: Callable[[], Workspace | None]
    read_only: bool = False
    auth_token: str | None = None  # the instance's webserver.auth_token
    authorization: str | None = None  # the request's Authorization header
    cache: dict[str, Any] = field(default_factory=dict)  # per-request memo (e.g. events)
    limits: RequestLimitsConfig = field(default_factory=RequestLimitsConfig)
    answer_bytes: int = 0  # bulk bytes (captured logs) this request has read so far

    def charge_answer_bytes(self, count: int) -> None:
        """Count `count` bytes toward `limits.max_response_bytes` before reading them, so
        aliases of a large log read fail before the memory is spent."""
        self.answer_bytes += count
        maximum = self.limits.max_response_bytes
        if self.answer_bytes > maximum:
            raise DataLimitExceeded(
                "this request",
                "the size of the answer in bytes",
                f"over {maximum}",
                maximum,
                "webserver.limits.max_response_bytes",
            )

    @cached_property
    def workspace(self) -> Workspace | None:
        return self.load_workspace()

    def mutation_refusal(self) -> Any:
        """A typed error if this request may not change anything, else None."""
        if self.read_only:
            return ReadOnlyError(
                message="this webserver is read-only: mutations are disabled "
                "(started with --read-only or webserver.read_only in instance.yaml)"
            )
        if self.auth_token and not self._token_matches():
            return UnauthorizedError(
                message="mutations need the header `Authorization: Bearer <token>` with "
                "the token set as webserver.auth_token in instance.yaml"
            )
        return None

    def _token_matches(self) -> bool:
        scheme, _, token = (self.authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        assert self.auth_token is not None
        # Constant time: the comparison must not reveal how much of a guess was right.
        return hmac.compare_digest(token.strip().encode(), self.auth_token.encode())
