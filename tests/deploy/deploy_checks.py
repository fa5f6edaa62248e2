"""Checking that a command line, a URL path or an env var named in a deploy file exists.

Docker and Kubernetes do not run here, so the deploy files are checked against the code:
an `opgraph ...` command is parsed by the real CLI, a `celery ...` command by Celery's,
an HTTP path is looked up in the webserver's (or the code server's) URL map.
"""

from __future__ import annotations

import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import click

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PACKAGES = ("opgraph", "storage", "launchers", "celery_executor", "app")
SHELL_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


@cache
def opgraph_cli() -> click.Group:
    from opgraph_app import create_app

    return create_app().cli  # type: ignore[return-value]


def check_opgraph(args: list[str]) -> click.Command:
    """Parse `opgraph ARGS` with the real command (options, arguments and their types)."""
    command: Any = opgraph_cli()
    path: list[str] = []
    while isinstance(command, click.Group):
        assert args, f"`opgraph {' '.join(path)}` needs a subcommand"
        name, args = args[0], args[1:]
        assert name in command.commands, f"no command `opgraph {' '.join([*path, name])}`"
        command, path = command.commands[name], [*path, name]
    try:
        command.make_context(" ".join(path), list(args))
    except click.ClickException as exc:
        raise AssertionError(f"`opgraph {' '.join(path + args)}`: {exc.format_message()}") from None
    return command  # type: ignore[no-any-return]


def check_celery(args: list[str]) -> tuple[str, dict[str, Any]]:
    """Parse `celery ARGS` with Celery's own CLI; returns the subcommand and its options."""
    from celery.bin.celery import celery

    ctx = click.Context(celery)
    options, rest, _ = celery.make_parser(ctx).parse_args(list(args))
    assert options.get("app") == "opgraph_celery", args
    import opgraph_celery

    assert opgraph_celery.__getattr__("app") is not None
    assert rest, "celery needs a subcommand"
    name, rest = rest[0], rest[1:]
    sub = celery.get_command(ctx, name)
    assert sub is not None, f"no celery subcommand {name!r}"
    if isinstance(sub, click.Group):  # `celery inspect ping`
        sub_options, rest, _ = sub.make_parser(click.Context(sub, parent=ctx)).parse_args(rest)
        assert rest and rest[0] in ("ping", "active", "stats"), rest
        return f"{name} {rest[0]}", sub_options
    sub_options, leftover, _ = sub.make_parser(click.Context(sub, parent=ctx)).parse_args(rest)
    assert not leftover, f"celery {name}: unexpected {leftover}"
    return name, sub_options


def check_command(argv: list[str]) -> str:
    """Check one command line; returns which program it runs."""
    argv = [expand_defaults(part) for part in argv]
    if argv[:1] == ["CMD"]:  # a Compose health check
        argv = argv[1:]
    if argv[:2] == ["sh", "-c"] or argv[:1] == ["CMD-SHELL"]:
        for part in re.split(r"&&|;", argv[-1]):
            check_command(shlex.split(part))
        return "shell"
    program = argv[0]
    if program == "opgraph":
        check_opgraph(argv[1:])
    elif program == "celery":
        check_celery(argv[1:])
    elif program == "python":
        assert argv[1] == "-c", argv
        compile(argv[2], "<healthcheck>", "exec")
    else:
        raise AssertionError(f"unexpected program {program!r} in {argv}")
    return program


def expand_defaults(text: str) -> str:
    """`${VAR:-default}` -> default (what a shell or Compose does with VAR unset)."""
    return SHELL_VARIABLE.sub(lambda m: m.group(2) or "", text)


def probe_url(code: str) -> tuple[int, str]:
    """(port, path) of the URL a `python -c` health check opens."""
    match = re.search(r"http://127\.0\.0\.1:(\d+)(/[\w/]*)", code)
    assert match, code
    return int(match.group(1)), match.group(2)


@cache
def webserver_paths() -> set[str]:
    from opgraph_app import create_app

    return {rule.rule for rule in create_app().url_map.iter_rules()}


@cache
def code_server_paths() -> set[str]:
    from opgraph_app.code_server.http import create_code_server_app

    app = create_code_server_app(None)  # type: ignore[arg-type]
    return {rule.rule for rule in app.url_map.iter_rules()}


@cache
def source_text() -> str:
    """Every line of our Python packages (to find the env vars the code reads)."""
    return "\n".join(
        path.read_text() for package in PACKAGES for path in (ROOT / package).rglob("*.py")
    )


def instance_variables() -> set[str]:
    """The `${VAR}`s deploy/instance.yaml interpolates."""
    return {m.group(1) for m in SHELL_VARIABLE.finditer((DEPLOY / "instance.yaml").read_text())}


def check_env_names(names: set[str]) -> None:
    """Every OPGRAPH_* variable given to a container is read by the code or instance.yaml."""
    unknown = {
        name
        for name in names
        if name.startswith("OPGRAPH_")
        and f'"{name}"' not in source_text()
        and name not in instance_variables()
    }
    assert not unknown, f"env vars nothing reads: {sorted(unknown)}"
