"""The Flask app: one factory for the webserver, `flask --app opgraph_app ...` and `opgraph ...`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported in create_app: `opgraph --help` imports this package only
    from flask import Flask

    from opgraph.instance import OpgraphInstance


def create_app(
    instance: OpgraphInstance | None = None,
    workspace: Any = None,
    read_only: bool = False,
    bind_host: str | None = None,
    allowed_hosts: list[str] | None = None,
) -> Flask:
    """Build the app around `instance` (default: `OpgraphInstance.get()`, made on first use).

    `read_only` refuses every mutation, as does `webserver.read_only` in instance.yaml.
    `allowed_hosts` (default `webserver.allowed_hosts`, else the loopback names when
    `bind_host`, default `webserver.host`, is loopback) are the Host headers answered.
    Production: `opgraph webserver`, or `gunicorn -k gevent 'opgraph_app:create_app()'`
    (see docs/deploying.md)."""
    from flask import Flask

    from opgraph_app.cli import COMMANDS, load_command
    from opgraph_app.extension import OpgraphExtension
    from opgraph_app.graphql.view import register_graphql
    from opgraph_app.green import make_psycopg_green
    from opgraph_app.health import health_blueprint
    from opgraph_app.hosts import install_host_check
    from opgraph_app.live import live_blueprint
    from opgraph_app.memory import install_memory_trim
    from opgraph_app.metrics import metrics_blueprint
    from opgraph_app.ui import ui_blueprint

    make_psycopg_green()  # under gunicorn's gevent worker: queries yield to other requests
    app = Flask(__name__)
    extension = OpgraphExtension(instance, workspace, read_only, bind_host, allowed_hosts)
    app.extensions["opgraph"] = extension
    install_host_check(app, extension.allowed_hosts)
    install_memory_trim(app)
    app.register_blueprint(health_blueprint)
    app.register_blueprint(live_blueprint)
    app.register_blueprint(metrics_blueprint)
    app.register_blueprint(ui_blueprint)
    register_graphql(app)
    for name in COMMANDS:  # the `opgraph` command groups, for `flask --app opgraph_app ...`
        app.cli.add_command(load_command(name))
    return app
