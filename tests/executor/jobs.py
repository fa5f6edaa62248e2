"""Jobs shared by the executor suite; loaded again by worker processes from this file."""

import json
import os
import signal
import time
from pathlib import Path

from opgraph import (
    Backoff,
    Config,
    ConfigurableIOManager,
    ConfigurableResource,
    DynamicOut,
    DynamicOutput,
    In,
    InputContext,
    Nothing,
    Out,
    Output,
    OutputContext,
    RetryPolicy,
    graph,
    in_process_executor,
    job,
    op,
    resource,
)


@op
def one():
    return 1


@op
def add_one(x):
    return x + 1


@op
def times_ten(x):
    return x * 10


@job
def linear():
    times_ten(add_one(add_one(one())))


@op
def total(values):
    return sum(values)


@job
def fan_out_in():
    start = one()
    total([add_one.alias(f"branch_{i}")(start) for i in range(5)])


@op(out=DynamicOut())
def emit(context, count: int = 4):
    for i in range(count):
        yield DynamicOutput(i, mapping_key=f"item_{i}")


@op
def double(x):
    return x * 2


@job
def dynamic():
    total(emit().map(double).map(add_one).collect())


@op(out=DynamicOut())
def emit_then_fail():
    yield DynamicOutput(1, mapping_key="a")
    yield DynamicOutput(2, mapping_key="b")
    raise RuntimeError("emit failed after two outputs")


@op(out=DynamicOut())
def fail_before_emitting():
    raise RuntimeError("failed before any output")
    yield DynamicOutput(1, mapping_key="a")


@job
def dynamic_failing():
    total(emit_then_fail().map(double).collect())


@job
def dynamic_failing_at_once():
    total(fail_before_emitting().map(double).collect())


@graph
def plus_two(x):
    return add_one.alias("second")(add_one.alias("first")(x))


@graph
def outer(x):
    return times_ten(plus_two(x))


@job
def nested():
    add_one(outer(one()))


@op(out={"evens": Out(is_required=False), "odds": Out()})
def split(context, numbers: list | None = None):
    numbers = numbers or [1, 3, 5]
    evens = [n for n in numbers if n % 2 == 0]
    if evens:
        yield Output(evens, output_name="evens")
    yield Output([n for n in numbers if n % 2], output_name="odds")


@op
def count(values):
    return len(values)


@op(ins={"after": In(Nothing)})
def marker():
    return "ran"


@job
def optional_outputs():
    evens, odds = split()
    count.alias("count_evens")(evens)
    count_odds = count.alias("count_odds")(odds)
    marker(after=count_odds)


@op(retry_policy=RetryPolicy(max_retries=3, delay=0.05, backoff=Backoff.EXPONENTIAL))
def flaky(context):
    if context.retry_number < 2:
        raise RuntimeError(f"failing attempt {context.retry_number}")
    return context.retry_number


@job
def retries():
    add_one(flaky())


@op
def broken():
    raise ValueError("boom")


@job
def failing():
    add_one(broken())
    one()


class LimitConfig(Config):
    limit: int
    label: str = "rows"


@op
def limited(config: LimitConfig):
    return f"{config.limit} {config.label}"


@op(config_schema={"factor": int})
def scaled(context, text):
    return f"{text} x{context.op_config['factor']}"


@job
def configured():
    scaled(limited())


class Greeter(ConfigurableResource):
    greeting: str = "hello"

    def greet(self, name: str) -> str:
        return f"{self.greeting} {name}"


@resource(config_schema={"suffix": str})
def punctuation(init_context):
    return init_context.resource_config["suffix"]


@op(required_resource_keys={"greeter", "punctuation"})
def greet(context):
    return context.resources.greeter.greet("world") + context.resources.punctuation


@job(resource_defs={"greeter": Greeter(greeting="hi"), "punctuation": punctuation})
def with_resources():
    greet()


class JsonIOManager(ConfigurableIOManager):
    base_dir: str

    def _path(self, context: OutputContext) -> Path:
        return Path(self.base_dir, *context.get_identifier()).with_suffix(".json")

    def handle_output(self, context: OutputContext, obj) -> None:
        path = self._path(context)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(obj))

    def load_input(self, context: InputContext):
        return json.loads(self._path(context.upstream_output).read_text())


# base_dir is overridden per run: resources.io_manager.config.base_dir
@job(resource_defs={"io_manager": JsonIOManager(base_dir="/nonexistent")})
def json_io():
    add_one(add_one(one()))


@op
def crash():
    os._exit(3)


@job
def crashing():
    crash()


@op
def printer():
    print("hello from stdout")
    os.write(2, b"raw stderr bytes\n")
    return 1


@job
def printing():
    printer()


@op
def slow():
    for _ in range(300):
        time.sleep(0.1)
    return 1


@job
def sleepy():
    slow()


@op
def segfault():
    os.kill(os.getpid(), signal.SIGSEGV)


@job
def segfaulting():
    segfault()


def _marker_dir(context) -> Path:
    # A run tag, not an env var: multiprocess workers fork from a long-lived forkserver.
    return Path(context.run_tags["test/marker_dir"])


@op
def count_runs(context):
    path = _marker_dir(context) / "count_runs"
    runs = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(runs))
    return runs


@op
def die_once(context, runs):
    marker = _marker_dir(context) / "died"
    if not marker.exists():
        marker.write_text("x")
        os._exit(17)  # the whole run worker dies mid-step
    return runs + 100


@job(executor_def=in_process_executor)
def resumable():
    die_once(count_runs())


@op
def counted_source(context):
    path = _marker_dir(context) / "counted_source"
    runs = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(runs))
    return 5


@op(out=DynamicOut())
def fan(value):
    for i in range(3):
        yield DynamicOutput(value + i, mapping_key=f"k{i}")


@op
def fragile(context, value):
    if not (_marker_dir(context) / "fixed").exists() and value == 6:
        raise RuntimeError("not fixed yet")
    return value * 10


@job
def reexecutable():
    total(fan(counted_source()).map(fragile).collect())


@op
def wait_for_release(context, value):
    """Says it started, then waits until the test removes `hold` (at most a minute)."""
    (_marker_dir(context) / "waiting").write_text(str(os.getpid()))
    hold = _marker_dir(context) / "hold"
    deadline = time.monotonic() + 60
    while hold.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return value + 1


@job
def held_in_the_middle():
    add_one(wait_for_release(one()))
