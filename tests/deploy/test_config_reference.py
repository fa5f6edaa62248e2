"""docs/configuration.md is generated from opgraph/instance_config.py and must be current."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel

from opgraph import instance_config as ic
from opgraph.config_files import is_model, unwrap

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "gen_configuration.py"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_configuration", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _keys(model: type[BaseModel], prefix: str) -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        nested = unwrap(field.annotation)
        if is_model(nested) and nested is not ic.ComponentConfig:
            keys += _keys(nested, f"{prefix}{name}.")
    return keys


def test_the_configuration_reference_is_current():
    rendered = _generator().render()
    assert (ROOT / "docs" / "configuration.md").read_text() == rendered, (
        "docs/configuration.md is stale: run `python docs/gen_configuration.py`"
    )


def test_it_documents_every_key_and_every_component_option():
    text = _generator().render()
    for key in _keys(ic.instance_config_model(), ""):
        assert f"`{key}`" in text, key
    assert "`celery.broker_url`" in text  # a plugin's own section (opgraph_celery) is composed in
    for kind in ("run_coordinator", "run_launcher"):
        for short, spec in ic.component_plugins(kind).items():
            assert f"### `{kind}: {short}` — `{spec.module}.{spec.class_name}`" in text
            for option in spec.config_model.model_fields:
                assert f"`{kind}.{short}.{option}`" in text


def test_a_changed_field_makes_the_check_fail(monkeypatch):
    generator = _generator()
    field = ic.WebserverConfig.model_fields["port"]
    monkeypatch.setattr(field, "description", "A new description.")
    assert "| `webserver.port` | integer | `3000` | A new description. |" in generator.render()
    assert generator.render() != (ROOT / "docs" / "configuration.md").read_text()


def test_the_check_command_passes_on_the_committed_file():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
