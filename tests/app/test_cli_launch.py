"""`runs launch`: needs opgraph.submit (code loading, run config validation)."""

from pathlib import Path

import pytest

from opgraph_app import create_app
from opgraph_storage.records import RunStatus

JOBS = """
from opgraph import Config, job, op


class EmitConfig(Config):
    n: int


@op
def emit(config: EmitConfig) -> int:
    return config.n


@op
def double(n: int) -> int:
    return 2 * n


@job
def numbers():
    double(emit())
"""


@pytest.fixture
def jobs_file(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.py"
    path.write_text(JOBS)
    return path


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_launch_creates_and_submits_a_run(instance, cli, jobs_file, tmp_path):
    base = write(tmp_path, "base.yaml", "ops:\n  emit:\n    config:\n      n: 1\n")
    override = write(tmp_path, "prod.yaml", "ops:\n  emit:\n    config:\n      n: 21\n")

    args = ["runs", "launch", "-f", str(jobs_file), "numbers", "-c", base, "-c", override]
    result = cli.invoke(args=[*args, "--tag", "team=data", "--tag", "env=prod"])

    assert result.exit_code == 0, result.output
    [run] = instance.storage.get_runs()
    assert f"Run {run.run_id} of job numbers: STARTING" in result.output
    assert f"opgraph runs logs {run.run_id} --follow" in result.output
    assert run.status is RunStatus.STARTING
    assert instance.run_launcher.launched == [run.run_id]
    assert run.run_config == {"ops": {"emit": {"config": {"n": 21}}}}
    assert run.tags["team"] == "data" and run.tags["env"] == "prod"
    assert run.code_pointer["python_file"] == str(jobs_file.resolve())
    assert run.code_pointer["attribute"] == "numbers"


def test_launch_with_queued_coordinator(make_instance, jobs_file, tmp_path):
    instance = make_instance(coordinator="queued")
    config = write(tmp_path, "run.yaml", "ops: {emit: {config: {n: 2}}}\n")
    result = (
        create_app(instance)
        .test_cli_runner()
        .invoke(args=["runs", "launch", "-f", str(jobs_file), "numbers", "-c", config])
    )
    assert result.exit_code == 0, result.output
    assert "QUEUED" in result.output


def test_invalid_run_config_lists_every_error_and_creates_no_run(instance, cli, jobs_file):
    result = cli.invoke(args=["runs", "launch", "-f", str(jobs_file), "numbers"])
    assert result.exit_code == 2
    assert "-c/--config" in result.output
    assert "the run config does not fit the job" in result.output
    assert "emit" in result.output
    assert instance.storage.get_runs() == []


def test_malformed_run_config_yaml_names_file_and_line(instance, cli, jobs_file, tmp_path):
    config = write(tmp_path, "bad.yaml", "ops:\n  emit: {config: {n: 1}\n")
    result = cli.invoke(args=["runs", "launch", "-f", str(jobs_file), "-c", config])
    assert result.exit_code == 2
    assert f"{config}:3: malformed YAML" in result.output
    assert instance.storage.get_runs() == []


def test_run_config_must_be_a_mapping(cli, jobs_file, tmp_path):
    config = write(tmp_path, "list.yaml", "- n: 1\n")
    result = cli.invoke(args=["runs", "launch", "-f", str(jobs_file), "-c", config])
    assert result.exit_code == 2
    assert "expected a mapping" in result.output and "given list" in result.output


def test_missing_python_file(cli, tmp_path):
    result = cli.invoke(args=["runs", "launch", "-f", str(tmp_path / "nope.py")])
    assert result.exit_code == 2
    assert "-f" in result.output and "does not exist" in result.output


def test_unknown_job(instance, cli, jobs_file):
    result = cli.invoke(args=["runs", "launch", "-f", str(jobs_file), "letters"])
    assert result.exit_code == 2
    assert "letters" in result.output
    assert instance.storage.get_runs() == []


def test_launch_wait_runs_the_job_to_the_end(make_instance, jobs_file, tmp_path):
    """The whole path: CLI -> submit -> immediate coordinator -> subprocess -> run worker."""
    instance = make_instance(launcher="subprocess")
    config = write(tmp_path, "run.yaml", "ops: {emit: {config: {n: 21}}}\n")
    result = (
        create_app(instance)
        .test_cli_runner()
        .invoke(args=["runs", "launch", "-f", str(jobs_file), "numbers", "-c", config, "--wait"])
    )
    [run] = instance.storage.get_runs()
    assert result.exit_code == 0, result.output
    # Not a terminal: one progress line per finished step, ending at 2 of 2.
    progress = [line for line in result.output.splitlines() if line.endswith(" steps")]
    assert progress[-1] == "[" + "#" * 30 + "] 2/2 steps"
    assert f"Run {run.run_id} finished: SUCCESS" in result.output
