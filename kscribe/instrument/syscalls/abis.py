"""The syscall facts kscribe keeps as data: each architecture's ABIs (its arch file) and the
classification rules of ``data/syscalls.toml``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kscribe.config.arches import AbiSpec, ArchSyscalls, get_arch
from kscribe.util import tomldata

FILE = "syscalls.toml"

__all__ = ["AbiSpec", "ArchSyscalls", "built_when", "flags", "get", "types"]


def get(arch: str) -> ArchSyscalls:
    """The syscall ABIs of the architecture ``arch`` (its ``[syscalls]`` table)."""
    return get_arch(arch).syscalls


def flags(arch: ArchSyscalls, enabled: Callable[[str], bool], srctree: Path
          ) -> tuple[str, ...]:
    """The arch's preprocessor flags for a kernel; ``enabled(symbol)`` tells its .config."""
    out: list[str] = []
    for symbol, extra in arch.config_flags:
        if enabled(symbol):
            out += extra
    out += arch.cppflags
    return tuple(f.replace("{srctree}", str(srctree)) for f in out)


@functools.cache
def types() -> dict[str, Any]:
    """``syscalls.toml``: C base type widths, string arguments, excluded __NR_ names."""
    data = tomldata.load(FILE)
    for key in ("names", "base", "strings"):
        tomldata.table(data, FILE, key)
    return data


@functools.cache
def built_when() -> dict[str, str]:
    """Files of linux-source read only under a condition: path -> preprocessor condition."""
    source = tomldata.table(types(), FILE, "linux-source")
    return dict(tomldata.table(source, FILE, "built_when"))
