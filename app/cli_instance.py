"""`opgraph instance ...`: what this instance is made of, and schema migrations."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from opgraph import plugins
from opgraph.instance_config import INSTANCE_FILE, ComponentConfig
from opgraph_app.cli_context import current_instance
from opgraph_app.cli_format import CommandGroup, format_table
from opgraph_storage.base import StorageError
from opgraph_storage.migration import head_revision, migrate
from opgraph_storage.urls import redact_url

instance_cli = CommandGroup("instance", help="Inspect the instance and migrate its storage.")


def _component(component: ComponentConfig) -> dict[str, Any]:
    return {"class": f"{component.module}.{component.class_name}", "config": component.config}


@instance_cli.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info(as_json: bool) -> None:
    """Home, storage, coordinator, launcher, schema revision and daemon heartbeats."""
    instance = current_instance()
    config_file = instance.home / INSTANCE_FILE
    data: dict[str, Any] = {
        "home": str(instance.home),
        "instance_yaml": str(config_file) if config_file.exists() else None,
        "storage_url": redact_url(instance.config.storage_url(instance.home)),
        "run_coordinator": _component(instance.config.run_coordinator),
        "run_launcher": _component(instance.config.run_launcher),
        "schema_revision": head_revision(),
        "storage_error": None,
        "daemons": [],
        "active_daemon": None,
    }
    try:
        heartbeats = instance.storage.get_daemon_heartbeats()
    except StorageError as exc:  # still show the rest: it is what one needs to fix this
        data["storage_error"] = str(exc)
        data["schema_revision"] = None  # unknown: the database could not be checked
    else:
        # The workers' heartbeats share the table: `opgraph workers list` shows those (a
        # fleet scaled up and down leaves one row per worker it ever had).
        fleets = [build(instance) for build in plugins.load_all(plugins.WORKER_FLEETS).values()]
        data["daemons"] = [
            {"type": hb.daemon_type, "id": hb.daemon_id, "last_heartbeat": hb.timestamp}
            for name, hb in sorted(heartbeats.items(), key=lambda item: item[1].daemon_type)
            if not any(fleet.owns_heartbeat(name) for fleet in fleets)
        ]
        lease = instance.storage.get_lease("daemon")  # opgraph.daemon.controller.LEASE_NAME
        if lease is not None and lease.expires_at > time.time():
            data["active_daemon"] = {"id": lease.holder, "host": lease.host, "pid": lease.pid}
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        _print_info(data)
    if data["storage_error"]:
        raise SystemExit(1)


def _print_info(data: dict[str, Any]) -> None:
    def component(value: dict[str, Any]) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in value["config"].items())
        return value["class"] + (f" ({options})" if options else "")

    schema = data["storage_error"] or f"current (revision {data['schema_revision']})"
    rows = [
        ("Home", data["home"]),
        ("Config", data["instance_yaml"] or f"no {INSTANCE_FILE}: all defaults"),
        ("Storage", data["storage_url"]),
        ("Schema", schema),
        ("Coordinator", component(data["run_coordinator"])),
        ("Launcher", component(data["run_launcher"])),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        click.echo(f"{name.ljust(width)}  {value}")
    if data["storage_error"]:
        return
    if not data["daemons"]:
        click.echo("Daemons: none has sent a heartbeat (start one with `opgraph daemon run`)")
        return
    now = time.time()
    active = data["active_daemon"]
    if active:
        click.echo(f"Active daemon: {active['host']} (pid {active['pid']}, id {active['id']})")
    else:
        click.echo("Active daemon: none holds the lease (start one with `opgraph daemon run`)")
    table = format_table(
        ["DAEMON", "ID", "LAST HEARTBEAT"],
        [[d["type"], d["id"], f"{now - d['last_heartbeat']:.0f}s ago"] for d in data["daemons"]],
    )
    click.echo("Daemons:")
    click.echo("\n".join("  " + line for line in table.splitlines()))


@instance_cli.command("migrate")
def migrate_storage() -> None:
    """Upgrade the storage schema to the one this opgraph version needs."""
    instance = current_instance()
    url = instance.config.storage_url(instance.home)
    click.echo(f"Migrating {redact_url(url)} ...")
    try:
        migrate(url)
    except StorageError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Storage is at schema revision {head_revision()}.")
