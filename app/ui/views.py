"""Routes of the web UI. Each renders a page shell; the page's script loads the data.

The shell carries what the script needs to start as `data-*` attributes of `<body>`
(escaped by Jinja), and whether this webserver is read-only, so that actions are hidden
rather than offered and then refused.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, current_app, render_template
from flask.typing import ResponseReturnValue

from opgraph_app.extension import OpgraphExtension
from opgraph_app.ui.assets import asset_version, page_modules

ui_blueprint = Blueprint("ui", __name__)

# Pages may load scripts, styles and data from this webserver only: even if some text
# slipped through unescaped, no script could run from it (no inline scripts allowed).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

NAV = [
    ("overview", "/", "Overview"),
    ("runs", "/runs", "Runs"),
    ("jobs", "/jobs", "Jobs"),
    ("assets", "/assets", "Assets"),
    ("backfills", "/backfills", "Backfills"),
    ("schedules", "/schedules", "Schedules"),
    ("sensors", "/sensors", "Sensors"),
    ("deployment", "/deployment", "Deployment"),
    ("graphiql", "/graphql", "GraphiQL"),  # the vendored IDE, served offline (graphiql_page)
]


def _policy_with_style_nonce(nonce: str) -> str:
    """The policy, plus style elements that carry this response's nonce: the launchpad's
    code editor (CodeMirror) puts its styles in <style> elements and is given the nonce.
    Scripts stay 'self' only; an injected <style> without the nonce still does not apply."""
    return CONTENT_SECURITY_POLICY.replace("style-src 'self'", f"style-src 'self' 'nonce-{nonce}'")


def _page(
    template: str, section: str, title: str, style_nonce: bool = False, **data: str
) -> ResponseReturnValue:
    extension: OpgraphExtension = current_app.extensions["opgraph"]
    settings = extension.instance.config.webserver
    nonce = secrets.token_urlsafe(16) if style_nonce else None
    if nonce:
        data = {**data, "style_nonce": nonce}
    body_data = {
        "page": template,
        "read-only": "1" if extension.read_only or settings.read_only else "0",
        "auth-token": "1" if settings.auth_token else "0",
        **{key.replace("_", "-"): value for key, value in data.items()},
    }
    html = render_template(
        f"ui/{template}.html",
        title=title,
        section=section,
        nav=NAV,
        body_data=body_data,
        asset_version=asset_version(),
        modules=page_modules(template),
        **data,
    )
    response = Response(html, mimetype="text/html")
    policy = _policy_with_style_nonce(nonce) if nonce else CONTENT_SECURITY_POLICY
    response.headers["Content-Security-Policy"] = policy
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


@ui_blueprint.get("/")
def overview() -> ResponseReturnValue:
    return _page("overview", "overview", "Overview")


@ui_blueprint.get("/runs")
def runs() -> ResponseReturnValue:
    return _page("runs", "runs", "Runs")


@ui_blueprint.get("/runs/<run_id>")
def run(run_id: str) -> ResponseReturnValue:
    return _page("run", "runs", f"Run {run_id}", run_id=run_id)


@ui_blueprint.get("/jobs")
def jobs() -> ResponseReturnValue:
    return _page("jobs", "jobs", "Jobs")


@ui_blueprint.get("/jobs/<location>/<job>")
def job(location: str, job: str) -> ResponseReturnValue:
    return _page("job", "jobs", f"{job} · {location}", style_nonce=True, location=location, job=job)


@ui_blueprint.get("/assets")
def assets() -> ResponseReturnValue:
    return _page("assets", "assets", "Assets")


@ui_blueprint.get("/assets/<path:key>")
def asset(key: str) -> ResponseReturnValue:
    return _page("asset", "assets", f"Asset {key}", asset_key=key)


@ui_blueprint.get("/backfills")
def backfills() -> ResponseReturnValue:
    return _page("backfills", "backfills", "Backfills")


@ui_blueprint.get("/backfills/<backfill_id>")
def backfill(backfill_id: str) -> ResponseReturnValue:
    return _page("backfill", "backfills", f"Backfill {backfill_id}", backfill_id=backfill_id)


@ui_blueprint.get("/schedules")
def schedules() -> ResponseReturnValue:
    return _page("instigators", "schedules", "Schedules", kind="schedule")


@ui_blueprint.get("/schedules/<location>/<name>")
def schedule(location: str, name: str) -> ResponseReturnValue:
    return _instigator("schedule", location, name)


@ui_blueprint.get("/sensors")
def sensors() -> ResponseReturnValue:
    return _page("instigators", "sensors", "Sensors", kind="sensor")


@ui_blueprint.get("/sensors/<location>/<name>")
def sensor(location: str, name: str) -> ResponseReturnValue:
    return _instigator("sensor", location, name)


def _instigator(kind: str, location: str, name: str) -> ResponseReturnValue:
    data: dict[str, Any] = {"kind": kind, "location": location, "name": name}
    return _page("instigator", f"{kind}s", f"{name} · {location}", **data)


@ui_blueprint.get("/deployment")
def deployment() -> ResponseReturnValue:
    return _page("deployment", "deployment", "Deployment")
