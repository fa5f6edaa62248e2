"""Storage URLs: the one place a user-given URL or path becomes an SQLAlchemy URL."""

from __future__ import annotations

import os
import re
from pathlib import Path

# SQLAlchemy 2.1 maps a bare `postgresql://` to psycopg 3; only psycopg2 is installed.
_POSTGRES_SCHEMES = ("postgres", "postgresql")
_PG_DRIVER_SCHEME = "postgresql+psycopg2"


def normalize_url(url: str | os.PathLike[str]) -> str:
    """Turn a storage URL or a plain file path into the URL the engine is created with.

    `postgres://` and `postgresql://` get the psycopg2 driver; a path without a scheme
    becomes an absolute `sqlite:///` URL. Other URLs pass through unchanged.
    """
    text = os.fspath(url).strip()
    if not text:
        raise ValueError("empty storage URL: give a file path or a database URL")
    if "://" not in text:
        return "sqlite:///" + str(Path(text).expanduser().resolve())
    scheme, rest = text.split("://", 1)
    if scheme.lower() in _POSTGRES_SCHEMES:
        return f"{_PG_DRIVER_SCHEME}://{rest}"
    return text


def redact_url(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
