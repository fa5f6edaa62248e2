"""A Dagster job file using the long tail of Dagster names (imports changed to opgraph)."""

import enum
from pathlib import Path

from opgraph import (
    Array,
    ConfigurableResource,
    DagsterType,
    Enum,
    EnumValue,
    EnvVar,
    Field,
    FilesystemIOManager,
    In,
    Int,
    MetadataValue,
    Noneable,
    Out,
    Output,
    Permissive,
    ResourceParam,
    Selector,
    Shape,
    String,
    TableColumn,
    TableSchema,
    TypeCheck,
    failure_hook,
    get_dagster_logger,
    job,
    make_values_resource,
    op,
    success_hook,
    usable_as_dagster_type,
)


class Color(enum.Enum):
    RED = 1
    BLUE = 2


@op(
    config_schema={
        "shape": Shape({"a": Int, "b": Field(String, default_value="x")}),
        "perm": Permissive({"k": Int}),
        "source": Selector({"csv": {"path": String}, "table": {"name": String}}),
        "maybe": Noneable(Int),
        "color": Enum.from_python_enum(Color),
        "speed": Enum("Speed", [EnumValue("fast"), EnumValue("slow", python_value=2)]),
        "sizes": Array(Int),
    }
)
def configured(context):
    return context.op_config


@job
def config_types_job():
    configured()


class Secrets(ConfigurableResource):
    token: str
    region: str = "eu"


@op
def read_token(secrets: Secrets) -> str:
    return secrets.token


@job(resource_defs={"secrets": Secrets(token=EnvVar("OPGRAPH_COMPAT_TOKEN"))})
def env_var_job():
    read_token()


class Server(ConfigurableResource):
    host: str
    port: int
    debug: bool = False
    retries: int | None = None


@op
def describe_server(server: Server) -> list:
    return [server.host, server.port, server.debug, server.retries]


@op
def first() -> int:
    return 3


@op
def doubled(n: int) -> int:
    return 2 * n


@op
def last(n: int) -> int:
    return n + 1


@job
def selection_job():
    last(doubled(first()))


@job(
    resource_defs={
        "server": Server(
            host=EnvVar("OPGRAPH_COMPAT_HOST"),
            port=EnvVar.int("OPGRAPH_COMPAT_PORT"),
            debug=EnvVar.int("OPGRAPH_COMPAT_DEBUG"),  # Dagster: EnvVar.int fills bool fields
            retries=EnvVar.int("OPGRAPH_COMPAT_RETRIES"),
        )
    }
)
def typed_env_var_job():
    describe_server()


# -- hooks and type checks: the marker files say which hook ran where -----------------------
def _mark(context, kind: str) -> None:
    folder = Path(context.op_config["marker_dir"])
    (folder / f"{kind}.{context.step_key}").write_text(type(context.op_exception).__name__)


@success_hook
def on_success(context):
    _mark(context, "success")


@failure_hook(name="on_failure")
def on_failure(context):
    _mark(context, "failure")


Even = DagsterType(
    lambda _context, value: TypeCheck(
        isinstance(value, int) and value % 2 == 0,
        description=f"{value!r} is not an even int",
        metadata={"value": MetadataValue.text(repr(value)), "rule": "even"},
    ),
    name="Even",
)


@usable_as_dagster_type
class Report:
    def __init__(self, rows: int):
        self.rows = rows


MARKER = {"marker_dir": str}


@op(config_schema=MARKER, out=Out(dagster_type=Even))
def two(context):
    return 2


@op(config_schema=MARKER, ins={"value": In(dagster_type=Even)}, out=Out(dagster_type=Even))
def plus_one(context, value):
    return value + 1  # odd: fails the output check


@op(config_schema=MARKER)
def report(context) -> Report:
    return "not a report"  # fails the annotation's check


@op(config_schema=MARKER)
def good_report(context) -> Report:
    return Report(3)


@job(hooks={on_success, on_failure}, resource_defs={"io_manager": FilesystemIOManager()})
def hooks_and_types_job():
    plus_one(two())
    report()
    good_report()


# -- resources and metadata --------------------------------------------------------------------
class Greeter:
    def __init__(self, greeting: str):
        self.greeting = greeting


@op
def greet(greeter: ResourceParam[Greeter], settings) -> str:
    get_dagster_logger("compat").info("greeting with %s", greeter.greeting)
    return f"{greeter.greeting}, {settings}"


@op(required_resource_keys={"settings"})
def settings(context):
    return context.resources.settings["name"]


@op(
    out=Out(
        metadata={
            "schema": MetadataValue.table_schema(TableSchema.from_name_type_dict({"id": "int"}))
        }
    )
)
def described():
    return Output(
        [1, 2],
        metadata={
            "rows": MetadataValue.int(2),
            "link": MetadataValue.url("https://example.invalid/x"),
            "preview": MetadataValue.md("| id |\n| 1 |"),
            "columns": TableSchema([TableColumn("id", "int", description="key")]),
        },
    )


@job(
    resource_defs={"greeter": Greeter("hello"), "settings": make_values_resource(name=str)},
    config={"resources": {"settings": {"config": {"name": "ada"}}}},
)
def greeting_job():
    greet(settings())
    described()
