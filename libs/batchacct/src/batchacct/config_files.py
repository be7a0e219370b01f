"""Configuration files read strictly: YAML without surprises, and messages that say where.

Shared by the benchmark files (`batchacct.benchmarks`) and the accounts policy
(`batchacct.accounts`). Only PyYAML is imported, so a command that starts at every job
submission (``batchacct-validate-account``) stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import yaml


def glob_to_like(pattern: str) -> str:
    """A host glob (``*`` and ``?``) as a SQL LIKE pattern (backslash escapes)."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


class StrictLoader(yaml.SafeLoader):
    """The safe loader, refusing a mapping that gives a key twice (PyYAML keeps the last)."""


def _mapping_without_duplicates(loader: StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # an unhashable key: construct_mapping says so
            break
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"the key {key!r} is given twice",
                key_node.start_mark,
            )
    return loader.construct_mapping(node, deep=True)


StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _mapping_without_duplicates,
)


def parse_yaml(text: str) -> Any:
    """The document in ``text``, read by :class:`StrictLoader`; yaml.YAMLError if it is not YAML."""
    return yaml.load(text, Loader=StrictLoader)  # noqa: S506 (a safe loader)


def kind_of(value: object) -> str:
    if value is None:
        return "nothing"
    kinds = {dict: "a mapping", list: "a list", str: "text", bool: "true/false"}
    kinds |= {int: "a number", float: "a number", date: "a date", datetime: "a time"}
    return kinds.get(type(value), f"a {type(value).__name__}")


def strict_mapping(
    value: object,
    allowed: Sequence[str],
    expected: str,
    holder: str,
    error: Callable[[str], Exception],
) -> dict[Any, Any]:
    """``value`` if it is a mapping whose keys are all ``allowed``; else raises ``error(message)``
    (``expected`` says what was expected, ``holder`` what has the allowed keys)."""
    if not isinstance(value, dict):
        raise error(f"expected {expected}, found {kind_of(value)}")
    unknown = [str(k) for k in value if k not in allowed]
    if unknown:
        raise error(
            f"unknown key(s) {', '.join(map(repr, unknown))}; {holder} has {', '.join(allowed)}"
        )
    return value


def yaml_problem(err: yaml.YAMLError) -> str:
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        return f"{where}{err.problem or err.context or 'cannot parse'}"
    return str(err).splitlines()[0] if str(err) else type(err).__name__
