"""Running `opgraph dev` as a subprocess in tests, and watching every process below it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from opgraph_app.dev.processes import alive, descendants

ROOT = Path(__file__).resolve().parents[2]

JOBS = """
import time

from opgraph import Config, Definitions, DynamicOut, DynamicOutput, job, op


class FanConfig(Config):
    width: int = 4
    seconds: float = 0.0


@op(out=DynamicOut())
def fan(config: FanConfig):
    for index in range(config.width):
        yield DynamicOutput(config.seconds, mapping_key=f"part_{index}")


@op
def work(context, seconds: float) -> int:
    context.log.info("working")
    time.sleep(seconds)
    return 1


@op
def total(values: list) -> int:
    return sum(values)


@job
def fan_job():
    total(fan().map(work).collect())


defs = Definitions(jobs=[fan_job])
"""


def start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()[19]


class DevProcess:
    """`opgraph dev ARGS` with OPGRAPH_HOME=home; records every descendant it ever had."""

    def __init__(self, home: Path, args: list[str], cwd: Path):
        self.home = home
        env = {**os.environ, "OPGRAPH_HOME": str(home)}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "opgraph_app", "dev", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # as a terminal would: our signals go to dev alone
        )
        self.seen: dict[int, str] = {}  # pid -> start time
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    def _watch(self) -> None:
        while self.popen.poll() is None:
            for pid in descendants(self.popen.pid):
                if pid not in self.seen:
                    started = start_time(pid)
                    if started is not None:
                        self.seen[pid] = started
            time.sleep(0.05)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.popen.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no line with {text!r} from opgraph dev:\n{self.output}")

    def wait(self, timeout: float = 120.0) -> int:
        code = self.popen.wait(timeout)
        self._reader.join(5)
        self._watcher.join(5)
        self._close()
        return code

    def _close(self) -> None:
        if self.popen.stdout is not None and not self._reader.is_alive():
            self.popen.stdout.close()

    def interrupt(self) -> None:
        self.popen.send_signal(signal.SIGINT)

    def still_running(self) -> list[str]:
        """Processes dev ever had below it that are alive now (same pid and start time)."""
        return [
            f"{pid}: {Path(f'/proc/{pid}/cmdline').read_text().replace(chr(0), ' ')}"
            for pid, started in self.seen.items()
            if alive(pid) and start_time(pid) == started
        ]

    def kill(self) -> None:
        """Test cleanup: never leave a dev session behind, whatever happened."""
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
            self._reader.join(5)
        for pid, started in self.seen.items():
            if alive(pid) and start_time(pid) == started:
                os.kill(pid, signal.SIGKILL)
        self._close()


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())
