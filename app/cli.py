"""`opgraph` console script: the same command line as `flask --app opgraph_app`."""

from __future__ import annotations

from flask.cli import FlaskGroup

from opgraph_app import create_app

main = FlaskGroup(
    create_app=create_app,
    help="Administer opgraph: runs, the instance, and the webserver (`opgraph run`).",
)
