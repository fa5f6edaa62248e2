"""The Flask app: one factory for the webserver, `flask --app app ...` and `opgraph ...`."""

from __future__ import annotations

from typing import Any

from flask import Flask

from app.extension import OpgraphExtension
from opgraph.instance import OpgraphInstance


def create_app(instance: OpgraphInstance | None = None, workspace: Any = None) -> Flask:
    """Build the app around `instance` (default: `OpgraphInstance.get()`, made on first use)."""
    # Imported here: the CLI and view modules import `app.extension`, not this module.
    from app.cli_code_server import code_server_command
    from app.cli_instance import instance_cli
    from app.cli_locations import locations_cli
    from app.cli_runs import runs_cli
    from app.health import health_blueprint

    app = Flask(__name__)
    app.extensions["opgraph"] = OpgraphExtension(instance, workspace)
    app.register_blueprint(health_blueprint)
    app.cli.add_command(runs_cli)
    app.cli.add_command(instance_cli)
    app.cli.add_command(locations_cli)
    app.cli.add_command(code_server_command)
    return app
