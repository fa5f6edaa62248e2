# dagster original: from dagster import ConfigurableIOManager, ConfigurableResource, Field,
#     IOManager, InputContext, OpExecutionContext, OutputContext, io_manager, job, op, resource
"""Resources and IO managers, both the Pythonic (class-based) and the function-style APIs."""

import json
import os
import tempfile
from pathlib import Path

from opgraph import (
    ConfigurableIOManager,
    ConfigurableResource,
    Field,
    InputContext,
    IOManager,
    OpExecutionContext,
    OutputContext,
    io_manager,
    job,
    op,
    resource,
)

# Where the JSON IO manager of customer_sync_job keeps its files (overridable by the environment).
IO_BASE_DIR = os.environ.get(
    "CUSTOMER_SYNC_IO_DIR", os.path.join(tempfile.gettempdir(), "customer_sync_io")
)


class WarehouseClient(ConfigurableResource):
    """A fake warehouse client: only knows how to name tables."""

    prefix: str = "dev"

    def table_name(self, name: str) -> str:
        return f"{self.prefix}_{name}"


class IdAllocator:
    def __init__(self, start: int):
        self.next_id = start

    def allocate(self, count: int) -> list[int]:
        ids = list(range(self.next_id, self.next_id + count))
        self.next_id += count
        return ids


@resource(config_schema={"start": Field(int, default_value=1000)})
def id_allocator(init_context):
    return IdAllocator(init_context.resource_config["start"])


class JsonFileIOManager(ConfigurableIOManager):
    """Stores every output as `<base_dir>/<step_key>/<output_name>.json`."""

    base_dir: str

    def _path(self, step_key: str, output_name: str) -> Path:
        return Path(self.base_dir) / step_key / f"{output_name}.json"

    def handle_output(self, context: OutputContext, obj) -> None:
        path = self._path(context.step_key, context.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(obj, sort_keys=True))

    def load_input(self, context: InputContext):
        upstream = context.upstream_output
        return json.loads(self._path(upstream.step_key, upstream.name).read_text())


@op
def fetch_customers(context: OpExecutionContext) -> list[dict]:
    customers = [
        {"email": "ada@example.com", "country": "UK", "segments": ("newsletter", "beta")},
        {"email": "grace@example.com", "country": "US", "segments": ("newsletter",)},
        {"email": "linus@example.com", "country": "FI", "segments": ()},
    ]
    context.log.info(f"fetched {len(customers)} customers")
    return customers


@op(required_resource_keys={"ids"})
def assign_ids(context: OpExecutionContext, customers: list[dict]) -> list[dict]:
    ids = context.resources.ids.allocate(len(customers))
    return [{**customer, "id": new_id} for customer, new_id in zip(customers, ids, strict=True)]


@op
def publish_customers(
    context: OpExecutionContext, warehouse: WarehouseClient, customers: list[dict]
) -> dict:
    table = warehouse.table_name("customers")
    context.log.info(f"publishing {len(customers)} rows to {table}")
    return {"table": table, "ids": [c["id"] for c in customers], "rows": len(customers)}


@job(
    resource_defs={
        "warehouse": WarehouseClient(prefix="analytics"),
        "ids": id_allocator,
        "io_manager": JsonFileIOManager(base_dir=IO_BASE_DIR),
    }
)
def customer_sync_job():
    publish_customers(assign_ids(fetch_customers()))


# --- function-style IO manager, configured through run config ---------------------------------


class LinesIOManager(IOManager):
    """Stores a list of strings as a text file, one line each (other values as one line)."""

    def __init__(self, base_dir: str):
        self.base_dir = Path(base_dir)

    def handle_output(self, context: OutputContext, obj) -> None:
        lines = obj if isinstance(obj, list) else [obj]
        self.base_dir.mkdir(parents=True, exist_ok=True)
        path = self.base_dir / f"{context.step_key}.{context.name}.txt"
        path.write_text("\n".join(str(line) for line in lines))

    def load_input(self, context: InputContext) -> list[str]:
        upstream = context.upstream_output
        path = self.base_dir / f"{upstream.step_key}.{upstream.name}.txt"
        return path.read_text().split("\n")


@io_manager(config_schema={"base_dir": str})
def lines_io_manager(init_context):
    return LinesIOManager(init_context.resource_config["base_dir"])


@op
def emit_log_lines() -> list[str]:
    return ["GET /index.html 200", "GET /missing 404", "POST /login 200", "GET /admin 403"]


@op
def count_errors(lines: list[str]) -> int:
    return sum(1 for line in lines if int(line.rsplit(" ", 1)[1]) >= 400)


@job(resource_defs={"io_manager": lines_io_manager})
def log_audit_job():
    count_errors(emit_log_lines())
