from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from opgraph.instance import OpgraphInstance

IN_MEMORY_LAUNCHER = {"module": "launchers.testing", "class": "InMemoryRunLauncher"}

MakeInstance = Callable[..., OpgraphInstance]


@pytest.fixture
def make_instance(tmp_path: Path, sqlite_url: str) -> Iterator[MakeInstance]:
    """An instance configured through a real instance.yaml (the run worker reads it too)."""
    created: list[OpgraphInstance] = []

    def make(coordinator: Any = "immediate", launcher: Any = IN_MEMORY_LAUNCHER) -> OpgraphInstance:
        home = tmp_path / "home"
        home.mkdir(exist_ok=True)
        config = {
            "storage": {"url": sqlite_url},
            "run_coordinator": coordinator,
            "run_launcher": launcher,
        }
        (home / "instance.yaml").write_text(yaml.safe_dump(config))
        instance = OpgraphInstance.get(home)
        created.append(instance)
        return instance

    yield make
    for instance in created:
        instance.dispose()
