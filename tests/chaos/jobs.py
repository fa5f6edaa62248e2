"""The chaos suite's job (loaded by the test process and by real workers): a fan-out and
a chain, each op leaving a side effect (a line in a file of its own) halfway through."""

import os
import time
from pathlib import Path

from opgraph import job, op

# How long a worker's pool process takes to load this module. The claim comes only after
# the job's code is loaded: a worker started with a delay here can be killed between
# taking a message and claiming its attempt.
time.sleep(float(os.environ.get("OPGRAPH_CHAOS_IMPORT_SECONDS", "0")))

FAN_OUT = 40
CHAIN = 8


def effects_dir(marker_dir: Path) -> Path:
    return marker_dir / "effects"


def _work(context) -> None:
    """Half the op's time, the side effect, the other half: a kill lands before or after."""
    half = float(context.run_tags.get("test/op_seconds", "0.4")) / 2
    time.sleep(half)
    path = effects_dir(Path(context.run_tags["test/marker_dir"])) / context.step_key
    with open(path, "a") as f:  # one short line: an atomic append
        f.write(f"{os.getpid()}\n")
    time.sleep(half)


@op
def origin(context):
    _work(context)
    return 1


@op
def branch(context, value):
    _work(context)
    return value


@op
def gather(context, values):
    _work(context)
    return sum(values)


@op
def link(context, value):
    _work(context)
    return value + 1


@job
def chaos_job():
    first = origin()
    total = gather([branch.alias(f"branch_{i}")(first) for i in range(FAN_OUT)])
    for i in range(CHAIN):
        total = link.alias(f"link_{i}")(total)


STEP_KEYS = ["origin", *(f"branch_{i}" for i in range(FAN_OUT)), "gather"] + [
    f"link_{i}" for i in range(CHAIN)
]
