"""The Flask app: one factory for the webserver, `flask --app opgraph_app ...` and `opgraph ...`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported in create_app: `opgraph --help` imports this package only
    from flask import Flask

    from opgraph.instance import OpgraphInstance


def create_app(
    instance: OpgraphInstance | None = None, workspace: Any = None, read_only: bool = False
) -> Flask:
    """Build the app around `instance` (default: `OpgraphInstance.get()`, made on first use).

    `read_only` refuses every mutation, as does `webserver.read_only` in instance.yaml.
    Production: `gunicorn 'opgraph_app:create_app()'` (see docs/graphql.md)."""
    from flask import Flask

    from opgraph_app.cli import COMMANDS, load_command
    from opgraph_app.extension import OpgraphExtension
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
    for name in COMMANDS:  # the `opgraph` command groups, for `flask --app opgraph_app ...`
        app.cli.add_command(load_command(name))
    return app
