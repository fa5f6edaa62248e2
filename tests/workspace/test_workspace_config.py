"""workspace.yaml: entries, defaults, and errors that name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from opgraph.errors import InstanceConfigError
from opgraph.workspace.config import load_workspace_config
from opgraph.workspace.load import load_workspace


def _workspace(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "workspace.yaml"
    path.write_text(text)
    return path


def test_entries_of_each_kind_with_defaults(tmp_path: Path) -> None:
    path = _workspace(
        tmp_path,
        """\
load_from:
  - python_file: jobs/etl.py
  - python_file:
      relative_path: other.py
      location_name: second
      working_directory: src
      attribute: my_defs
  - python_module: my_pkg.jobs
  - python_module: {module_name: my_pkg.more, location_name: more}
  - server: {port: 4000}
  - server: {host: 10.0.0.5, port: 4001, location_name: remote}
""",
    )
    specs = load_workspace_config(path)
    assert [s.name for s in specs] == [
        "etl",
        "second",
        "my_pkg.jobs",
        "more",
        "127.0.0.1:4000",
        "remote",
    ]
    assert specs[0].origin == {
        "python_file": str(tmp_path / "jobs" / "etl.py"),
        "working_directory": str(tmp_path),
    }
    assert specs[1].origin == {
        "python_file": str(tmp_path / "other.py"),
        "working_directory": str(tmp_path / "src"),
        "attribute": "my_defs",
    }
    assert specs[2].origin == {"python_module": "my_pkg.jobs", "working_directory": str(tmp_path)}
    assert specs[5].origin == {"server": {"host": "10.0.0.5", "port": 4001}}
    assert [s.line for s in specs] == [2, 3, 8, 9, 10, 11]
    assert specs[4].is_server and not specs[0].is_server


def test_unknown_key_names_file_line_and_allowed_keys(tmp_path: Path) -> None:
    path = _workspace(
        tmp_path,
        "load_from:\n  - python_file:\n      relative_path: a.py\n      location: x\n",
    )
    with pytest.raises(InstanceConfigError) as caught:
        load_workspace_config(path)
    message = str(caught.value)
    assert f"{path}:4: unknown key load_from.0.python_file.location" in message
    assert "allowed keys: relative_path, location_name, working_directory, attribute" in message


def test_entry_with_two_kinds_or_none(tmp_path: Path) -> None:
    path = _workspace(
        tmp_path,
        "load_from:\n  - python_file: a.py\n    python_module: b\n  - {}\n",
    )
    with pytest.raises(InstanceConfigError) as caught:
        load_workspace_config(path)
    message = str(caught.value)
    assert (
        f"{path}:2: load_from.0: expected exactly one of python_file, python_module or "
        "server; given python_file, python_module" in message
    )
    assert f"{path}:4: load_from.1: expected exactly one" in message and "given none" in message


def test_wrong_types_and_missing_fields(tmp_path: Path) -> None:
    path = _workspace(
        tmp_path,
        "load_from:\n  - server: {host: h}\n  - server: {port: seventy}\n  - server: {port: 70000}\n",
    )
    with pytest.raises(InstanceConfigError) as caught:
        load_workspace_config(path)
    message = str(caught.value)
    assert f"{path}:2: load_from.0.server.port is required" in message
    assert f"{path}:3: load_from.1.server.port:" in message and "(given 'seventy')" in message
    assert f"{path}:4: load_from.2.server.port:" in message and "(given 70000)" in message


def test_duplicate_location_names(tmp_path: Path) -> None:
    path = _workspace(
        tmp_path, "load_from:\n  - python_file: a/jobs.py\n  - python_file: b/jobs.py\n"
    )
    with pytest.raises(InstanceConfigError) as caught:
        load_workspace_config(path)
    assert str(caught.value) == (
        f"{path}:3: location name 'jobs' is already used at line 2; "
        "give each entry its own location_name"
    )


def test_malformed_yaml_and_wrong_top_level(tmp_path: Path) -> None:
    path = _workspace(tmp_path, "load_from:\n  - python_file: [a.py\n")
    with pytest.raises(InstanceConfigError, match=rf"{path}:\d+: malformed YAML"):
        load_workspace_config(path)
    path = _workspace(tmp_path, "- python_file: a.py\n")
    with pytest.raises(InstanceConfigError, match="expected a mapping with key load_from"):
        load_workspace_config(path)


def test_environment_variables_are_interpolated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODE_HOST", "10.1.2.3")
    path = _workspace(
        tmp_path, "load_from:\n  - server: {host: '${CODE_HOST}', port: 4000, location_name: r}\n"
    )
    [spec] = load_workspace_config(path)
    assert spec.origin == {"server": {"host": "10.1.2.3", "port": 4000}}


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(InstanceConfigError, match=r"workspace file .*nope\.yaml' does not exist"):
        load_workspace(tmp_path / "nope.yaml", tmp_path)
    with load_workspace(None, tmp_path) as workspace:  # no home/workspace.yaml: no locations
        assert workspace.locations() == []
    assert load_workspace_config(_workspace(tmp_path, "")) == []
