"""Run one probe over one project file under real Dagster and under opgraph, and print
where their answers differ: the shared part of the compare_*_with_dagster scripts.

The probe runs in either interpreter with argv [folder, framework] on a copy of the
project whose `from opgraph import (` became `from <framework> import (`, and prints its
answers as one JSON object on its last line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.compat.test_dagster_graphql_client import _client_python


def answers(python: str, framework: str, folder: Path, project: Path, probe: str) -> dict:
    copy = folder / framework
    copy.mkdir()
    text = project.read_text().replace("from opgraph import (", f"from {framework} import (")
    (copy / project.name).write_text(text)
    done = subprocess.run(
        [python, "-c", probe, str(copy), framework],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=copy,
        env={**os.environ, "OPGRAPH_HOME": str(folder / "home")},  # values stored in the tmp dir
    )
    if done.returncode != 0:
        raise SystemExit(f"{framework} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(project: Path, probe: str) -> int:
    """Print one line per answer; 1 if any differs (the script's exit status)."""
    with tempfile.TemporaryDirectory() as tmp:
        dagster = answers(str(_client_python()), "dagster", Path(tmp), project, probe)
        opgraph = answers(sys.executable, "opgraph", Path(tmp), project, probe)
    differ = 0
    for key in dagster:
        same = dagster[key] == opgraph.get(key)
        differ += not same
        print(f"{'same' if same else 'DIFFERS':8} {key}: dagster={dagster[key]!r}", end="")
        print("" if same else f" opgraph={opgraph.get(key)!r}")
    return 1 if differ else 0
