"""The package's TOML data files (``kscribe/data``), read with errors naming file and key.

TOML has no line numbers after parsing, so a bad row is named by its file and table key:
``kscribe/data/arches/arm64.toml: [qemu] binary: missing``.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

from kscribe.errors import KscribeError


def _label(name: str) -> str:
    return f"kscribe/data/{name}"


def load(name: str) -> dict[str, Any]:
    """The parsed data file ``kscribe/data/<name>``; syntax errors name the file."""
    try:
        text = resources.files("kscribe.data").joinpath(name).read_text()
    except OSError as e:
        raise KscribeError(f"{_label(name)}: cannot read: {e.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise KscribeError(f"{_label(name)}: not valid TOML: {e}") from None


def names(folder: str) -> list[str]:
    """The stems of ``kscribe/data/<folder>/*.toml``, sorted."""
    base = resources.files("kscribe.data").joinpath(folder)
    return sorted(p.name.removesuffix(".toml") for p in base.iterdir()
                  if p.name.endswith(".toml"))


def table(data: dict[str, Any], name: str, key: str) -> dict[str, Any]:
    """``data[key]`` as a table (empty when absent), or an error naming file and key."""
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise KscribeError(f"{_label(name)}: [{key}] must be a table")
    return value


class Row:
    """One table of a data file, read field by field with typed, located errors."""

    def __init__(self, name: str, key: str, data: Any) -> None:
        self.file = _label(name)
        self.key = key
        if not isinstance(data, dict):
            raise KscribeError(f"{self.file}: [{key}] must be a table")
        self.data: dict[str, Any] = data

    def error(self, field: str, msg: str) -> KscribeError:
        return KscribeError(f"{self.file}: [{self.key}] {field}: {msg}")

    def _get(self, field: str, kind: type | tuple[type, ...], what: str, default: Any) -> Any:
        if field not in self.data:
            if default is not _REQUIRED:
                return default
            raise self.error(field, "missing")
        value = self.data[field]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.error(field, f"{what} expected, not {value!r}")
        return value

    def text(self, field: str, default: str | None = None) -> str:
        return self._get(field, str, "a string", _REQUIRED if default is None else default)

    def integer(self, field: str, default: int | None = None) -> int:
        return self._get(field, int, "an integer", _REQUIRED if default is None else default)

    def flag(self, field: str, default: bool = False) -> bool:
        return self._get(field, bool, "true or false", default)

    def strings(self, field: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self._get(field, list, "a list of strings", list(default))
        if not all(isinstance(v, str) for v in value):
            raise self.error(field, f"a list of strings expected, not {value!r}")
        return tuple(value)

    def integers(self, field: str) -> tuple[int, ...]:
        """An optional list of integers (empty when absent)."""
        value = self._get(field, list, "a list of integers", [])
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise self.error(field, f"a list of integers expected, not {value!r}")
        return tuple(value)

    def string_lists(self, field: str) -> tuple[tuple[str, ...], ...]:
        """A required list of lists of strings (alternative header sets)."""
        value = self._get(field, list, "a list of lists of strings", _REQUIRED)
        if not all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in value):
            raise self.error(field, f"a list of lists of strings expected, not {value!r}")
        return tuple(tuple(v) for v in value)

    def table(self, field: str) -> dict[str, Any]:
        return self._get(field, dict, "a table", {})

    def row(self, field: str) -> Row:
        """A sub-table as a Row (empty when absent)."""
        return Row(self.file.removeprefix("kscribe/data/"), f"{self.key}.{field}",
                   self._get(field, dict, "a table", {}))

    def rows(self, field: str) -> list[Row]:
        """An array of tables as Rows."""
        items = self._get(field, list, "an array of tables", [])
        return [Row(self.file.removeprefix("kscribe/data/"), f"{self.key}.{field}[{i}]", x)
                for i, x in enumerate(items)]


_REQUIRED = object()
