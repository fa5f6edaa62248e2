"""Capture each step's stdout/stderr to `compute_logs/<run_id>/<step_key>.{out,err}`.

Beside the two files, `<step_key>.ord` records the order the step printed in across both
streams, so that a combined view can show the lines as printed (opgraph.compute_log_order
reads it back). It holds one line per switch between the streams, written at the
switch, before the new stream's text:

    <o|e> <offset where the new stream's run starts> <offset where the other's run ended>

(the start is written on each stream's first line only, -1 after it: one fstat less a
switch; the reader needs it only for text before a stream's first run).

A step that prints to one stream only never switches: it has no `.ord` file, and the fast
path of every write is one comparison. Only what goes through `sys.stdout`/`sys.stderr`
is ordered this way; output written straight to file descriptors 1 and 2 (C code, child
processes) is placed at the next switch of its stream.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from opgraph.compute_log_order import MARKS


def log_paths(base_dir: Path, run_id: str, step_key: str) -> tuple[Path, Path]:
    run_dir = base_dir / run_id
    return run_dir / f"{step_key}.out", run_dir / f"{step_key}.err"


def order_path(base_dir: Path, run_id: str, step_key: str) -> Path:
    return base_dir / run_id / f"{step_key}.ord"


class _Sized(Protocol):
    def flush(self) -> None: ...
    def size(self) -> int: ...


class _Order:
    """Appends a line to the `.ord` file each time the step switches stream."""

    def __init__(self, path: Path):
        self.path = path
        self.last: str | None = None  # the stream written last
        self.streams: dict[str, _Sized] = {}
        self._pending = ""  # the first stream's line, written with the first switch
        self._started: set[str] = set()  # streams whose first start is written
        self._fd: int | None = None

    def switch(self, stream: str) -> None:
        """Called before `stream` is written to, when it is not the stream written last."""
        if self.last is None:
            self.last = self._last_of_earlier_attempt()
            if self.last is None:  # this step's first write: no line until a switch
                self._pending = f"{MARKS[stream]} {self.streams[stream].size()} -1\n"
                self._started.add(stream)
                self.last = stream
                return
            self._started.update(MARKS)  # an earlier attempt wrote both starts
            if self.last == stream:  # an earlier attempt's last run of this stream goes on
                return
        previous = self.streams[self.last]
        previous.flush()  # the other stream's run is in its file before the switch is
        start = -1 if stream in self._started else self.streams[stream].size()
        self._started.add(stream)
        line = f"{MARKS[stream]} {start} {previous.size()}\n"
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.write(self._fd, (self._pending + line).encode())  # one write: no half pair read
        self._pending = ""
        self.last = stream

    def _last_of_earlier_attempt(self) -> str | None:
        """A retried step appends to its files: it goes on from the stream printed last."""
        try:
            with open(self.path, "rb") as file:
                size = file.seek(0, 2)
                file.seek(max(0, size - 64))
                lines = file.read().splitlines()
        except FileNotFoundError:
            return None
        mark = lines[-1][:1].decode() if lines else ""
        return next((name for name, m in MARKS.items() if m == mark), None)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _LazyFile(io.TextIOBase):
    """Opens its file on the first write, so a silent step costs no file."""

    def __init__(self, path: Path, name: str, order: _Order):
        self.path = path
        self._name = name
        self._order = order
        order.streams[name] = self
        self._file: io.TextIOWrapper | None = None

    def write(self, text: str) -> int:
        if self._order.last != self._name:
            self._order.switch(self._name)
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        return self._file.write(text)

    def flush(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.flush()

    def size(self) -> int:
        if self._file is not None:
            self._file.flush()
            return os.fstat(self._file.fileno()).st_size
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def close(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        super().close()

    @property
    def written(self) -> bool:
        return self._file is not None


@contextmanager
def capture_python_streams(base_dir: Path, run_id: str, step_key: str) -> Iterator[list[Path]]:
    """In-process capture: swaps sys.stdout/sys.stderr; yields the paths written."""
    out_path, err_path = log_paths(base_dir, run_id, step_key)
    order = _Order(order_path(base_dir, run_id, step_key))
    out, err = _LazyFile(out_path, "stdout", order), _LazyFile(err_path, "stderr", order)
    written: list[Path] = []
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
    try:
        yield written
    finally:
        sys.stdout, sys.stderr = saved
        written.extend(f.path for f in (out, err) if f.written)
        out.close()
        err.close()
        order.close()


class _OrderedText(io.TextIOWrapper):
    """A line-buffered log file as `sys.stdout`/`sys.stderr` that marks stream switches
    (a real TextIOWrapper, so `.buffer`, `.fileno()` and the rest still work)."""

    def __init__(self, path: Path, name: str, order: _Order):
        super().__init__(open(path, "ab"), encoding="utf-8", line_buffering=True)  # noqa: SIM115
        self._stream_name = name
        self._order = order
        order.streams[name] = self

    def write(self, text: str) -> int:
        if self._order.last != self._stream_name:
            self._order.switch(self._stream_name)
        return super().write(text)

    def size(self) -> int:
        self.flush()
        return os.fstat(self.fileno()).st_size


@contextmanager
def capture_file_descriptors(base_dir: Path, run_id: str, step_key: str) -> Iterator[list[Path]]:
    """Worker-process capture: points fds 1 and 2 at files (catches C and child output too),
    and sys.stdout/sys.stderr as well, since a host such as Celery may have replaced them."""
    out_path, err_path = log_paths(base_dir, run_id, step_key)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    saved_streams = sys.stdout, sys.stderr
    for stream in saved_streams:
        stream.flush()
    saved = os.dup(1), os.dup(2)
    fds = [os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) for p in (out_path, err_path)]
    os.dup2(fds[0], 1)
    os.dup2(fds[1], 2)
    order = _Order(order_path(base_dir, run_id, step_key))
    streams = [_OrderedText(out_path, "stdout", order), _OrderedText(err_path, "stderr", order)]
    sys.stdout, sys.stderr = streams  # type: ignore[assignment]
    written: list[Path] = []
    try:
        yield written
    finally:
        sys.stdout, sys.stderr = saved_streams
        for stream in streams:
            stream.close()
        order.close()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*fds, *saved):
            os.close(fd)
        for path in (out_path, err_path):
            if path.stat().st_size:
                written.append(path)
            else:
                path.unlink()
