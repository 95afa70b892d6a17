"""Architectures: one data file each, ``kscribe/data/arches/<debian-arch>.toml``.

Everything that differs between architectures is in its file, so adding one is adding a
file (and its cross compiler and QEMU rows in ``data/host-tools.toml``). The format:

Top level:
  kbuild_arch         ARCH= for kbuild
  triplet             GNU triplet: the cross compiler is <triplet>-gcc[-N]
  package_suffix      how Debian names cross packages for it (gcc-N-<package_suffix>)
  flavour             default kernel flavour (linux-headers-<abi>-<flavour>)
  multiarch           the multiarch folder of its headers (/usr/include/<multiarch>)
  uname               what ``uname -m`` says on a host of this architecture
  char_signed_before  kernel version before which plain char is signed ("" = never)
  compat_guest        a 32-bit architecture whose programs its kernels also run (a compat
                      ABI): the guest workload is built for it too, as kscribe-workload32

[qemu]: how to boot it under TCG: binary, args (machine, CPU, -accel), console, memory
(MiB), cpus.

[syscalls]: where the target's headers keep its syscall tables. The cross preprocessor reads
the headers named here with kbuild's include paths; nothing is a syscall number or name, only
which file holds them and how its macros are shaped. Numbers headers and tables are found in
the flavour tree first, then in the -common tree.
  cppflags            extra flags kbuild would pass that the headers test (#error otherwise)
  config_flags        more such flags, passed (before cppflags) when a CONFIG_ symbol is y
                      (kbuild's arch Makefile adds them); "{srctree}" is the -common tree
  prototype_aliases   entry symbols that are assembly stubs -> the C function they call
  symbol_renames      table symbols the arch redirects with a #define in C to another
                      SYSCALL_DEFINE (the symbol really called, and its tracefs name)
  prototype_headers   headers declaring the syscalls' C prototypes, in this order (missing
                      ones are skipped)
  wrapper_header      the arch's syscall wrapper header: a probe SYSCALL_DEFINE1 expanded
                      with it shows the entry symbols the kernel really generates
  exit_clobbered      argument positions (0-5) whose registers the arch overwrites by
                      sys_exit (mips: a3, the error flag): data read through them is not
                      recorded at exit

[[syscalls.abis]], in the order ``kscribe syscalls`` lists them:
  name                the ABI's name (--abi)
  native              true for the kernel's own ABI (exactly one)
  requires            CONFIG_ symbols (without the prefix); the ABI exists when any is y
  bits                width of the ABI's registers/long, for raw (untyped) arguments
  compat              true: __SYSCALL_WITH_COMPAT/positional tables give the compat entry,
                      and the recorded user pointers are compat_ptr() values
  numbers             headers whose __NR_* macros name the syscalls (first existing set wins)
  cppflags            extra preprocessor flags for this ABI only (mips' _MIPS_SIM)
  table_base          expression over the numbers headers' macros added to a table's index
                      to give the __NR_ value ("" = 0), e.g. mips' __NR_Linux
  sys_prefixes        candidates for the wrapper prefix of sys_* entries ("" = plain)
  compat_prefixes     the same for compat_sys_* entries
  dispatch_when       C condition (on `nr`) that selects this ABI in the generated probe,
                      tried in file order; the native ABI has none and is the fallback
  dispatch_base       first number of the ABI's numbering: the table row is nr - base
  event_prefix        event name prefix of a compat ABI: "<prefix>_syscall_entry_<name>"
  [[syscalls.abis.tables]]  variants of the table header, the first that exists is used:
      header          include path of the table
      macros          table macro -> shape: "nr sym", "nr native compat" (pick by `compat`),
                      "native compat" (positional: the n-th entry is syscall n)
      ignore          table macros that contribute nothing to this ABI
"""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass

from kscribe.errors import KscribeError
from kscribe.util import tomldata

SHAPES = ("nr sym", "nr native compat", "native compat")


@dataclass(frozen=True)
class TableVariant:
    """One header that may hold an ABI's table, and how its macros are shaped."""

    header: str
    macros: tuple[tuple[str, str], ...]
    ignore: tuple[str, ...]


@dataclass(frozen=True)
class AbiSpec:
    """One syscall ABI of an architecture: where its table and numbers are, how to dispatch."""

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
    dispatch_when: str = ""
    dispatch_base: str = "0"
    event_prefix: str = ""


@dataclass(frozen=True)
class ArchSyscalls:
    """An architecture's syscall headers and ABIs (the ``[syscalls]`` table)."""

    cppflags: tuple[str, ...]
    config_flags: tuple[tuple[str, tuple[str, ...]], ...]
    prototype_headers: tuple[str, ...]
    prototype_aliases: tuple[tuple[str, str], ...]
    symbol_renames: tuple[tuple[str, str], ...]
    wrapper_header: str
    abis: tuple[AbiSpec, ...]
    exit_clobbered: tuple[int, ...] = ()


@dataclass(frozen=True)
class Qemu:
    """How to boot an architecture's kernels under QEMU."""

    binary: str
    args: tuple[str, ...]
    console: str
    memory: int
    cpus: int


@dataclass(frozen=True)
class Arch:
    """One Debian architecture: how to build for it, boot it and read its syscalls."""

    name: str
    kbuild_arch: str
    triplet: str
    package_suffix: str
    flavour: str
    multiarch: str
    uname: str
    char_signed_before: str
    qemu: Qemu
    syscalls: ArchSyscalls
    compat_guest: str = ""


def _file(name: str) -> str:
    return f"arches/{name}.toml"


def _abi(row: tomldata.Row) -> AbiSpec:
    tables = []
    for t in row.rows("tables"):
        macros = t.table("macros")
        for macro, shape in macros.items():
            if shape not in SHAPES:
                raise t.error(f"macros.{macro}", f"shape {shape!r} is not one of "
                                                 f"{', '.join(map(repr, SHAPES))}")
        tables.append(TableVariant(t.text("header"), tuple(macros.items()), t.strings("ignore")))
    if not tables:
        raise row.error("tables", "no [[syscalls.abis.tables]]")
    return AbiSpec(
        name=row.text("name"), native=row.flag("native"), requires=row.strings("requires"),
        bits=row.integer("bits"), compat=row.flag("compat"),
        numbers=row.string_lists("numbers"), cppflags=row.strings("cppflags"),
        table_base=row.text("table_base", ""), sys_prefixes=row.strings("sys_prefixes"),
        compat_prefixes=row.strings("compat_prefixes"), tables=tuple(tables),
        dispatch_when=row.text("dispatch_when", ""),
        dispatch_base=row.text("dispatch_base", "0"),
        event_prefix=row.text("event_prefix", ""))


def _syscalls(row: tomldata.Row) -> ArchSyscalls:
    abis = tuple(_abi(r) for r in row.rows("abis"))
    if sum(a.native for a in abis) != 1:
        raise row.error("abis", "needs exactly one ABI with native = true")
    return ArchSyscalls(
        cppflags=row.strings("cppflags"),
        config_flags=tuple((k, tuple(v)) for k, v in row.table("config_flags").items()),
        prototype_headers=row.strings("prototype_headers"),
        prototype_aliases=tuple(row.table("prototype_aliases").items()),
        symbol_renames=tuple(row.table("symbol_renames").items()),
        wrapper_header=row.text("wrapper_header", ""), abis=abis,
        exit_clobbered=row.integers("exit_clobbered"))


def load(name: str) -> Arch:
    """Read and check ``data/arches/<name>.toml``."""
    top = tomldata.Row(_file(name), "top level", tomldata.load(_file(name)))
    q = top.row("qemu")
    return Arch(
        name=name, kbuild_arch=top.text("kbuild_arch"), triplet=top.text("triplet"),
        package_suffix=top.text("package_suffix"), flavour=top.text("flavour"),
        multiarch=top.text("multiarch"), uname=top.text("uname"),
        char_signed_before=top.text("char_signed_before", ""),
        qemu=Qemu(binary=q.text("binary"), args=q.strings("args"), console=q.text("console"),
                  memory=q.integer("memory"), cpus=q.integer("cpus")),
        syscalls=_syscalls(top.row("syscalls")),
        compat_guest=top.text("compat_guest", ""))


@functools.cache
def arches() -> dict[str, Arch]:
    """Every architecture of ``data/arches/`` by Debian name."""
    return {name: load(name) for name in tomldata.names("arches")}


def get_arch(name: str) -> Arch:
    """The architecture called ``name``, or an error listing the known ones."""
    try:
        return arches()[name]
    except KeyError:
        raise KscribeError(
            f"unknown architecture {name!r}: known architectures are {', '.join(arches())}"
        ) from None


def host_arch() -> Arch:
    """The Debian architecture of this machine (by ``uname -m``)."""
    machine = platform.machine()
    found = next((a for a in arches().values() if a.uname == machine), None)
    if found is None:
        raise KscribeError(f"this host's architecture {machine!r} is in no "
                           "kscribe/data/arches/*.toml (its `uname` field)")
    return found
