"""The syscall descriptor tables of a target, read by the one interpreter of the syscall probe.

``kernel_module/probes/kscribe_syscalls.c`` records every syscall from per-ABI tables: one
row per number (its name and argument list), one descriptor per argument (what is recorded:
the value, the user string, struct or array it points to; when: entry, exit or both; its CTF
type). This module turns the argument classification of :mod:`kscribe.instrument.syscalls`
into those tables (``templates/module/syscall_tables.c.j2``); argument lists described alike
are shared between syscalls and ABIs. The layout of a payload and the order of its CTF fields
are the interpreter's (``kscribe_syscalls.h``); :func:`fields` states the same in Python, to
test the kernel's description against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from kscribe.codegen.cformat import MAX, c_string, width
from kscribe.config import paths
from kscribe.config.arches import Arch
from kscribe.errors import KscribeError
from kscribe.instrument.events.fieldtypes import IntType
from kscribe.instrument.syscalls import StructSpec, Syscall, SyscallArg, SyscallTable
from kscribe.instrument.syscalls.specs import MuxSpec, load_all
from kscribe.util import log

ARRAY_MAX = 16  # elements of a user struct array recorded at most
SOCKADDR_MAX = 128  # bytes of a socket address recorded at most
WHEN = {"entry": "KSCRIBE_AT_ENTRY", "exit": "KSCRIBE_AT_EXIT", "both": "KSCRIBE_AT_BOTH",
        "never": "0"}
EXIT_WHEN = {"exit": "never", "both": "entry"}  # when what is read at exit cannot be
STRING_TSDL = "string { encoding = UTF8; }"
COUNT_TSDL = IntType(32, False).tsdl()
# enum kscribe_string_state: a string's tag, the variant the string is in
STATE_TSDL = IntType(8, False, labels=(("text", 0), ("not_resident", 1))).tsdl()


@dataclass(frozen=True)
class Arg:
    """The descriptor of one argument (struct kscribe_syscall_arg)."""

    name: str
    type: str  # C name of the CTF type (a key of the types table)
    kind: str  # VALUE, STRING, STRUCT or ARRAY
    when: str  # entry, exit, both or never (read through a register clobbered at exit)
    size: int = 0
    count: str = ""  # ARRAY: ARG, USER or RET
    count_arg: int = 0
    max: int = 0
    exit_if: str = ""  # "" (success) or "eintr"
    signed: bool = False  # a VALUE that is a signed integer (filters compare it so)

    def items(self) -> list[str]:
        """The members' initializers, in struct kscribe_syscall_arg's order."""
        items = [c_string(self.name), self.type, f"KSCRIBE_ARG_{self.kind}", WHEN[self.when]]
        if self.kind != "STRING":
            items.append(str(self.size))
        if self.kind == "ARRAY":
            items += [f"KSCRIBE_COUNT_{self.count}", str(self.count_arg), str(self.max)]
        if self.exit_if:
            items.append(f".exit_if = KSCRIBE_EXIT_IF_{self.exit_if.upper()}")
        if self.signed:
            items.append(".is_signed = 1")
        return items

    def c(self, indent: str = "\t") -> list[str]:
        """The C initializer's lines at ``indent``, wrapped after the size when too long."""
        items = self.items()
        items, rest = items[:5], items[5:]
        line = f"{indent}{{ {', '.join(items + rest)} }},"
        if width(line) <= MAX:
            return [line]
        return [f"{indent}{{ {', '.join(items)},", f"{indent}  {', '.join(rest)} }},"]


class _Types:
    """The CTF types the descriptors use, each once, under a C name."""

    def __init__(self) -> None:
        self.tsdl: dict[str, str] = {}

    def add(self, name: str, tsdl: str) -> str:
        self.tsdl.setdefault(name, tsdl)
        return name

    def integer(self, bits: int, signed: bool, base: int = 10) -> str:
        letter = "x" if base == 16 else "s" if signed else "u"
        return self.add(f"kscribe_{letter}{bits}", IntType(bits, signed, base).tsdl())

    def struct(self, spec: StructSpec) -> str:
        members = " ".join(f"{IntType(f.bits, f.signed).tsdl()} _{f.name}"
                           + (f"[{f.count}]" if f.count else "") + ";" for f in spec.fields)
        return self.add(f"kscribe_struct_{spec.tag.lstrip('_')}", f"struct {{ {members} }}")


def string_lines(tsdl: str, indent: str = "\t") -> list[str]:
    """A TSDL type as C string literals at ``indent``: a struct's members one per line, an
    enum's labels apart from its integer type."""
    # after a ';' or a '{': where checkpatch lets a string continue on the next line
    parts = re.split(r"(?<=;) (?=integer|struct|string|enum)|(?<=\} \{) (?=\")", tsdl)
    return [indent + c_string(p + (" " if i < len(parts) - 1 else ""))
            for i, p in enumerate(parts)]


def _struct_size(spec: StructSpec) -> int:
    return sum(f.bits // 8 * (f.count or 1) for f in spec.fields)


def _count(arg: SyscallArg, index: dict[str, int]) -> tuple[str, int]:
    """Where a user buffer's length is: an argument, ``*arg`` or ``return``."""
    ref = arg.length or ""
    if ref == "return":
        return "RET", 0
    if ref.startswith("*"):
        return "USER", index[ref[1:]]
    return "ARG", index[ref]


def _arg(sc: Syscall, arg: SyscallArg, word: int, types: _Types) -> Arg:
    index = {a.name: n for n, a in enumerate(sc.args)}
    spec = arg.struct
    if arg.kind == "user_string":
        return Arg(arg.name, types.add("kscribe_string", STRING_TSDL), "STRING",
                   arg.direction)
    if arg.kind == "struct" and spec is not None:
        if arg.count:
            return Arg(arg.name, types.struct(spec), "ARRAY", arg.direction,
                       _struct_size(spec), "ARG", index[arg.count], arg.max or ARRAY_MAX,
                       arg.exit_if)
        if arg.length or spec.max:
            count, at = _count(arg, index)
            return Arg(arg.name, types.integer(8, False, 16), "ARRAY", arg.direction, 1,
                       count, at, spec.max or SOCKADDR_MAX, arg.exit_if)
        return Arg(arg.name, types.struct(spec), "STRUCT", arg.direction, _struct_size(spec),
                   exit_if=arg.exit_if)
    if arg.kind == "int":
        return Arg(arg.name, types.integer(arg.bits, arg.signed), "VALUE", "entry",
                   arg.bits // 8, signed=arg.signed)
    # a pointer whose data is not recorded: its value, from user space like every
    # argument (never a kernel address, whatever the prototype's annotation)
    bits = arg.bits or word
    return Arg(arg.name, types.integer(bits, False, 16), "VALUE", "entry", bits // 8)


def _at_exit_readable(arg: Arg, position: int, clobbered: tuple[int, ...]) -> Arg:
    """``arg``, not recorded at exit where a register it is read through is overwritten."""
    through = {position} | ({arg.count_arg} if arg.kind == "ARRAY" and arg.count != "RET"
                            else set())
    if arg.kind == "VALUE" or arg.when not in EXIT_WHEN or not through & set(clobbered):
        return arg
    return replace(arg, when=EXIT_WHEN[arg.when])


def fields(args: tuple[Arg, ...], exit_: bool, word: int, types: dict[str, str]) -> list[str]:
    """The CTF fields of an entry or exit event, in payload order (see kscribe_syscalls.h).

    ``types`` maps the descriptors' type names to their TSDL (the context's ``types``).
    """
    at = "exit" if exit_ else "entry"
    fixed = [f"{IntType(word, True).tsdl()} _ret;"] if exit_ else []
    var = []
    for a in args:
        if a.when not in (at, "both"):
            continue
        tsdl = types[a.type]
        if a.kind == "ARRAY":
            fixed.append(f"{COUNT_TSDL} _{a.name}_length;")
            var.append(f"{tsdl} _{a.name}[_{a.name}_length];")
        elif a.kind == "STRING":
            fixed.append(f"{STATE_TSDL} _{a.name}_state;")
            var.append(f"variant <_{a.name}_state> {{ {tsdl} text; struct {{ }} not_resident; }}"
                       f" _{a.name};")
        else:
            fixed.append(f"{tsdl} _{a.name};")
    return fixed + var


@dataclass(frozen=True)
class Row:
    """One syscall of one ABI: its table index, event name part and argument list."""

    index: str
    name: str
    args: str  # C name of the shared argument list
    mux: str = ""  # C name of its multiplexer table (socketcall, ipc), if it is one

    def c(self) -> list[str]:
        """The row's initializer lines, its braces opened when one line is too long."""
        inside = f'"{self.name}", {self.args}' + (f", &{self.mux}" if self.mux else "")
        line = f"\t[{self.index}] = {{ {inside} }},"
        if width(line) <= MAX:
            return [line]
        return [f"\t[{self.index}] = {{", f"\t\t{inside}", "\t},"]


@dataclass(frozen=True)
class Op:
    """One operation of a multiplexer: its number, the row it stands for, its sources."""

    nr: int
    syscall: str
    row: str
    sources: tuple[str, ...]  # KSCRIBE_FROM_*() of each argument of that syscall


def _sources(op_sources: tuple[str, ...], own: list[str]) -> tuple[str, ...]:
    """The KSCRIBE_FROM_*() of each source, against the multiplexer's own argument names."""
    out = []
    for src in op_sources:
        name, _, word = src.partition("[")
        if src == "0":
            out.append("KSCRIBE_FROM_ZERO")
            continue
        i = own.index(name)
        out.append(f"KSCRIBE_FROM_WORD({i}, {word.rstrip(']')})" if word
                   else f"KSCRIBE_FROM_ARG({i})")
    return tuple(out + ["KSCRIBE_FROM_ZERO"] * (6 - len(out)))


def _operations(mux: MuxSpec, sc: Syscall, rows: dict[str, Syscall], base: str,
                abi: str) -> list[Op]:
    """The operations of ``mux`` that the ABI can decode, in number order.

    An operation is left to the multiplexer's own events where the ABI has no syscall for
    it, or where its multiplexer lacks an argument it reads (s390's ipc has no ``fifth``);
    all of them where the multiplexer's arguments have no names (a headers-only build).
    """
    own = [a.name for a in sc.args]
    unnamed = own == [f"arg{i}" for i in range(len(own))]
    if not sc.typed or unnamed:
        why = sc.reason if not sc.typed else "its prototype names no argument (the headers " \
            "alone were read)"
        log.note(f"{mux.where}: {abi}: {mux.name}'s operations recorded as {mux.name}: {why}")
        return []
    if mux.selector not in own or (mux.array and mux.array not in own):
        raise KscribeError(f"{mux.where}: {mux.name}'s selector or array is not one of its "
                           f"arguments in ABI {abi} ({', '.join(own)})")
    ops = []
    for op in mux.operations:
        target = rows.get(op.syscall)
        if target is None:
            continue
        sources = op.sources or tuple(f"{mux.array}[{i}]" for i in range(len(target.args)))
        missing = [s for s in sources if s != "0" and s.partition("[")[0] not in own]
        if missing:
            log.note(f"{op.where}: {abi}: {mux.name} operation {op.nr:#x} ({op.syscall}) "
                     f"recorded as {mux.name}: no argument {missing[0]!r} here")
            continue
        ops.append(Op(op.nr, op.syscall, f"{target.nr}{base}", _sources(sources, own)))
    return sorted(ops, key=lambda o: o.nr)


def descriptors(tables: list[SyscallTable], arch: Arch, word: int) -> dict[str, Any]:
    """Template context of the syscall tables: types, shared argument lists, ABIs."""
    specs = {a.name: a for a in arch.syscalls.abis}
    types = _Types()
    ret = Arg("ret", types.integer(word, True), "VALUE", "exit", word // 8, signed=True)
    lists: dict[tuple[Arg, ...], str] = {}
    abis: list[dict[str, Any]] = []
    muxes = load_all(paths.INSTRUMENTATION / "syscalls").multiplexers
    for table in tables:
        spec = specs[table.abi]
        if not table.native and not spec.dispatch_when:
            raise KscribeError(f"kscribe/data/arches/{arch.name}.toml: ABI {table.abi} is "
                               f"enabled in {table.target} but has no dispatch_when: say how "
                               "the probe tells its calls from the native ABI's")
        seen: set[str] = set()
        rows = []
        base = f" - {spec.dispatch_base}" if spec.dispatch_base != "0" else ""
        implemented = {s.name: s for s in table.syscalls if s.implemented}
        demux = []
        for sc in table.syscalls:
            if not sc.implemented:
                continue
            name = sc.name if sc.name not in seen else f"{sc.name}_{sc.nr}"
            seen.add(name)
            args = tuple(_at_exit_readable(_arg(sc, a, word, types), i,
                                           arch.syscalls.exit_clobbered)
                         for i, a in enumerate(sc.args))
            if args not in lists:
                lists[args] = _list_name(args, name, set(lists.values()))
            mux = ""
            if sc.name in muxes and name == sc.name:
                ops = _operations(muxes[sc.name], sc, implemented, base, table.abi)
                if ops:
                    mux = f"kscribe_{table.abi}_{sc.name}"
                    demux.append({"symbol": mux, "name": sc.name, "ops": ops,
                                  "selector": [a.name for a in sc.args].index(
                                      muxes[sc.name].selector),
                                  "mask": muxes[sc.name].mask})
            rows.append(Row(f"{sc.nr}{base}", name, lists[args], mux))
        abis.append({"name": table.abi, "native": table.native, "rows": rows,
                     "prefix": f"{spec.event_prefix}_" if spec.event_prefix else "",
                     "compat": spec.compat, "when": spec.dispatch_when,
                     "base": spec.dispatch_base, "muxes": demux,
                     "symbol": f"kscribe_{table.abi}_syscalls"})
    abis.sort(key=lambda a: not a["native"])  # the native ABI first: index 0
    return {"types": types.tsdl, "count_type": COUNT_TSDL, "state_type": STATE_TSDL, "ret": ret,
            "lists": [{"symbol": s, "args": a} for a, s in lists.items()], "abis": abis,
            "events": 2 * sum(len(a["rows"]) for a in abis),
            "uses_nr": any(re.search(r"\bnr\b", a["when"]) for a in abis)}


def _list_name(args: tuple[Arg, ...], syscall: str, taken: set[str]) -> str:
    """``kscribe_args_<argument names>``, or after the first syscall when that is taken."""
    shape = f"kscribe_args_{'_'.join(a.name for a in args) or 'none'}"
    if len(shape) <= 40 and shape not in taken:
        return shape
    name = f"kscribe_args_{syscall}"
    n = 2
    while name in taken:
        name, n = f"kscribe_args_{syscall}_{n}", n + 1
    return name


def syscall_context(target: str, arch: Arch, word: int,
                    tables: list[SyscallTable]) -> dict[str, Any]:
    """The template context of the syscall tables of ``target``."""
    return {**descriptors(tables, arch, word), "target": target, "string_lines": string_lines}
