"""Running one code server: bind first, then load the code, then watch the parent.

Binding before loading lets the supervisor see the server (and LOADING) at once, even
when the user's code takes long to import; loading in the main thread keeps user code
that installs signal handlers working.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from opgraph.errors import OpgraphError
from opgraph.workspace.in_process import InProcessCodeLocation
from opgraph_app.code_server.http import create_code_server_app

PARENT_CHECK_SECONDS = 1.0


class CannotListen(OpgraphError):
    pass


class _QuietHandler(WSGIRequestHandler):
    """No line per request: supervisors poll /status often; errors still go to stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if str(code).startswith("5"):
            super().log_request(code, size)


def _write_port_file(path: Path, host: str, port: int) -> None:
    """Atomically, so the supervisor never reads half of it."""
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(json.dumps({"host": host, "port": port, "pid": os.getpid()}))
    partial.replace(path)


def serve(
    name: str,
    origin: dict[str, Any],
    host: str,
    port: int,
    port_file: Path | None = None,
    parent_pid: int | None = None,
) -> None:
    """Serve until killed, or until the parent process (a supervisor) goes away."""
    location = InProcessCodeLocation(name, origin, load=False)
    try:  # bound here, not by werkzeug, which exits the process when the port is taken
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.create_server((host, port), family=family)
    except OSError as exc:
        raise CannotListen(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    with listener:
        server: BaseWSGIServer = make_server(
            host,
            port,
            create_code_server_app(location),
            threaded=True,
            request_handler=_QuietHandler,
            fd=listener.fileno(),  # werkzeug serves on a duplicate of it
        )
    bound_port = server.socket.getsockname()[1]
    thread = threading.Thread(target=server.serve_forever, name="code-server", daemon=True)
    thread.start()
    print(f"code server for location {name!r} listening on http://{host}:{bound_port}", flush=True)
    if port_file is not None:
        _write_port_file(port_file, host, bound_port)
    status = location.reload()
    print(f"location {name!r}: {status.state.value} (version {status.version})", flush=True)
    if status.error is not None:
        print(status.error.traceback, flush=True)
    try:
        while thread.is_alive():
            time.sleep(PARENT_CHECK_SECONDS)
            # An orphan (supervisor killed with SIGKILL) must not outlive it.
            if parent_pid is not None and os.getppid() != parent_pid:
                print("supervisor went away; stopping", flush=True)
                break
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
