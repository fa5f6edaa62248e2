"""Trivial-op jobs for the core benchmark: the ops do nothing, so time is overhead."""

from opgraph import job, op


@op
def start():
    return 0


@op
def step(x):
    return x + 1


@op
def gather(values):
    return len(values)


@job
def chain_20():
    value = start()
    for i in range(19):
        value = step.alias(f"step_{i}")(value)


def _fan_out(width: int):
    @job(name=f"fan_out_{width}")
    def fan_out():
        origin = start()
        gather([step.alias(f"leaf_{i}")(origin) for i in range(width)])

    return fan_out


fan_out_100 = _fan_out(100)
fan_out_500 = _fan_out(500)

JOBS = {"chain_20": chain_20, "fan_out_100": fan_out_100, "fan_out_500": fan_out_500}
