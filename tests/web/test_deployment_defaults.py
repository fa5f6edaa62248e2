"""Secure defaults of `opgraph webserver`: Host checking and no token-less public listener."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.web_server import ROOT, free_port, make_home

DEPLOY = ROOT / "deploy"


def test_loopback_webserver_answers_loopback_names_only(
    tmp_path: Path, pg_storage_url, opgraph_webserver
):
    server = opgraph_webserver(make_home(tmp_path, pg_storage_url))
    for host in ("127.0.0.1", f"127.0.0.1:{server.port}", f"localhost:{server.port}", "[::1]"):
        status, _, body = server.request(
            "/graphql?query={instance{readOnly}}", headers={"Host": host}
        )
        assert status == 200, (host, body)
    # A DNS-rebinding page sends its own name.
    for host in (
        f"attacker.example:{server.port}",
        "localhost.attacker.example",
        "127.0.0.1.nip.io",
    ):
        status, _, body = server.request(
            "/graphql?query={instance{readOnly}}", headers={"Host": host}
        )
        assert status == 400, (host, body)
        assert "webserver.allowed_hosts" in json.loads(body)["errors"][0]["message"]
    assert server.request("/", headers={"Host": "attacker.example"})[0] == 400
    assert server.request("/runs/x/events", headers={"Host": "attacker.example"})[0] == 400
    # Health probes address pods by IP; /health reveals nothing.
    assert server.request("/health", headers={"Host": "10.1.2.3:3000"})[0] == 200


def test_allowed_hosts_setting_and_flag(tmp_path: Path, pg_storage_url, opgraph_webserver):
    home = make_home(tmp_path, pg_storage_url, webserver={"allowed_hosts": ["*.example.org"]})
    configured = opgraph_webserver(home)
    flagged = opgraph_webserver(home, "--allowed-host", "opgraph.internal")

    assert configured.request("/", headers={"Host": "ui.example.org"})[0] == 200
    assert configured.request("/", headers={"Host": "localhost"})[0] == 400
    assert flagged.request("/", headers={"Host": "opgraph.internal:3000"})[0] == 200
    assert flagged.request("/", headers={"Host": "ui.example.org"})[0] == 400


def _run_webserver(home: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Start `opgraph webserver` that must refuse: it exits on its own, before binding."""
    command = [sys.executable, "-m", "flask", "--app", "opgraph_app", "webserver", *args]
    full_env = {key: value for key, value in os.environ.items() if key != "OPGRAPH_INSECURE"}
    full_env |= {"OPGRAPH_HOME": str(home), **(env or {})}
    return subprocess.run(
        command, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120
    )


def test_refuses_to_listen_beyond_loopback_without_a_token(
    tmp_path: Path, pg_storage_url, opgraph_webserver
):
    home = make_home(tmp_path, pg_storage_url)
    refused = _run_webserver(home, "--host", "0.0.0.0", "--port", str(free_port()))
    assert refused.returncode == 2, refused
    assert "without a mutation token" in refused.stderr
    assert "--insecure" in refused.stderr and "auth_token" in refused.stderr

    # Each explicit way out starts it: --insecure, OPGRAPH_INSECURE=1, --read-only, a token.
    ways: list[tuple[list[str], dict[str, str], Path]] = [
        (["--host", "0.0.0.0", "--insecure"], {}, home),
        (["--host", "0.0.0.0"], {"OPGRAPH_INSECURE": "1"}, home),
        (["--host", "0.0.0.0", "--read-only"], {}, home),
    ]
    token_home = make_home(tmp_path / "token", pg_storage_url, webserver={"auth_token": "t0ken"})
    ways.append((["--host", "0.0.0.0"], {}, token_home))
    for options, env, server_home in ways:
        server = opgraph_webserver(server_home, *options, env=env)
        assert server.request("/health")[0] == 200


def test_deployments_start_the_webserver_without_insecure():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    webserver = compose["services"]["webserver"]
    assert "--insecure" not in webserver["command"]
    environment = {**compose["x-opgraph"]["environment"], **webserver.get("environment", {})}
    assert environment["OPGRAPH_INSECURE"] == "${OPGRAPH_INSECURE:-}"  # off unless asked for
    manifests = list(yaml.safe_load_all((DEPLOY / "kubernetes" / "webserver.yaml").read_text()))
    container = manifests[0]["spec"]["template"]["spec"]["containers"][0]
    assert "--insecure" not in container["command"]
    assert not any(env["name"] == "OPGRAPH_INSECURE" for env in container.get("env", []))
