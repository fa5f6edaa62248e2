"""A TCP proxy for tests: forwards listen_host:port to 127.0.0.1:target_port.

The services bind only loopback; a proxy lets a test put them behind another address
(a virtual host) or take them away and bring them back (a database outage). Plain
threads, one pair per connection: few connections, and nothing clever.
"""

from __future__ import annotations

import socket
import threading


class TcpProxy:
    def __init__(self, listen_host: str, port: int, target_port: int | None = None):
        self.listen_host = listen_host
        self.target_port = target_port or port
        self._listener = socket.create_server((listen_host, port))
        self.port = self._listener.getsockname()[1]  # port 0 picks a free one
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(source, target), daemon=True).start()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting; connections already made go on."""
        self._stopped.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()
        if self._thread.ident is not None:  # it was started
            self._thread.join(5)

    def cut(self) -> None:
        """Stop, and drop every connection made through the proxy (as a server crash)."""
        self.stop()
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
