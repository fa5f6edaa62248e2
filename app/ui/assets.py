"""A version string for the UI's static files, so browsers never mix old and new scripts.

Pages link `/static/...?v=<version>`; the version changes whenever a file under
`app/static` changes (size or modification time), e.g. after an upgrade.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from functools import cache
from pathlib import Path, PurePosixPath

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


@cache
def asset_version() -> str:
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest.update(
                f"{path.relative_to(STATIC_DIR)}:{stat.st_size}:{stat.st_mtime_ns}".encode()
            )
    return digest.hexdigest()[:12]


_IMPORT = re.compile(r"""^import\s[^"']*["'](\.{1,2}/[^"']+\.js)["'];?\s*$""", re.MULTILINE)


@cache
def page_modules(page: str) -> tuple[str, ...]:
    """Every script module a page's script imports, directly or not (paths under static/).

    Pages list them as `<link rel="modulepreload">`: the browser then fetches them all at
    once instead of discovering them one import at a time."""
    entry = PurePosixPath("ui/js/pages") / f"{page}.js"
    seen: list[str] = []
    pending = [entry]
    while pending:
        module = pending.pop()
        path = STATIC_DIR / module
        if str(module) in seen or not path.is_file():
            continue
        seen.append(str(module))
        for relative in _IMPORT.findall(path.read_text(encoding="utf-8")):
            pending.append(PurePosixPath(posixpath.normpath(str(module.parent / relative))))
    return tuple(seen[1:])
