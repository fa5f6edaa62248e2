from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.projects import platform_named_project, shared_names_location

FACTORS = {"alpha": 2, "beta": 3}


@pytest.fixture
def shared_locations(tmp_path: Path) -> dict[str, Path]:
    """Two locations, `alpha` and `beta`, each with its own helpers.py, utils.py and pkg/."""
    return {
        name: shared_names_location(tmp_path / name, name, factor)
        for name, factor in FACTORS.items()
    }


@pytest.fixture
def platform_named(tmp_path: Path) -> Path:
    return platform_named_project(tmp_path / "project")
