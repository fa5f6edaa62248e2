"""`python -m opgraph_celery.worker`: Celery's worker without Celery's command line."""

import subprocess
import sys

from opgraph_celery.worker import parse


def test_the_options_opgraph_passes_become_worker_options():
    command = "-Q opgraph,io --concurrency 3 -n w1@%h --loglevel INFO --without-gossip"
    options, rest = parse([*command.split(), "--without-mingle"])
    assert rest == []
    assert options == {
        "queues": ["opgraph", "io"],
        "concurrency": 3,
        "hostname": "w1@%h",
        "loglevel": "INFO",
        "without_gossip": True,
        "without_mingle": True,
        "without_heartbeat": False,
    }


def test_another_option_is_left_for_celerys_command_line():
    _, rest = parse(["-Q", "opgraph", "--pool", "solo", "--max-tasks-per-child", "5"])
    assert rest == ["--pool", "solo", "--max-tasks-per-child", "5"]


def test_with_an_option_it_does_not_know_it_runs_celerys_worker_command(tmp_path):
    result = subprocess.run(
        [sys.executable, "-P", "-m", "opgraph_celery.worker", "-Q", "opgraph", "--help"],
        env={"OPGRAPH_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "worker [OPTIONS]" in result.stdout  # Celery's own help for its command
    assert "Start worker instance." in result.stdout
