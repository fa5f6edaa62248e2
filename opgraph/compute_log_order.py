"""Read a step's stdout and stderr back as one sequence, in the order the step printed it.

The capture (opgraph.compute_logs) writes `<step>.ord`: one line per switch between the
streams, `<o|e> <start of the new stream's run, on its first line only, else -1> <end of
the other stream's run>`. Run j is stream s_j from where that stream was read up to the
end given by the next switch (the other stream's line after it names it); the last run
ends at the file's current size.
Text of a stream before its first run (an earlier attempt that never switched, output
written straight to the file descriptor) comes first, stdout then stderr. With no `.ord`
file the step used one stream only, or wrote both straight to the descriptors: the
text is given as it is read, stdout then stderr.

The cursor, `<run>.<stdout offset>.<stderr offset>`, says where the next read goes on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

STREAMS = ("stdout", "stderr")
MARKS = {"stdout": "o", "stderr": "e"}  # a switch line's first character
_STREAM_OF = {mark: name for name, mark in MARKS.items()}
_LINE = re.compile(rb"^([oe]) (-1|\d{1,19}) (-1|\d{1,19})$")
_CURSOR = re.compile(r"^(\d{1,9})\.(\d{1,19})\.(\d{1,19})$")
START = "0.0.0"


class CursorError(ValueError):
    """A cursor that is not `<run>.<stdout offset>.<stderr offset>`."""


@dataclass(frozen=True)
class Switch:
    stream: str
    start: int  # -1 after the stream's first line
    previous_end: int  # where the other stream's run ended; -1 on the first line


@dataclass
class Combined:
    chunks: list[tuple[str, str]]  # (stream, text), in printed order
    cursor: str
    has_more: bool


def parse_cursor(cursor: str) -> tuple[int, dict[str, int]]:
    match = _CURSOR.match(cursor)
    if match is None:
        raise CursorError(
            f"expected a cursor such as {START!r} (run.stdout offset.stderr offset), "
            f"given {cursor[:80]!r}"
        )
    return int(match[1]), {"stdout": int(match[2]), "stderr": int(match[3])}


def read_switches(path: Path) -> list[Switch]:
    """The switches written so far (a line still being written is left for the next read)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    switches = []
    for line in raw.split(b"\n")[:-1]:  # the text after the last newline is not whole yet
        match = _LINE.match(line)
        if match is None:
            break  # not ours: order what came before it
        stream = _STREAM_OF[match[1].decode()]
        switches.append(Switch(stream, int(match[2]), int(match[3])))
    return switches


class _Reader:
    def __init__(
        self,
        paths: dict[str, Path],
        positions: dict[str, int],
        max_bytes: int,
        charge: Callable[[int], None],
    ):
        self.paths = paths
        self.pos = dict(positions)
        self.budget = max_bytes
        self.charge = charge
        self.chunks: list[tuple[str, str]] = []
        self.cut = False  # stopped by the budget, not by the end of what is written

    def take(self, stream: str, end: int) -> bool:
        """Read `stream` on up to `end` (or its file's end); False if the budget stopped it."""
        start = self.pos[stream]
        if end <= start:
            return True
        want = min(end - start, self.budget)
        if want <= 0:
            self.cut = True
            return False
        self.charge(want)
        try:
            with open(self.paths[stream], "rb") as file:
                file.seek(start)
                data = file.read(want)
        except FileNotFoundError:
            return True
        cut = want < end - start
        if cut and b"\n" in data:  # cut at a line end: no half characters or lines
            data = data[: data.rindex(b"\n") + 1]
        if data:
            self.pos[stream] = start + len(data)
            self.budget -= len(data)
            text = data.decode("utf-8", errors="replace")
            if self.chunks and self.chunks[-1][0] == stream:
                self.chunks[-1] = (stream, self.chunks[-1][1] + text)
            else:
                self.chunks.append((stream, text))
        self.cut = cut
        return not cut


def read_combined(
    out_path: Path,
    err_path: Path,
    ord_path: Path,
    cursor: str = START,
    max_bytes: int = 1024 * 1024,
    charge: Callable[[int], None] = lambda _n: None,
) -> Combined:
    """Both streams from `cursor` on, as (stream, text) chunks in the order printed."""
    run, positions = parse_cursor(cursor)
    paths = {"stdout": out_path, "stderr": err_path}
    # Sizes before switches: a byte counted here was written after any switch before it,
    # so the switch is read too, and no text is given ahead of a switch not yet seen.
    sizes = {name: _size(path) for name, path in paths.items()}
    switches = read_switches(ord_path)
    reader = _Reader(paths, positions, max_bytes, charge)
    if not switches:
        for name in STREAMS:
            reader.take(name, sizes[name])
        return _answer(reader, 0, sizes)
    if run == 0:  # text before each stream's first run
        firsts: dict[str, int] = {}
        for switch in switches:
            if switch.start >= 0:
                firsts.setdefault(switch.stream, switch.start)
        if not all(reader.take(name, firsts.get(name, sizes[name])) for name in STREAMS):
            return _answer(reader, 0, sizes)
        run = 1
    while run <= len(switches):
        switch = switches[run - 1]
        later = switches[run] if run < len(switches) else None
        end = later.previous_end if later is not None else sizes[switch.stream]
        if not reader.take(switch.stream, end):
            return _answer(reader, run, sizes)
        if later is None:
            break
        run += 1
    # The other stream's text after its last run was written straight to its descriptor
    # (no switch names it): it goes here rather than wait for a switch that may not come.
    for name in STREAMS:
        if not reader.take(name, sizes[name]):
            break
    return _answer(reader, run, sizes)


def _answer(reader: _Reader, run: int, sizes: dict[str, int]) -> Combined:
    has_more = reader.cut or any(reader.pos[n] < sizes[n] for n in STREAMS)
    cursor = f"{run}.{reader.pos['stdout']}.{reader.pos['stderr']}"
    return Combined(reader.chunks, cursor, has_more)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
