"""Text and JSON views of syscall tables, and the typed-coverage report per ABI."""

from __future__ import annotations

import json
from dataclasses import dataclass

from kscribe.instrument.syscalls.model import Syscall, SyscallArg, SyscallTable


@dataclass(frozen=True)
class Coverage:
    """How many implemented syscalls of one ABI have their prototype (typed arguments)."""

    target: str
    abi: str
    syscalls: int  # numbers with a name (reserved ones included)
    implemented: int
    typed: int
    generic: tuple[Syscall, ...]

    @property
    def percent(self) -> float:
        return 100.0 * self.typed / self.implemented if self.implemented else 100.0


def coverage(table: SyscallTable) -> Coverage:
    impl = [s for s in table.syscalls if s.implemented]
    return Coverage(target=table.target, abi=table.abi, syscalls=len(table.syscalls),
                    implemented=len(impl), typed=sum(s.typed for s in impl),
                    generic=tuple(table.generic))


def _arg(a: SyscallArg) -> str:
    notes = []
    if a.kind == "int":
        notes.append(f"{'s' if a.signed else 'u'}{a.bits}")
    else:
        notes.append(f"struct {a.struct.tag}" if a.struct is not None else a.kind)
        if a.kind in ("user_string", "struct") or a.length or a.count:
            notes.append(a.direction)
    if a.length:
        notes.append(f"length={a.length}")
    if a.count:
        notes.append(f"count={a.count}")
    sep = "" if a.ctype.endswith("*") else " "
    return f"{a.ctype}{sep}{a.name} [{', '.join(notes)}]"


def _line(s: Syscall) -> str:
    names = s.name + (f" ({', '.join(s.aliases)})" if s.aliases else "")
    if not s.implemented:
        return f"{s.nr:>10}  {names:24} (not implemented: {s.entry})"
    args = ", ".join(_arg(a) for a in s.args) or "void"
    mark = "" if s.typed else "  ** generic: " + s.reason
    return f"{s.nr:>10}  {names:24} {s.entry}({args}){mark}"


def text(tables: list[SyscallTable]) -> str:
    out = []
    for t in tables:
        c = coverage(t)
        kind = "native" if t.native else "compat"
        out.append(f"{t.target} {t.abi} ({kind}, {t.bits}-bit): {c.syscalls} syscalls, "
                   f"{c.implemented} implemented, {c.typed} typed; from "
                   f"{', '.join(t.sources)}")
        out += [_line(s) for s in t.syscalls]
        out.append("")
    return "\n".join(out)


def as_json(tables: list[SyscallTable]) -> str:
    return json.dumps([t.to_json() for t in tables], indent=1)


def coverage_text(tables: list[SyscallTable]) -> str:
    rows = [coverage(t) for t in tables]
    out = [f"{'target':20} {'abi':8} {'syscalls':>8} {'implemented':>11} {'typed':>6} "
           f"{'generic':>7} {'typed %':>7}"]
    for c in rows:
        out.append(f"{c.target:20} {c.abi:8} {c.syscalls:>8} {c.implemented:>11} "
                   f"{c.typed:>6} {len(c.generic):>7} {c.percent:>6.1f}%")
    for c in rows:
        if c.generic:
            out.append(f"\n{c.target} {c.abi}: {len(c.generic)} syscalls with the generic "
                       "record (six raw unsigned long arguments):")
            out += [f"  {s.nr:>10} {s.name:24} {s.symbol}: {s.reason}" for s in c.generic]
    return "\n".join(out)


def coverage_json(tables: list[SyscallTable]) -> str:
    return json.dumps([{"target": c.target, "abi": c.abi, "syscalls": c.syscalls,
                        "implemented": c.implemented, "typed": c.typed,
                        "percent": round(c.percent, 2),
                        "generic": [{"nr": s.nr, "name": s.name, "symbol": s.symbol,
                                     "reason": s.reason} for s in c.generic]}
                       for c in (coverage(t) for t in tables)], indent=1)
