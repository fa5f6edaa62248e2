"""A version string for the UI's static files, so browsers never mix old and new scripts.

Pages link `/static/...?v=<version>`; the version changes whenever a file under
`app/static` changes (size or modification time), e.g. after an upgrade.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

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
