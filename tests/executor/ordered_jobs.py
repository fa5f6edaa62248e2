"""A job whose op alternates between stdout and stderr, for the combined view's order."""

import sys

from opgraph import Config, job, op

LINES = 300


class AlternateConfig(Config):
    lines: int = LINES


def expected_lines(lines: int = LINES) -> list[tuple[str, str]]:
    """(stream, line) in the order `alternate` prints them."""
    printed: list[tuple[str, str]] = []
    for i in range(lines):
        printed.append(("stdout", f"out {i}"))
        printed.append(("stderr", f"err {i}"))
        if i % 10 == 9:  # a run of several lines on one stream
            printed += [("stdout", f"burst {i}.{k}") for k in range(3)]
    return printed


@op
def alternate(config: AlternateConfig) -> None:
    for i in range(config.lines):
        print(f"out {i}", flush=True)
        print(f"err {i}", file=sys.stderr, flush=True)
        if i % 10 == 9:
            for k in range(3):
                print(f"burst {i}.{k}")


@job
def alternating():
    alternate()
