"""The Flask app: one factory for the webserver, `flask --app opgraph_app ...` and `opgraph ...`."""

from __future__ import annotations

from typing import Any

from flask import Flask

from opgraph.instance import OpgraphInstance
from opgraph_app.extension import OpgraphExtension


def create_app(
    instance: OpgraphInstance | None = None, workspace: Any = None, read_only: bool = False
) -> Flask:
    """Build the app around `instance` (default: `OpgraphInstance.get()`, made on first use).

    `read_only` refuses every mutation, as does `webserver.read_only` in instance.yaml.
    Production: `gunicorn 'opgraph_app:create_app()'` (see docs/graphql.md)."""
    # Imported here: the CLI and view modules import `opgraph_app.extension`, not this module.
    from opgraph_app.cli_code_server import code_server_command
    from opgraph_app.cli_daemon import daemon_cli
    from opgraph_app.cli_dev import dev_command
    from opgraph_app.cli_instance import instance_cli
    from opgraph_app.cli_locations import locations_cli
    from opgraph_app.cli_runs import runs_cli
    from opgraph_app.cli_schedules import schedules_cli, sensors_cli
    from opgraph_app.cli_webserver import webserver_command
    from opgraph_app.cli_workers import workers_cli
    from opgraph_app.graphql.view import register_graphql
    from opgraph_app.health import health_blueprint
    from opgraph_app.live import live_blueprint
    from opgraph_app.metrics import metrics_blueprint
    from opgraph_app.ui import ui_blueprint

    app = Flask(__name__)
    app.extensions["opgraph"] = OpgraphExtension(instance, workspace, read_only)
    app.register_blueprint(health_blueprint)
    app.register_blueprint(live_blueprint)
    app.register_blueprint(metrics_blueprint)
    app.register_blueprint(ui_blueprint)
    register_graphql(app)
    app.cli.add_command(runs_cli)
    app.cli.add_command(webserver_command)
    app.cli.add_command(instance_cli)
    app.cli.add_command(locations_cli)
    app.cli.add_command(code_server_command)
    app.cli.add_command(workers_cli)
    app.cli.add_command(daemon_cli)
    app.cli.add_command(schedules_cli)
    app.cli.add_command(sensors_cli)
    app.cli.add_command(dev_command)
    return app
