"""The layering, read from the source: imports (by `ast`) and the strings that name modules.

    opgraph_app  ->  opgraph_launchers, opgraph_celery  ->  opgraph  ->  opgraph_storage

An arrow only points down. The plugins (launchers, celery) depend on the core alone, not on
each other, and nothing below the app names the app. A string such as
`"opgraph_celery.executor:CeleryExecutor"` or `"opgraph_app.code_server"` counts as much as
an import: the core finds plugins through entry points (setup.cfg), never by name.
"""

from __future__ import annotations

import ast
import configparser
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# import name -> layer; a module may name its own package and the layers below it.
LAYERS = {
    "opgraph_storage": 0,
    "opgraph": 1,
    "opgraph_launchers": 2,
    "opgraph_celery": 2,
    "opgraph_app": 3,
}
# The product's name on its own is also a database application_name and a Celery app name.
PRODUCT_NAMES = {"opgraph"}
# A whole string that reads as a dotted module path, optionally `module:attribute`.
MODULE_STRING = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*(:[A-Za-z_][\w.]*)?$")


@dataclass(frozen=True)
class Violation:
    file: str
    line: int
    names: str  # the module named
    how: str  # "import" or "string"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.how} names {self.names}"


def setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    return parser


def package_dir(parser: configparser.ConfigParser) -> dict[str, str]:
    """import name -> folder, from setup.cfg's `package_dir`."""
    lines = parser["options"]["package_dir"].strip().splitlines()
    return dict(tuple(part.strip() for part in line.split("=")) for line in lines)  # type: ignore[misc]


def top_package(name: str) -> str | None:
    head = name.split(".")[0].split(":")[0]
    return head if head in LAYERS else None


def named_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str, str]]:
    """(line, module named, how) for every import and module-naming string in `source`."""
    found: list[tuple[int, str, str]] = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, "import") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                parts = module.split(".")
                base = parts if is_package else parts[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target, "import"))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value not in PRODUCT_NAMES
            and MODULE_STRING.match(node.value)
            and top_package(node.value)
        ):
            found.append((node.lineno, node.value, "string"))
    return found


def allowed(own: str, named: str) -> bool:
    if named == own:
        return True
    own_layer, named_layer = LAYERS[own], LAYERS[named]
    # Down the stack only; plugins on the same layer stay apart.
    return named_layer < own_layer


def find_violations(root: Path, packages: dict[str, str]) -> list[Violation]:
    violations = []
    for import_name, folder in packages.items():
        base = root / folder
        for path in sorted(base.rglob("*.py")):
            relative = path.relative_to(base).with_suffix("")
            parts = [import_name, *relative.parts]
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            module = ".".join(parts)
            for line, named, how in named_modules(path.read_text(), module, is_package):
                target = top_package(named)
                if target is not None and not allowed(import_name, target):
                    violations.append(Violation(str(path.relative_to(root)), line, named, how))
    return violations


def test_every_arrow_points_down():
    violations = find_violations(ROOT, package_dir(setup_cfg()))
    assert not violations, "layering broken:\n" + "\n".join(map(str, violations))


def test_every_package_folder_installs():
    """Every folder with an __init__.py is in setup.cfg's explicit `packages` list (else a
    wheel silently leaves it out) and every listed package is a folder of modules (a
    namespace package such as opgraph_app.graphql has no __init__.py)."""
    parser = setup_cfg()
    listed = set(parser["options"]["packages"].split())
    found = set()
    for import_name, folder in package_dir(parser).items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([import_name, *relative.parts]))
    assert found - listed == set(), f"missing from setup.cfg packages: {sorted(found - listed)}"
    folders = package_dir(parser)
    for name in listed - found:
        top, *rest = name.split(".")
        folder = ROOT / folders[top] / Path(*rest) if rest else ROOT / folders[top]
        assert list(folder.glob("*.py")), (
            f"{name} is listed in setup.cfg but {folder} holds no module"
        )


# -- the checker itself catches what it should --------------------------------------------------
@pytest.mark.parametrize(
    ("folder", "source", "expected"),
    [
        ("core", "import opgraph_celery.executor\n", "opgraph_celery.executor"),
        ("core", "from opgraph_launchers.base import RunLauncher\n", "opgraph_launchers.base"),
        ("core", 'EXECUTOR = "opgraph_celery.executor:CeleryExecutor"\n', "opgraph_celery"),
        ("core", 'CMD = ["python", "-m", "opgraph_app.code_server"]\n', "opgraph_app.code_server"),
        ("store", "from opgraph.events import EventType\n", "opgraph.events"),
        ("store", "def f():\n    import opgraph\n", "opgraph"),
        ("celery", "from opgraph_app.metrics import METRICS\n", "opgraph_app.metrics"),
        ("celery", "from opgraph_launchers.warm_start import x\n", "opgraph_launchers.warm_start"),
    ],
)
def test_the_checker_finds_a_violation(tmp_path, folder, source, expected):
    packages = {
        "opgraph_storage": "store",
        "opgraph": "core",
        "opgraph_celery": "celery",
        "opgraph_app": "web",
    }
    for name in packages.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / folder / "bad.py").write_text(source)
    violations = find_violations(tmp_path, packages)
    assert [v.file for v in violations] == [f"{folder}/bad.py"]
    assert violations[0].names.startswith(expected)


def test_the_checker_allows_what_it_should(tmp_path):
    packages = {"opgraph_storage": "store", "opgraph": "core", "opgraph_app": "web"}
    sources = {
        "store": "import sqlalchemy\nfrom . import records\n",
        "core": 'from opgraph_storage import Storage\nfrom . import events\nTAG = "opgraph/run"\n'
        '"""Mentions opgraph_celery in prose, which names no module."""\n',
        "web": "import opgraph_storage\nimport opgraph.daemon\n",
    }
    for name, source in sources.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(source)
    assert find_violations(tmp_path, packages) == []
