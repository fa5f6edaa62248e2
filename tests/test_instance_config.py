from pathlib import Path

import pytest

from opgraph.errors import InstanceConfigError
from opgraph.instance_config import (
    ComponentConfig,
    InstanceConfig,
    default_instance_config,
    load_instance_config,
)


def write(home: Path, text: str) -> Path:
    path = home / "instance.yaml"
    path.write_text(text)
    return path


def load_error(home: Path, text: str) -> str:
    write(home, text)
    with pytest.raises(InstanceConfigError) as info:
        load_instance_config(home)
    return str(info.value)


def test_no_file_means_defaults(tmp_path):
    config = load_instance_config(tmp_path)
    assert config == default_instance_config()
    assert config.storage_url(tmp_path) == f"sqlite:///{tmp_path.resolve()}/storage/opgraph.db"
    assert config.run_coordinator == ComponentConfig(
        module="opgraph_launchers.coordinators", class_name="ImmediateRunCoordinator", config={}
    )
    assert config.run_launcher.module == "opgraph_launchers.subprocess_launcher"
    assert config.run_launcher.class_name == "SubprocessRunLauncher"
    assert config.celery.broker_url == "redis://127.0.0.1:6379/0"
    assert config.liveness.start_timeout_seconds == 180
    assert config.webserver.port == 3000


def test_empty_file_means_defaults(tmp_path):
    write(tmp_path, "# nothing configured yet\n")
    assert load_instance_config(tmp_path) == default_instance_config()


def test_full_config(tmp_path, monkeypatch):
    monkeypatch.setenv("PG_PASSWORD", "s3cr:t/@")
    write(
        tmp_path,
        """
storage:
  postgres:
    hostname: db.internal
    port: 6543
    username: ${PG_USER:-opgraph}
    password: ${PG_PASSWORD}
    db_name: opgraph
run_coordinator:
  queued:
    max_concurrent_runs: 4
    tag_concurrency_limits:
      - {key: team, value: data, limit: 1}
      - {key: database, limit: 2}
run_launcher: celery
celery:
  broker_url: redis://broker:6379/1
run_monitoring: {enabled: false, poll_interval_seconds: 5}
run_retries: {enabled: true, max_retries: 2}
retention: {runs: {purge_after_days: 90}}
webserver: {read_only: true, port: 8080}
compute_logs: {base_dir: logs}
""",
    )
    config = load_instance_config(tmp_path)
    assert config.storage_url(tmp_path) == (
        "postgresql+psycopg2://opgraph:s3cr%3At%2F%40@db.internal:6543/opgraph"
    )
    assert config.run_coordinator.class_name == "QueuedRunCoordinator"
    assert config.run_coordinator.config == {
        "max_concurrent_runs": 4,
        "tag_concurrency_limits": [
            {"key": "team", "value": "data", "limit": 1, "per_value": False},
            {"key": "database", "value": None, "limit": 2, "per_value": False},
        ],
        "dequeue_interval_seconds": 5.0,
    }
    assert config.run_launcher.module == "opgraph_celery.run_launcher"
    assert config.run_launcher.class_name == "CeleryRunLauncher"
    assert config.celery.broker_url == "redis://broker:6379/1"
    assert config.run_monitoring.enabled is False
    assert config.run_retries.max_retries == 2
    assert config.retention.runs.purge_after_days == 90
    assert config.retention.ticks.purge_after_days == 30
    assert config.webserver.read_only is True
    assert config.compute_logs.base_dir == "logs"


@pytest.mark.parametrize(
    ("storage", "expected"),
    [
        ({"url": "sqlite:////data/x.db"}, "sqlite:////data/x.db"),
        ({"postgres": {"url": "postgresql://u@h/d"}}, "postgresql://u@h/d"),
        ({"sqlite": {"base_dir": "/srv/og"}}, "sqlite:////srv/og/opgraph.db"),
    ],
)
def test_storage_forms(tmp_path, storage, expected):
    assert InstanceConfig(storage=storage).storage_url(tmp_path) == expected


def test_relative_sqlite_dir_is_under_home(tmp_path):
    config = InstanceConfig(storage={"sqlite": {"base_dir": "db"}})
    assert config.storage_url(tmp_path) == f"sqlite:///{tmp_path.resolve()}/db/opgraph.db"


def test_custom_component(tmp_path):
    write(
        tmp_path,
        "run_launcher:\n  module: my_pkg.launch\n  class: MyLauncher\n  config: {zone: eu}\n",
    )
    launcher = load_instance_config(tmp_path).run_launcher
    assert launcher == ComponentConfig(
        module="my_pkg.launch", class_name="MyLauncher", config={"zone": "eu"}
    )


def test_short_name_in_code():
    config = InstanceConfig(run_coordinator={"queued": {"max_concurrent_runs": 1}})
    assert config.run_coordinator.config["max_concurrent_runs"] == 1
    assert (
        InstanceConfig(run_coordinator="queued").run_coordinator.config["max_concurrent_runs"] == 10
    )


def test_dollar_escape_and_default(tmp_path, monkeypatch):
    monkeypatch.delenv("OG_UNSET", raising=False)
    write(tmp_path, "storage:\n  url: sqlite:////tmp/$${not_a_var}-${OG_UNSET:-x}.db\n")
    assert load_instance_config(tmp_path).storage.url == "sqlite:////tmp/${not_a_var}-x.db"


def test_unset_env_var_names_file_line_and_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("OG_MISSING", raising=False)
    message = load_error(tmp_path, "webserver:\n  host: 0.0.0.0\n  auth_token: ${OG_MISSING}\n")
    assert f"{tmp_path / 'instance.yaml'}:3" in message
    assert "OG_MISSING is not set" in message


def test_malformed_yaml_names_file_and_line(tmp_path):
    message = load_error(tmp_path, "storage:\n  url: [unclosed\nwebserver: {}\n")
    assert f"{tmp_path / 'instance.yaml'}:3: malformed YAML" in message
    assert "started at line 2" in message


def test_not_a_mapping(tmp_path):
    message = load_error(tmp_path, "- storage\n")
    assert "expected a mapping of sections" in message
    assert "given list" in message


def test_unknown_keys_name_line_path_and_allowed_keys(tmp_path):
    message = load_error(
        tmp_path,
        "storage:\n  sqlite:\n    base_dri: x\nwebservr: {}\n"
        "run_coordinator:\n  queued:\n    max_runs: 3\n",
    )
    lines = message.splitlines()[1:]
    assert lines[0].endswith(":3: unknown key storage.sqlite.base_dri; allowed keys: base_dir")
    assert ":4: unknown key webservr; allowed keys: storage, run_coordinator," in lines[1]
    assert ":7: unknown key run_coordinator.queued.max_runs; allowed keys: " in lines[2]
    assert "max_concurrent_runs, tag_concurrency_limits, dequeue_interval_seconds" in lines[2]


def test_wrong_type_names_path_given_and_expected(tmp_path):
    message = load_error(tmp_path, "webserver:\n  port: eighty\n")
    assert ":2: webserver.port: Input should be a valid integer" in message
    assert "(given 'eighty')" in message


def test_nested_list_errors(tmp_path):
    message = load_error(
        tmp_path,
        "run_coordinator:\n  queued:\n    max_concurrent_runs: -2\n"
        "    tag_concurrency_limits:\n      - key: team\n",
    )
    assert ":3: run_coordinator.queued.max_concurrent_runs: " in message
    assert "greater than or equal to -1 (given -2)" in message
    assert ":5: run_coordinator.queued.tag_concurrency_limits.0.limit is required" in message


def test_unknown_short_name_lists_choices(tmp_path):
    message = load_error(tmp_path, "run_launcher: kubernetes\n")
    assert "unknown run launcher 'kubernetes'" in message
    assert "celery, subprocess, or {module, class, config}" in message


def test_custom_component_unknown_key(tmp_path):
    message = load_error(tmp_path, "run_launcher:\n  module: m\n  klass: C\n")
    assert "run_launcher.class is required" in message
    assert "unknown key run_launcher.klass; allowed keys: module, class, config" in message


def test_storage_forms_are_exclusive(tmp_path):
    message = load_error(tmp_path, "storage:\n  url: sqlite://\n  sqlite: {}\n")
    assert ":2: storage: expected one of sqlite, postgres or url; given sqlite, url" in message


def test_postgres_needs_url_or_parts_and_hides_password(tmp_path):
    message = load_error(
        tmp_path, "storage:\n  postgres:\n    hostname: h\n    password: hunter2\n"
    )
    assert "storage.postgres: expected url, or all of hostname, username and db_name" in message
    assert "hunter2" not in message


# -- liveness: one model, old keys mapped onto it ---------------------------------------------------
def test_liveness_defaults_keep_the_old_timeouts(tmp_path):
    liveness = load_instance_config(tmp_path).liveness
    assert (liveness.heartbeat_interval_seconds, liveness.missed_heartbeats) == (5, 12)
    assert liveness.grace_seconds == 60
    assert (liveness.start_timeout_seconds, liveness.cancel_timeout_seconds) == (180, 180)
    assert liveness.step_queued_timeout_seconds == 600


def test_old_timeout_keys_map_onto_liveness_with_a_warning(tmp_path, caplog):
    write(
        tmp_path,
        "liveness: {heartbeat_interval_seconds: 10}\n"
        "run_monitoring:\n  start_timeout_seconds: 90\n  cancel_timeout_seconds: 30\n"
        "  worker_heartbeat_timeout_seconds: 45\n  max_resume_run_attempts: 2\n"
        "daemon:\n  step_heartbeat_timeout_seconds: 95\n  step_queued_timeout_seconds: 300\n",
    )
    with caplog.at_level("WARNING", logger="opgraph.config"):
        config = load_instance_config(tmp_path)
    liveness = config.liveness
    assert (liveness.start_timeout_seconds, liveness.cancel_timeout_seconds) == (90, 30)
    assert liveness.step_queued_timeout_seconds == 300
    # 45 s and 95 s of 10 s beats: 5 and 10 beats; the longer grace wins.
    assert liveness.missed_heartbeats == 10 and liveness.grace_seconds == 100
    assert config.run_monitoring.max_resume_run_attempts == 2  # the rest of the section stays
    warned = " ".join(r.getMessage() for r in caplog.records)
    for old, new in [
        ("run_monitoring.start_timeout_seconds", "liveness.start_timeout_seconds"),
        ("run_monitoring.cancel_timeout_seconds", "liveness.cancel_timeout_seconds"),
        ("run_monitoring.worker_heartbeat_timeout_seconds", "liveness.missed_heartbeats"),
        ("daemon.step_heartbeat_timeout_seconds", "liveness.missed_heartbeats"),
        ("daemon.step_queued_timeout_seconds", "liveness.step_queued_timeout_seconds"),
    ]:
        assert f"{old} is deprecated; use {new}" in warned


def test_a_new_key_wins_over_its_old_one(tmp_path, caplog):
    write(
        tmp_path,
        "liveness: {start_timeout_seconds: 20}\nrun_monitoring: {start_timeout_seconds: 90}\n",
    )
    with caplog.at_level("WARNING", logger="opgraph.config"):
        assert load_instance_config(tmp_path).liveness.start_timeout_seconds == 20
    assert "run_monitoring.start_timeout_seconds is deprecated and ignored" in caplog.text


def test_a_bad_old_key_is_reported_under_its_new_name(tmp_path):
    message = load_error(tmp_path, "run_monitoring:\n  cancel_timeout_seconds: soon\n")
    assert "liveness.cancel_timeout_seconds: Input should be a valid number" in message


def test_the_celery_launchers_old_heartbeat_timeout_still_applies(tmp_path, caplog):
    write(tmp_path, "run_launcher:\n  celery: {heartbeat_timeout_seconds: 30}\n")
    with caplog.at_level("WARNING", logger="opgraph.config"):
        launcher = load_instance_config(tmp_path).run_launcher
    assert launcher.config["heartbeat_timeout_seconds"] == 30
    assert "run_launcher.celery.heartbeat_timeout_seconds is deprecated" in caplog.text
    assert "liveness.missed_heartbeats" in caplog.text
