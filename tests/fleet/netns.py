"""Virtual hosts for tests: Linux network namespaces joined to this one by veth pairs.

A worker started inside a namespace reaches PostgreSQL and Redis only through a TCP
proxy on the host side of its veth link, so cutting the link really cuts it off.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class VirtualHost:
    def __init__(self, name: str, index: int):
        self.name = name
        self.host_side = f"{name[:10]}h"  # interface names are at most 15 characters
        self.ns_side = f"{name[:10]}n"
        self.host_ip = f"10.213.{index}.1"
        self.ns_ip = f"10.213.{index}.2"

    def create(self) -> None:
        _ip("netns", "add", self.name)
        _ip("link", "add", self.host_side, "type", "veth", "peer", "name", self.ns_side)
        _ip("link", "set", self.ns_side, "netns", self.name)
        _ip("addr", "add", f"{self.host_ip}/24", "dev", self.host_side)
        _ip("link", "set", self.host_side, "up")
        _ip(
            "netns", "exec", self.name, "ip", "addr", "add", f"{self.ns_ip}/24", "dev", self.ns_side
        )
        _ip("netns", "exec", self.name, "ip", "link", "set", self.ns_side, "up")
        _ip("netns", "exec", self.name, "ip", "link", "set", "lo", "up")

    def cut(self) -> None:
        """Take the link down: packets stop both ways, connections hang as on a real cut."""
        _ip("link", "set", self.host_side, "down")

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        subprocess.run(["ip", "link", "del", self.host_side], capture_output=True)

    @property
    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]


class TcpProxy:
    """Forwards host_ip:port to 127.0.0.1:port (the services bind only loopback).
    Plain threads, one pair per connection: few connections, and nothing clever."""

    def __init__(self, listen_host: str, port: int):
        self.listen_host = listen_host
        self.port = port
        self._listener = socket.create_server((listen_host, port))
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.port))
            except OSError:
                client.close()
                continue
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(source, target), daemon=True).start()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()
        self._thread.join(5)


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


@contextmanager
def virtual_host(name: str, index: int, ports: list[int]) -> Iterator[VirtualHost]:
    host = VirtualHost(name, index)
    host.delete()  # a leftover of a killed session
    host.create()
    proxies = [TcpProxy(host.host_ip, port) for port in ports]
    try:
        for proxy in proxies:
            proxy.start()
        yield host
    finally:
        for proxy in proxies:
            proxy.stop()
        host.delete()
