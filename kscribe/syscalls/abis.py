"""``data/syscall_abis.toml`` and ``data/syscall_types.toml``, loaded with types and checks."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources

from kscribe.errors import KscribeError

SHAPES = ("nr sym", "nr native compat", "native compat")
SOURCE = "linux-source"  # the table about linux-source-<v>, not an architecture


@dataclass(frozen=True)
class TableVariant:
    header: str
    macros: tuple[tuple[str, str], ...]
    ignore: tuple[str, ...]


@dataclass(frozen=True)
class AbiSpec:
    name: str
    native: bool
    requires: tuple[str, ...]
    bits: int
    compat: bool
    numbers: tuple[tuple[str, ...], ...]
    cppflags: tuple[str, ...]
    table_base: str
    sys_prefixes: tuple[str, ...]
    compat_prefixes: tuple[str, ...]
    tables: tuple[TableVariant, ...]


@dataclass(frozen=True)
class ArchSyscalls:
    arch: str
    cppflags: tuple[str, ...]
    config_flags: tuple[tuple[str, tuple[str, ...]], ...]
    prototype_headers: tuple[str, ...]
    prototype_aliases: tuple[tuple[str, str], ...]
    symbol_renames: tuple[tuple[str, str], ...]
    wrapper_header: str
    abis: tuple[AbiSpec, ...]


def _text(name: str) -> str:
    return resources.files("kscribe.data").joinpath(name).read_text()


def _bad(where: str, msg: str) -> KscribeError:
    return KscribeError(f"kscribe/data/syscall_abis.toml: [{where}]: {msg}")


@functools.cache
def arch_syscalls() -> dict[str, ArchSyscalls]:
    """Every architecture of ``syscall_abis.toml`` by Debian name."""
    try:
        data = tomllib.loads(_text("syscall_abis.toml"))
    except tomllib.TOMLDecodeError as e:
        raise KscribeError(f"kscribe/data/syscall_abis.toml: {e}") from None
    out = {}
    for arch, row in data.items():
        if arch == SOURCE:
            continue
        abis = []
        for a in row.get("abis", []):
            where = f"{arch}.abis {a.get('name', '?')}"
            tables = []
            for t in a.get("tables", []):
                for macro, shape in t.get("macros", {}).items():
                    if shape not in SHAPES:
                        raise _bad(where, f"macro {macro}: shape {shape!r} is not one of "
                                          f"{', '.join(map(repr, SHAPES))}")
                tables.append(TableVariant(header=t["header"],
                                           macros=tuple(t.get("macros", {}).items()),
                                           ignore=tuple(t.get("ignore", ()))))
            if not tables:
                raise _bad(where, "no [[tables]]")
            abis.append(AbiSpec(
                name=a["name"], native=a.get("native", False),
                requires=tuple(a.get("requires", ())), bits=a["bits"],
                compat=a.get("compat", False),
                numbers=tuple(tuple(n) for n in a["numbers"]),
                cppflags=tuple(a.get("cppflags", ())), table_base=a.get("table_base", ""),
                sys_prefixes=tuple(a.get("sys_prefixes", ())),
                compat_prefixes=tuple(a.get("compat_prefixes", ())), tables=tuple(tables)))
        if sum(a.native for a in abis) != 1:
            raise _bad(arch, "needs exactly one ABI with native = true")
        out[arch] = ArchSyscalls(
            arch=arch, cppflags=tuple(row.get("cppflags", ())),
            config_flags=tuple((k, tuple(v)) for k, v in row.get("config_flags", {}).items()),
            prototype_headers=tuple(row.get("prototype_headers", ())),
            prototype_aliases=tuple(row.get("prototype_aliases", {}).items()),
            symbol_renames=tuple(row.get("symbol_renames", {}).items()),
            wrapper_header=row.get("wrapper_header", ""), abis=tuple(abis))
    return out


@functools.cache
def built_when() -> dict[str, str]:
    """Files of linux-source read only under a condition: path -> preprocessor condition."""
    data = tomllib.loads(_text("syscall_abis.toml")).get(SOURCE, {})
    return dict(data.get("built_when", {}))


def get(arch: str) -> ArchSyscalls:
    try:
        return arch_syscalls()[arch]
    except KeyError:
        raise KscribeError(f"no syscall ABIs for architecture {arch!r} in "
                           f"kscribe/data/syscall_abis.toml (known: "
                           f"{', '.join(arch_syscalls())})") from None


def flags(arch: ArchSyscalls, enabled, srctree) -> tuple[str, ...]:
    """The arch's preprocessor flags for a kernel; ``enabled(symbol)`` tells its .config."""
    out = []
    for symbol, extra in arch.config_flags:
        if enabled(symbol):
            out += extra
    out += arch.cppflags
    return tuple(f.replace("{srctree}", str(srctree)) for f in out)


@functools.cache
def types() -> dict:
    """``syscall_types.toml``: C base type widths, string arguments, excluded __NR_ names."""
    try:
        return tomllib.loads(_text("syscall_types.toml"))
    except tomllib.TOMLDecodeError as e:
        raise KscribeError(f"kscribe/data/syscall_types.toml: {e}") from None
