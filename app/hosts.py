"""Host header checking: the webserver answers only the names it is meant to be reached by.

Without it a page on any site can rebind its own DNS name to 127.0.0.1 and drive a local
`opgraph dev` from the victim's browser (DNS rebinding): the browser sends that site's
name as Host, which no allowed-hosts list contains. Default: the loopback names when the
webserver is bound to loopback, any name otherwise (set `webserver.allowed_hosts` then).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from flask import Flask, Response, jsonify, request

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
# `host`, `host:port`, `[v6]` or `[v6]:port`; the port is not part of the check.
_HOST = re.compile(r"(?P<name>\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::[0-9]{1,5})?")
UNCHECKED_PATHS = frozenset({"/health"})  # probes address pods by IP; it reveals nothing


def is_loopback(bind_host: str) -> bool:
    if bind_host == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind_host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_allowed_hosts(bind_host: str) -> list[str]:
    return list(LOOPBACK_NAMES) if is_loopback(bind_host) else ["*"]


def host_allowed(header: str | None, allowed: list[str]) -> bool:
    """`allowed` holds names, `.example.com` / `*.example.com` (any subdomain), or `*`."""
    match = _HOST.fullmatch((header or "").strip().lower())
    if match is None:
        return False
    name = match["name"].rstrip(".")
    for entry in allowed:
        entry = entry.lower()
        if entry == "*" or entry == name:
            return True
        suffix = entry.removeprefix("*")
        if suffix.startswith(".") and name.endswith(suffix):
            return True
    return False


def install_host_check(app: Flask, allowed_hosts: Callable[[], list[str]]) -> None:
    """Refuse (400) requests whose Host is not in `allowed_hosts()` (read on first use)."""

    @app.before_request
    def check_host() -> Response | None:
        header = request.environ.get("HTTP_HOST")
        # No Host header at all (HTTP/1.0 tools) cannot come from a rebinding browser.
        # /health is checked first so a broken instance.yaml is reported by /health (503).
        if header is None or request.path in UNCHECKED_PATHS:
            return None
        allowed = allowed_hosts()
        if host_allowed(header, allowed):
            return None
        message = (
            f"Host {header[:100]!r} is not served here: expected one of {', '.join(allowed)} "
            "(webserver.allowed_hosts in instance.yaml, or `opgraph webserver --allowed-host`)"
        )
        response = jsonify(errors=[{"message": message}])
        response.status_code = 400
        return response
