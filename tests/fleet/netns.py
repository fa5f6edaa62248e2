"""Virtual hosts for tests: Linux network namespaces joined to this one by veth pairs.

A worker started inside a namespace reaches PostgreSQL and Redis only through a TCP
proxy (tests/tcp_proxy.py) on the host side of its veth link, so cutting the link
really cuts it off.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from tests.tcp_proxy import TcpProxy


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
