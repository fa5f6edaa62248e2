"""deploy/ and the Procfile against the code: every command parses with the real CLI,
every port, health path and env var they name exists, the pieces name each other right."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from opgraph.instance_config import load_instance_config
from opgraph.workspace.config import load_workspace_config
from tests.deploy.deploy_checks import (
    DEPLOY,
    PACKAGES,
    ROOT,
    check_celery,
    check_command,
    check_env_names,
    check_opgraph,
    code_server_paths,
    expand_defaults,
    instance_variables,
    probe_url,
    webserver_paths,
)

OUR_SERVICES = ("migrate", "code-server", "webserver", "daemon", "worker")


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())  # merges `<<:` keys


def _kubernetes() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    docs = []
    for resource in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((DEPLOY / resource).read_text()) if d]
    return docs


def _option(argv: list[str], *names: str) -> str:
    for index, part in enumerate(argv):
        if part in names:
            return argv[index + 1]
    raise AssertionError(f"no {names} in {argv}")


@pytest.fixture
def fleet_env(monkeypatch):
    """The variables compose and the Kubernetes Secret give every container."""
    monkeypatch.setenv("OPGRAPH_PG_URL", "postgresql://opgraph:pw@postgres:5432/opgraph")
    monkeypatch.setenv("OPGRAPH_REDIS_URL", "redis://redis:6379/0")


def test_the_fleet_instance_yaml_and_workspace_yaml_load(tmp_path, fleet_env):
    shutil.copy(DEPLOY / "instance.yaml", tmp_path / "instance.yaml")
    config = load_instance_config(tmp_path)
    assert config.storage.postgres is not None
    assert config.celery.broker_url == "redis://redis:6379/0"
    assert config.webserver.host == "0.0.0.0" and not config.webserver.auth_token
    for component in (config.run_coordinator, config.run_launcher):  # importable classes
        module = __import__(component.module, fromlist=[component.class_name])
        assert hasattr(module, component.class_name)
    [location] = load_workspace_config(DEPLOY / "workspace.yaml")
    assert location.origin["server"] == {"host": "code-server", "port": 4000}


def test_compose_services_commands_ports_and_health_checks(fleet_env):
    compose = _compose()
    services = compose["services"]
    assert {*OUR_SERVICES, "postgres", "redis", "proxy"} <= set(services)
    instance = yaml.safe_load((DEPLOY / "instance.yaml").read_text())
    for name in OUR_SERVICES:
        service = services[name]
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
        check_command(service["command"])
        if name != "migrate":
            check_command(service["healthcheck"]["test"])
            assert service["restart"] == "unless-stopped"
        for volume in service["volumes"]:
            source, target = volume.split(":")[:2]
            if source.startswith("./"):
                assert (DEPLOY / source).is_file(), volume
                assert target == f"{service['environment']['OPGRAPH_HOME']}/{Path(source).name}"
        check_env_names(set(service["environment"]))
        assert instance_variables() <= set(service["environment"])  # ${VAR}s are all given

    webserver = services["webserver"]
    port = int(_option(webserver["command"], "--port"))
    assert port == instance["webserver"]["port"] and webserver["expose"] == [str(port)]
    assert webserver["deploy"]["replicas"] == 2
    assert probe_url(webserver["healthcheck"]["test"][-1]) == (port, "/health")
    assert "/health" in webserver_paths() and "/metrics" in webserver_paths()
    nginx = (DEPLOY / "nginx.conf").read_text()
    assert f"server webserver:{port};" in nginx
    proxy = services["proxy"]
    assert expand_defaults(proxy["ports"][0]) == f"{port}:{port}"
    assert (
        f"listen {port};" in nginx
        and f"127.0.0.1:{port}/health" in proxy["healthcheck"]["test"][-1]
    )

    assert services["daemon"]["deploy"]["replicas"] == 2  # the active one and a standby
    assert services["daemon"]["healthcheck"]["test"][1:] == ["opgraph", "daemon", "status"]

    code_server = services["code-server"]
    code_port = int(_option(code_server["command"], "--port"))
    [location] = load_workspace_config(DEPLOY / "workspace.yaml")
    assert location.origin["server"] == {"host": "code-server", "port": code_port}
    assert _option(code_server["command"], "--location-name") == location.name
    assert code_server["expose"] == [str(code_port)]
    health_port, health_path = probe_url(code_server["healthcheck"]["test"][-1])
    assert (health_port, health_path) == (code_port, "/status")
    assert health_path in code_server_paths()

    worker = services["worker"]  # scalable: no fixed name, no host port
    assert "container_name" not in worker and "ports" not in worker
    queues = _option(worker["command"], "-Q").split(",")
    assert queues == [
        instance["celery"]["default_queue"],
        instance["run_launcher"]["celery"]["queue"],
    ]
    assert "worker@$$HOSTNAME" in worker["healthcheck"]["test"][1]
    assert _option(worker["command"], "-n") == "worker@%h"

    for name in ("postgres", "redis", "proxy"):
        assert services[name]["healthcheck"]["test"], name
    depends = services["webserver"]["depends_on"]
    assert depends["migrate"] == {"condition": "service_completed_successfully"}
    assert compose["services"]["migrate"]["command"] == ["opgraph", "instance", "migrate"]


def test_compose_urls_point_at_its_own_services():
    environment = _compose()["services"]["webserver"]["environment"]
    pg = re.match(r"postgresql://(\w+):.*@(\w+):(\d+)/(\w+)", environment["OPGRAPH_PG_URL"])
    assert pg and pg.group(2) == "postgres" and pg.group(3) == "5432"
    postgres = _compose()["services"]["postgres"]["environment"]
    assert (pg.group(1), pg.group(4)) == (postgres["POSTGRES_USER"], postgres["POSTGRES_DB"])
    assert environment["OPGRAPH_REDIS_URL"] == "redis://redis:6379/0"


def _dockerfile() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_dockerfile_copies_every_package_and_the_user_code():
    instructions = _dockerfile()
    copied = []
    for kind, rest in instructions:
        if kind == "COPY":
            parts = [p for p in rest.split() if not p.startswith("--")]
            copied += parts[:-1]
    sources = [c for c in copied if not c.startswith("${")]
    for source in sources:
        assert (ROOT / source).exists(), source
    assert set(PACKAGES) <= set(sources)  # a new top-level package must be copied too
    assert {"pyproject.toml", "setup.cfg", "README.md"} <= set(sources)
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    folders = {
        line.split("=")[1].strip()
        for line in setup["options"]["package_dir"].splitlines()
        if "=" in line
    }
    assert set(PACKAGES) == folders  # every folder installs, under its own import name
    args = {rest.split("=")[0]: rest.split("=")[1] for kind, rest in instructions if kind == "ARG"}
    user_code = ROOT / args["USER_CODE"]
    assert (
        user_code / "jobs.py"
    ).is_file()  # compose and Kubernetes serve /opt/opgraph/code/jobs.py
    home = next(rest for kind, rest in instructions if kind == "ENV" and "OPGRAPH_HOME" in rest)
    assert "OPGRAPH_HOME=/var/lib/opgraph" in home
    exposed = {rest for kind, rest in instructions if kind == "EXPOSE"}
    assert exposed == {"3000 4000"}
    cmd = next(rest for kind, rest in instructions if kind == "CMD")
    check_command(yaml.safe_load(cmd))


def _containers(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]
        for d in docs
        if d["kind"] == "Deployment"
    }


def test_kubernetes_deployments_commands_probes_and_config(fleet_env):
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    [generator] = kustomization["configMapGenerator"]
    assert sorted(generator["files"]) == ["instance.yaml", "workspace.yaml"]
    docs = _kubernetes()
    pods = _containers(docs)
    assert set(pods) == {
        "opgraph-code-server",
        "opgraph-webserver",
        "opgraph-daemon",
        "opgraph-worker",
    }
    secret = yaml.safe_load((DEPLOY / "kubernetes" / "secret.example.yaml").read_text())
    claims = {d["metadata"]["name"] for d in docs if d["kind"] == "PersistentVolumeClaim"}
    for name, pod in pods.items():
        [container] = pod["containers"]
        check_command(container["command"])
        assert container["image"] == kustomization["images"][0]["name"]
        assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
        assert instance_variables() <= set(secret["stringData"]), name
        env = {item["name"]: item["value"] for item in container["env"]}
        check_env_names(set(env) | set(secret["stringData"]))
        assert env["OPGRAPH_HOME"] == "/var/lib/opgraph"
        volumes = {v["name"]: v for v in pod["volumes"]}
        for mount in container["volumeMounts"]:
            volume = volumes[mount["name"]]
            if "configMap" in volume:
                assert volume["configMap"]["name"] == generator["name"]
                assert mount["subPath"] in generator["files"]
                assert mount["mountPath"] == f"{env['OPGRAPH_HOME']}/{mount['subPath']}"
            else:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
                assert mount["mountPath"] == env["OPGRAPH_HOME"]
        ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        for probe_name in ("readinessProbe", "livenessProbe"):
            probe = container.get(probe_name)
            if probe is None:
                continue
            if "exec" in probe:
                check_command(probe["exec"]["command"])
                continue
            path, port = probe["httpGet"]["path"], probe["httpGet"]["port"]
            assert port in ports, (name, port)
            known = code_server_paths() if name == "opgraph-code-server" else webserver_paths()
            assert path in known, (name, path)
            assert str(ports[port]) == _option(container["command"], "--port")

    assert pods["opgraph-daemon"] and _replicas(docs, "opgraph-daemon") == 2
    assert _replicas(docs, "opgraph-webserver") == 2
    annotations = next(
        d
        for d in docs
        if d["metadata"]["name"] == "opgraph-webserver" and d["kind"] == "Deployment"
    )["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] in webserver_paths()
    assert annotations["prometheus.io/port"] == _option(
        pods["opgraph-webserver"]["containers"][0]["command"], "--port"
    )


def _replicas(docs: list[dict[str, Any]], name: str) -> int:
    return next(
        d["spec"]["replicas"]
        for d in docs
        if d["kind"] == "Deployment" and d["metadata"]["name"] == name
    )


def test_kubernetes_services_select_their_pods_and_match_the_workspace():
    docs = _kubernetes()
    labels = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in docs
        if d["kind"] == "Deployment"
    }
    services = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "Service"}
    for name, spec in services.items():
        [target] = [
            n for n, pod_labels in labels.items() if spec["selector"].items() <= pod_labels.items()
        ]
        pod = next(d for d in docs if d["metadata"]["name"] == target and d["kind"] == "Deployment")
        names = {p["name"] for p in pod["spec"]["template"]["spec"]["containers"][0]["ports"]}
        assert all(port["targetPort"] in names for port in spec["ports"]), name
    [location] = load_workspace_config(DEPLOY / "workspace.yaml")
    server = location.origin["server"]
    assert services[server["host"]]["ports"][0]["port"] == server["port"]


def test_workers_drain_before_stopping_and_scale_on_queue_depth():
    docs = _kubernetes()
    worker = _containers(docs)["opgraph-worker"]
    [container] = worker["containers"]
    node = _option(container["command"], "-n")
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert check_command(pre_stop) == "shell"
    drain = shlex.split(pre_stop[-1])
    assert drain[:3] == ["opgraph", "workers", "drain"]
    assert drain[3] == node.replace("%h", "$(hostname)")  # the same node name Celery uses
    assert worker["terminationGracePeriodSeconds"] >= 600  # ops get time to finish

    [scaled] = [d for d in docs if d["kind"] == "ScaledObject"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "opgraph-worker"
    assert scaled["spec"]["minReplicaCount"] >= 1
    [trigger] = scaled["spec"]["triggers"]
    query = trigger["metadata"]["query"]
    metrics = set(re.findall(r"(opgraph_\w+)\{", query))
    assert metrics == {"opgraph_celery_queue_depth", "opgraph_step_attempts"}
    # The core's metrics and the Celery plugin's (opgraph.metrics entry point).
    exposed = "".join(
        (ROOT / path).read_text() for path in ("app/metrics.py", "celery_executor/metrics.py")
    )
    for metric in metrics:
        assert f'"{metric}"' in exposed, metric
    queues = set(re.findall(r'queue="(\w+)"', query))
    assert queues == {_option(container["command"], "-Q").split(",")[0]}


def test_procfile_lines_are_the_services():
    lines = [
        line
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    processes = dict(line.split(":", 1) for line in lines)
    assert set(processes) == {"webserver", "daemon", "worker"}
    for name, command in processes.items():
        program = check_command(shlex.split(expand_defaults(command)))
        assert program == ("celery" if name == "worker" else "opgraph"), name
    worker = shlex.split(processes["worker"])
    name, options = check_celery(worker[1:])
    assert name == "worker" and options["queues"] == "opgraph,runs"
    check_opgraph(["daemon", "run"])


def test_a_worker_or_daemon_that_exits_is_started_again():
    """A Celery worker exits on an unrecoverable broker error, a daemon when a part cannot
    be restarted (docs/troubleshooting.md): the deployment must bring each back."""
    services = _compose()["services"]
    for name in ("daemon", "worker", "code-server", "webserver"):
        assert services[name]["restart"] in ("unless-stopped", "always"), name
    for name, spec in _containers(_kubernetes()).items():
        # A Deployment's pods may only restart Always (the default), never give up.
        assert spec.get("restartPolicy", "Always") == "Always", name
