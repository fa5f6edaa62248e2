"""The `opgraph` console script: the command line, always under `python -P`.

A console script's interpreter runs without -P, and what it starts inherits that: the run
worker `opgraph runs launch` forks, and the multiprocess executor's forkserver (which takes
its interpreter flags from its parent). Re-executing once as `python -P -m opgraph_app`
costs one interpreter start and keeps docs/code-locations.md true: every Python process
opgraph starts runs with -P, so no working directory shadows a module.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    if not sys.flags.safe_path:
        try:
            os.execv(sys.executable, [sys.executable, "-P", "-m", "opgraph_app", *sys.argv[1:]])
        except OSError:  # an interpreter that cannot be re-run: go on without -P
            pass
    from opgraph_app.cli import main as cli

    cli(prog_name="opgraph")
