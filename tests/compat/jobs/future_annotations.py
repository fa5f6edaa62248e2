"""A Dagster job file with `from __future__ import annotations` (imports changed to opgraph):
every annotation is a string, and Config and resource parameters are still recognised."""

from __future__ import annotations

from opgraph import Config, ConfigurableResource, ResourceParam, job, op


class Scale(Config):
    factor: int


class Greeter(ConfigurableResource):
    greeting: str = "hello"


@op
def emit() -> int:
    return 3


@op
def scale(config: Scale, n: int) -> int:
    return config.factor * n


@op
def greet(greeter: Greeter, suffix: ResourceParam[str], n: int) -> str:
    return f"{greeter.greeting} {n}{suffix}"


@job(resource_defs={"greeter": Greeter(greeting="hi"), "suffix": "!"})
def future_job():
    greet(scale(emit()))
