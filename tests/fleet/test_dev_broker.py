"""`opgraph dev --broker rabbitmq`: the whole platform on this machine's RabbitMQ."""

from __future__ import annotations

import uuid
from pathlib import Path

import yaml

from tests.deploy.dev_process import JOBS, DevProcess
from tests.deploy.test_dev_command import _check_once, _config
from tests.web_server import free_port


def test_dev_once_on_rabbitmq(tmp_path: Path, pg_storage_url: str, amqp_url: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    code = tmp_path / "code" / "fan_jobs.py"
    code.parent.mkdir()
    code.write_text(JOBS)
    queue = f"dev-{uuid.uuid4().hex[:8]}"  # other sessions on this RabbitMQ never take ours
    instance = {"storage": {"url": pg_storage_url}, "celery": {"default_queue": queue}}
    (home / "instance.yaml").write_text(yaml.safe_dump(instance))
    args = ["-f", str(code), "--port", str(free_port()), "--job", "fan_job", "--once"]
    args += ["--broker", "rabbitmq", "-c", str(_config(tmp_path, width=4))]
    dev = DevProcess(home, args, cwd=tmp_path)
    try:
        _check_once(dev, pg_storage_url)
    finally:
        dev.kill()
    assert "broker   configured broker amqp://guest:guest@127.0.0.1:5672//" in dev.output
    assert not (home / "logs" / "redis.log").exists()


def test_dev_names_a_wrong_broker(tmp_path: Path) -> None:
    (tmp_path / "jobs.py").write_text(JOBS)
    dev = DevProcess(tmp_path / "home", ["-f", "jobs.py", "--broker", "kafka"], cwd=tmp_path)
    try:
        assert dev.wait() != 0
    finally:
        dev.kill()
    assert "--broker 'kafka': expected embedded, redis, rabbitmq or a broker URL" in dev.output
