"""The kernel a tree is stripped for: its version, its distribution, the macros they decide.

The kernel's version macros and each distribution's are data (``kscribe/data/strip.toml``);
a rules file of the tree's (:mod:`kscribe.strip.rules`) adds the ``-D`` values its Kbuild
computes. Every distribution leaves the others' macros undefined: on Debian,
``RHEL_RELEASE_CODE`` is not defined, so ``#ifdef RHEL_RELEASE_CODE`` is decided.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kscribe.errors import KscribeError
from kscribe.strip.expr import UNDEFINED, Macro
from kscribe.util import tomldata

DATA = "strip.toml"
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?$")
_KEY = re.compile(r"^([A-Za-z_]\w*)(?:\(([^)]*)\))?$")


@dataclass(frozen=True)
class Target:
    """A kernel version and distribution, with the macros they decide."""

    kernel: tuple[int, int, int]
    distro: str                     # e.g. "vanilla", "debian:6.1.0-28"
    fields: dict[str, str]          # template fields: code, major... and the distro's
    macros: dict[str, Macro] = field(default_factory=dict)
    headers: tuple[Path, ...] = ()  # the kernel's header trees, when at hand

    @property
    def release(self) -> str:
        return ".".join(map(str, self.kernel))


def parse_version(text: str) -> tuple[int, int, int]:
    """``6.1.176`` -> (6, 1, 176); an error naming the value otherwise."""
    m = _VERSION.match(text.strip())
    if not m:
        raise KscribeError(f"--kernel {text!r}: not a kernel version (give X.Y.Z, e.g. 6.1.176)")
    return int(m[1]), int(m[2]), int(m[3] or 0)


def macro(key: str, value: object, fields: dict[str, str], where: str) -> Macro:
    """A macro from a data or rules entry ``key = value`` (``false``: undefined)."""
    m = _KEY.match(key)
    if not m:
        raise KscribeError(f"{where}: {key!r} is not a macro name or NAME(params)")
    if value is False:
        return UNDEFINED
    if value is True:
        value = ""
    if not isinstance(value, str):
        raise KscribeError(f"{where}: {key}: a string, true or false expected, not {value!r}")
    try:
        body = value.format(**fields)
    except (KeyError, IndexError) as e:
        raise KscribeError(f"{where}: {key}: unknown field {e} (known: "
                           f"{', '.join(sorted(fields))})") from None
    params = None if m[2] is None else tuple(p.strip() for p in m[2].split(",") if p.strip())
    return Macro(m[1], params, body, where)


def _name(key: str) -> str:
    return key.split("(", 1)[0].strip()


def make(kernel: str, distro: str = "vanilla", headers: tuple[Path, ...] = ()) -> Target:
    """The target of ``--kernel`` and ``--distro NAME[:PARAM]``."""
    version = parse_version(kernel)
    data = tomldata.load(DATA)
    kinds = {k: v for k, v in data.items() if k != "kernel"}
    name, _, param = distro.partition(":")
    if name not in kinds:
        raise KscribeError(f"--distro {distro!r}: unknown distribution (known: "
                           f"{', '.join(sorted(kinds))}; kscribe/data/{DATA})")
    row = tomldata.Row(DATA, name, kinds[name])
    a, b, c = version
    fields = {"code": str((a << 16) + (b << 8) + min(c, 255)), "kernel_major": str(a),
              "kernel_patchlevel": str(b), "kernel_sublevel": str(c)}
    pattern = row.text("param", "")
    if pattern:
        m = re.fullmatch(pattern, param)
        if not m:
            raise KscribeError(f"--distro {distro!r}: {name} needs {name}:PARAM matching "
                               f"{pattern} ({row.text('about')})")
        fields = {**fields, **{k: v for k, v in m.groupdict().items() if v is not None}}
    elif param:
        raise KscribeError(f"--distro {distro!r}: {name} takes no parameter")
    macros: dict[str, Macro] = {}
    for key, value in tomldata.table(data, DATA, "kernel").get("macros", {}).items():
        macros[_name(key)] = macro(key, value, fields, f"kscribe/data/{DATA} [kernel.macros]")
    # the other distributions' macros: undefined here
    for other, table in kinds.items():
        if other != name:
            macros.update({_name(key): UNDEFINED for key in table.get("macros", {})})
    for key, value in row.table("macros").items():
        macros[_name(key)] = macro(key, value, fields, f"kscribe/data/{DATA} [{name}.macros]")
    return Target(version, distro, fields, macros, headers)
