"""A tree's rules file: what its build computes that the target decides, and how it builds.

TOML, every table optional::

    # the -D values the tree's Makefile computes from the build machine (evdi: -DEL8 on
    # RHEL 8), for every distribution, then per distribution
    [macros]
    EL8 = false
    [distro.rhel.macros]
    EL8 = true

    # names never decided, whatever they evaluate to
    [keep]
    names = ["MY_FEATURE"]

    # macros to evaluate from their one definition even where it sits under a condition
    # the target does not decide (the rules' author vouches for it)
    [evaluate]
    names = ["COMPAT_VERSION_AT_LEAST"]

    # how the tree builds, as dkms would (default: its dkms.conf, else make M=)
    [build]
    make = "make -C {kdir} M={tree}/src modules"

Macro values are as in ``kscribe/data/strip.toml``: a body template, ``true`` (defined,
empty) or ``false`` (undefined).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from kscribe.errors import KscribeError
from kscribe.strip.expr import Macro
from kscribe.strip.target import Target, macro


@dataclass(frozen=True)
class Rules:
    path: Path | None = None
    macros: dict[str, object] = field(default_factory=dict)
    distro: dict[str, dict[str, object]] = field(default_factory=dict)
    keep: tuple[str, ...] = ()
    evaluate: tuple[str, ...] = ()
    make: str | None = None

    def for_target(self, target: Target) -> dict[str, Macro]:
        """The macros these rules decide for ``target``."""
        where = str(self.path or "rules")
        name = target.distro.partition(":")[0]
        entries = {**self.macros, **self.distro.get(name, {})}
        out = {}
        for key, value in entries.items():
            m = macro(key, value, target.fields, where)
            out[key.split("(", 1)[0].strip()] = m
        return out


def load(path: Path | None) -> Rules:
    """The rules of ``path`` (none: no rules); errors name the file and key."""
    if path is None:
        return Rules()
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise KscribeError(f"{path}: cannot read the rules file: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise KscribeError(f"{path}: not valid TOML: {e}") from None
    unknown = set(data) - {"macros", "distro", "keep", "evaluate", "build"}
    if unknown:
        raise KscribeError(f"{path}: unknown table [{sorted(unknown)[0]}] (known: macros, "
                           "distro, keep, evaluate, build)")
    macros = _table(data, "macros", path)
    distro = {}
    for name, table in _table(data, "distro", path).items():
        if not isinstance(table, dict) or set(table) - {"macros"}:
            raise KscribeError(f"{path}: [distro.{name}] holds one table, macros")
        distro[name] = _table(table, "macros", path)
    keep, evaluate = (_names(data, key, path) for key in ("keep", "evaluate"))
    make = _table(data, "build", path).get("make")
    if make is not None and not isinstance(make, str):
        raise KscribeError(f"{path}: [build] make: a command line expected")
    return Rules(path, macros, distro, keep, evaluate, make)


def _names(data: dict[str, object], key: str, path: Path) -> tuple[str, ...]:
    names = _table(data, key, path).get("names", [])
    if not isinstance(names, list) or not all(isinstance(k, str) for k in names):
        raise KscribeError(f"{path}: [{key}] names: a list of macro names expected")
    return tuple(names)


def _table(data: dict[str, object], key: str, path: Path) -> dict[str, object]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise KscribeError(f"{path}: [{key}] must be a table")
    return value
