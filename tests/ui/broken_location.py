"""A code location that fails to load: the UI shows its error, file, line and traceback."""


def _load() -> None:
    raise RuntimeError("<b>broken</b> on purpose")


_load()
