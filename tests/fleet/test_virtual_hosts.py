"""Several machines: workers on virtual hosts (network namespaces) that reach PostgreSQL
and the broker (Redis or RabbitMQ) only over a virtual network; one host's link is cut in
the middle of an op."""

import os
import signal
import threading
import time
from collections import Counter
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml

from opgraph import execute_job, reconstructable
from opgraph_storage.records import StepAttemptStatus
from tests.celery_fleet import BROKERS
from tests.fleet import jobs
from tests.fleet.netns import virtual_host

pytestmark = pytest.mark.slow
BROKER_PORTS = {"redis": 6379, "rabbitmq": 5672}


def _via(url: str, host: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    auth = netloc[0] + "@" if len(netloc) == 2 else ""
    port = parts.port
    return urlunsplit(parts._replace(netloc=f"{auth}{host}:{port}"))


def _home_for(fleet, tmp_path, host):
    home = tmp_path / host.name
    home.mkdir()
    (home / "instance.yaml").write_text(
        yaml.safe_dump(
            {
                "storage": {"url": _via(fleet.storage_url, host.host_ip)},
                "celery": {
                    "broker_url": _via(fleet.broker_url, host.host_ip),
                    "default_queue": fleet.queue,
                },
            }
        )
    )
    return home


@pytest.mark.parametrize("celery_fleet", BROKERS, indirect=True)
def test_workers_on_two_hosts_run_a_job_and_survive_a_cut_link(celery_fleet, tmp_path):
    """Host A's link is cut while it runs an op: no FIN reaches the broker, so neither
    Redis nor RabbitMQ gives its message back; the run worker finds the attempt stranded
    (silent, and its worker does not answer) and host B runs it again."""
    if os.geteuid() != 0:
        pytest.fail("virtual hosts need root (ip netns); CI runs as root")
    pg_port = urlsplit(celery_fleet.storage_url).port or 5432
    broker_port = urlsplit(celery_fleet.broker_url).port or BROKER_PORTS[celery_fleet.broker]
    suffix = celery_fleet.local.name_suffix[:4]
    subnet = 2 * (int(suffix, 16) % 120) + 2  # sessions running at once use other subnets
    celery_fleet.stop_worker("w1")  # only the virtual hosts work in this test
    try:
        with (
            virtual_host(f"oga{suffix}", subnet, [pg_port, broker_port]) as host_a,
            virtual_host(f"ogb{suffix}", subnet + 1, [pg_port, broker_port]) as host_b,
        ):
            for name, host in (("hosta", host_a), ("hostb", host_b)):
                celery_fleet.local.start(
                    name,
                    concurrency=1,
                    home=_home_for(celery_fleet, tmp_path, host),
                    prefix=host.prefix,
                )
            holder = {}
            config = {"execution": {"config": {"celery": {"heartbeat_timeout_seconds": 4}}}}
            thread = threading.Thread(
                target=lambda: holder.update(
                    result=execute_job(
                        reconstructable(jobs.naps_shared_db),
                        celery_fleet.instance,
                        run_config=config,
                        # Long enough that the cut lands while host A is inside a nap.
                        tags={"test/marker_dir": str(tmp_path), "test/nap_seconds": "2"},
                    )
                )
            )
            thread.start()
            node_a = celery_fleet.node("hosta")
            deadline = time.monotonic() + 30
            # A nap, not the instant `start` op: host A must be inside an op when cut.
            while not any(
                a.hostname == node_a and a.step_key.startswith("nap_")
                for a in celery_fleet.instance.storage.get_step_attempts(
                    statuses=[StepAttemptStatus.RUNNING]
                )
            ):
                failures = [
                    e.message
                    for run in celery_fleet.instance.storage.get_runs(limit=1)
                    for e in celery_fleet.instance.storage.get_events(run.run_id)
                    if e.event_type == "STEP_FAILURE"
                ]
                assert not failures, failures
                assert time.monotonic() < deadline, "host A never ran an op"
                time.sleep(0.02)
            host_a.cut()
            thread.join(120)
            result = holder["result"]
            assert result.success, [e.message for e in result.all_events if e.is_failure]
            counts = Counter(
                e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"
            )
            assert set(counts.values()) == {1} and len(counts) == 10
            attempts = celery_fleet.instance.storage.get_step_attempts(run_id=result.run_id)
            lost = [a for a in attempts if a.status is StepAttemptStatus.LOST]
            claimed = [a for a in lost if a.hostname is not None]
            assert claimed and all(a.hostname == node_a for a in claimed)
            # On RabbitMQ the new attempt goes to the queue's urgent lane, and host A's
            # consumer of the lane still has room: RabbitMQ may push it over the dead link,
            # where it is never claimed and is given up once more (docs/celery.md).
            unclaimed = [a for a in lost if a.hostname is None]
            assert not unclaimed or celery_fleet.broker == "rabbitmq", unclaimed
            ran = {a.hostname for a in attempts if a not in unclaimed}
            assert ran == {node_a, celery_fleet.node("hostb")}
            for name in ("hosta", "hostb"):  # host A hangs on its dead link: no goodbyes
                celery_fleet.local.stop(name, signal.SIGKILL, timeout=10)
    finally:
        for name in ("hosta", "hostb"):
            if name in celery_fleet.workers:
                celery_fleet.local.stop(name, signal.SIGKILL, timeout=10)
        celery_fleet.start_worker("w1")
