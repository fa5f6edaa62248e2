"""Start a step worker without Celery's command line:

    python -m opgraph_celery.worker -Q opgraph,io --concurrency 4 -n w1@%h

It takes the options opgraph's own tools pass (`-Q`, `-c`, `-n`, `-l`, `--without-gossip`,
`--without-mingle`, `--without-heartbeat`); with any other option it hands the whole
command line to `celery -A opgraph_celery worker`, which behaves the same.

Why: `celery -A opgraph_celery worker` first imports Celery's whole command line (click,
click_repl and prompt_toolkit, the amqp shell and every other subcommand): 0.12-0.14 s of
a worker start's CPU, of about 1.0 s in all (`python -X importtime`, 6 December 2026).
A replacement worker serves that much sooner, which is what a fleet whose workers die
waits for (docs/celery.md, "Where the kill loop's time goes").
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def parse(argv: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The `app.Worker` options of `argv`, and what is left (options this does not know)."""
    parser = argparse.ArgumentParser(prog="python -m opgraph_celery.worker", add_help=False)
    parser.add_argument("-Q", "--queues", default=None)
    parser.add_argument("-c", "--concurrency", type=int, default=None)
    parser.add_argument("-n", "--hostname", default=None)
    parser.add_argument("-l", "--loglevel", default="WARNING")
    for flag in ("--without-gossip", "--without-mingle", "--without-heartbeat"):
        parser.add_argument(flag, action="store_true")
    known, rest = parser.parse_known_args(argv)
    options = vars(known)
    if options["queues"] is not None:
        options["queues"] = [q for q in options["queues"].split(",") if q]
    return options, rest


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    options, rest = parse(argv)
    if rest:  # an option only Celery's command line knows
        from celery.bin.celery import main as celery_main

        sys.argv = ["celery", "-A", "opgraph_celery", "worker", *argv]
        celery_main()
        return 0
    from celery.utils.log import mlevel
    from celery.utils.nodenames import default_nodename, host_format

    from opgraph_celery import get_app

    options["hostname"] = host_format(default_nodename(options["hostname"]))
    options["loglevel"] = mlevel(options["loglevel"].upper())
    worker = get_app().Worker(**options)
    worker.start()
    return int(worker.exitcode or 0)


if __name__ == "__main__":
    raise SystemExit(main())
