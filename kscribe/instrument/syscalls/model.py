"""The typed result: syscall tables per (target, ABI), each syscall with classified arguments.

Argument kinds (what a recorder does with the value):

=================  ==========================================================================
``int``            an integer of ``bits`` width and ``signed``ness (typedefs resolved)
``user_string``    a NUL-terminated user string (file names, paths, names): copied as text
``user_pointer``   any other ``__user`` pointer: its value, shown in hex; with ``length``
                   (or ``count``) also the bytes it points to
``struct``         a ``__user`` pointer to a struct described by a spec (``struct_``): its
                   fields are recorded (an array of them when ``count`` is set)
``pointer``        a kernel pointer (e.g. ``struct pt_regs *``): its value in hex
=================  ==========================================================================

``direction`` says when the pointed-to data is recorded: at syscall ``entry``, at ``exit``, or
``both``; plain values are always taken at entry.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

DIRECTIONS = ("entry", "exit", "both")


@dataclass(frozen=True)
class StructField:
    """One field of a recorded struct, typed from the target's own struct definition."""

    name: str
    ctype: str
    bits: int
    signed: bool
    count: int = 0  # > 0 for a fixed array field (e.g. sockaddr.sa_data[14])


@dataclass(frozen=True)
class StructSpec:
    """How to record a struct: its tag, the fields kept, and how many raw bytes to copy."""

    tag: str
    fields: tuple[StructField, ...]
    max: int = 0  # raw bytes to copy (sockaddr: the whole address up to this), 0 = fields only


@dataclass(frozen=True)
class SyscallArg:
    """One argument: its C type and name as the kernel declares them, and how to record it."""

    name: str
    ctype: str
    kind: str
    bits: int
    signed: bool = False
    direction: str = "entry"
    struct: StructSpec | None = None
    length: str | None = None  # arg name, "*arg" (read through a user pointer) or "return"
    count: str | None = None  # element count of an array argument (arg name)
    max: int = 0  # most bytes/elements copied (0 = the recorder's default)
    exit_if: str = ""  # when data is recorded at exit: "" (success: return >= 0) or "eintr"

    def to_json(self) -> dict:
        d = {"name": self.name, "ctype": self.ctype, "kind": self.kind, "bits": self.bits}
        if self.kind == "int":
            d["signed"] = self.signed
        else:
            d["direction"] = self.direction
        if self.struct is not None:
            d["struct"] = asdict(self.struct)
        for key in ("length", "count", "max", "exit_if"):
            if getattr(self, key):
                d[key] = getattr(self, key)
        return d


@dataclass(frozen=True)
class Syscall:
    """One syscall of one ABI.

    ``entry`` is the symbol the syscall table calls (``__x64_sys_openat``); ``symbol`` the
    table's own name for it (``sys_openat``) under which the prototype was looked up.
    ``typed`` is False when no prototype was found: ``args`` is then the generic record and
    ``reason`` says why.
    """

    nr: int
    name: str
    entry: str
    symbol: str
    args: tuple[SyscallArg, ...]
    typed: bool
    aliases: tuple[str, ...] = ()
    implemented: bool = True  # False: the number is reserved, the table has sys_ni_syscall
    origin: str = ""  # where the prototype came from: a header, "linux-source:<file>:<line>",
    # or a header "(names: linux-source:<file>:<line>)" when its definition names the arguments
    reason: str = ""

    def to_json(self) -> dict:
        d = {"nr": self.nr, "name": self.name, "entry": self.entry, "symbol": self.symbol,
             "typed": self.typed, "args": [a.to_json() for a in self.args]}
        for key in ("aliases", "origin", "reason"):
            if getattr(self, key):
                d[key] = list(v) if isinstance(v := getattr(self, key), tuple) else v
        if not self.implemented:
            d["implemented"] = False
        return d


@dataclass(frozen=True)
class SyscallTable:
    """All syscalls of one ABI of a target, sorted by number."""

    target: str
    abi: str
    native: bool
    bits: int
    syscalls: tuple[Syscall, ...]
    sources: tuple[str, ...] = field(default=())  # headers the table and numbers came from

    def by_name(self) -> dict[str, Syscall]:
        out = {}
        for s in self.syscalls:
            out[s.name] = s
            for a in s.aliases:
                out[a] = s
        return out

    @property
    def generic(self) -> list[Syscall]:
        """Implemented syscalls left with the generic record (no prototype)."""
        return [s for s in self.syscalls if s.implemented and not s.typed]

    def to_json(self) -> dict:
        return {"target": self.target, "abi": self.abi, "native": self.native,
                "bits": self.bits, "sources": list(self.sources),
                "syscalls": [s.to_json() for s in self.syscalls]}
