"""Capture each step's stdout/stderr to `compute_logs/<run_id>/<step_key>.{out,err}`."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def log_paths(base_dir: Path, run_id: str, step_key: str) -> tuple[Path, Path]:
    run_dir = base_dir / run_id
    return run_dir / f"{step_key}.out", run_dir / f"{step_key}.err"


class _LazyFile(io.TextIOBase):
    """Opens its file on the first write, so a silent step costs no file."""

    def __init__(self, path: Path):
        self.path = path
        self._file: io.TextIOWrapper | None = None

    def write(self, text: str) -> int:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        return self._file.write(text)

    def flush(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.flush()

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
    out, err = _LazyFile(out_path), _LazyFile(err_path)
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
    streams = [open(p, "a", buffering=1, encoding="utf-8") for p in (out_path, err_path)]  # noqa: SIM115
    sys.stdout, sys.stderr = streams  # type: ignore[assignment]
    written: list[Path] = []
    try:
        yield written
    finally:
        sys.stdout, sys.stderr = saved_streams
        for stream in streams:
            stream.close()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*fds, *saved):
            os.close(fd)
        for path in (out_path, err_path):
            if path.stat().st_size:
                written.append(path)
            else:
                path.unlink()
