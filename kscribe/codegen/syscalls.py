"""The syscall probe module of a target: one entry and one exit event per syscall and ABI.

Two hooks (the raw ``sys_enter``/``sys_exit`` tracepoints) find the current syscall's ABI
and row (``data/syscall_dispatch.toml``), then call that syscall's recorder. What each
recorder writes follows the argument classification of :mod:`kscribe.syscalls`: integers
with their width and sign, pointers in hex, user strings (bounded, copied without faulting)
and user structures (as the struct specs say) at entry, at exit or both. The payload layout
is the same as for tracepoint events (:class:`kscribe.payload.PayloadC`): fixed part first,
then strings and arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kscribe.codegen.cformat import c_string, wrap_call
from kscribe.codegen.payload import PayloadC
from kscribe.config.arches import Arch
from kscribe.errors import KscribeError
from kscribe.instrument.events.fieldtypes import IntType
from kscribe.instrument.syscalls import StructSpec, Syscall, SyscallArg, SyscallTable
from kscribe.kernel.tracepoints import parse_header
from kscribe.kernel.tree import KernelTree
from kscribe.util.ctext import param

STRING_MAX = 256  # bytes of a user string recorded at most (NUL included)
ARRAY_MAX = 16  # elements of a user struct array recorded at most
SOCKADDR_MAX = 128  # bytes of a socket address recorded at most
VAR = {"p": "payload", "rec": "rec", "tail": "tail"}


@dataclass(frozen=True)
class Recorder:
    """One recorder function (shared by the events whose fields and stores are the same)."""

    function: str
    prototype: list[str]
    payload: PayloadC
    uses_tail: bool
    uses_strings: bool


def _int_tsdl(bits: int, signed: bool, base: int = 10) -> str:
    return IntType(bits, signed, base).tsdl()


def _struct_tsdl(spec: StructSpec) -> str:
    members = " ".join(f"{_int_tsdl(f.bits, f.signed)} _{f.name}"
                       + (f"[{f.count}]" if f.count else "") + ";" for f in spec.fields)
    return f"struct {{ {members} }}"


def _struct_size(spec: StructSpec) -> int:
    return sum(f.bits // 8 * (f.count or 1) for f in spec.fields)


class _Builder:
    """Accumulates the C pieces and CTF fields of one recorder, in payload order."""

    def __init__(self, pointer: str) -> None:
        self.pointer = pointer
        self.members: list[str] = []
        self.fixed_tsdl: list[str] = []
        self.var_tsdl: list[str] = []
        self.locals: list[str] = []
        self.prepare: list[str] = []
        self.stores: list[str] = []
        self.writes: list[str] = []
        self.sizes: list[str] = []
        self.strings = 0

    def user(self, i: int) -> str:
        return self.pointer % f"args[{i}]"

    def integer(self, name: str, bits: int, signed: bool, value: str, base: int = 10) -> None:
        self.members.append(f"{'s' if signed else 'u'}{bits} {name};")
        self.fixed_tsdl.append(f"{_int_tsdl(bits, signed, base)} _{name};")
        self.stores.append(f"{VAR['p']}->{name} = {value};")

    def string(self, name: str, i: int) -> None:
        if not self.strings:
            self.locals.append("char *strings;")
            self.prepare.append("strings = kscribe_scratch();")
        offset = self.strings * STRING_MAX
        self.strings += 1
        at = f"strings + {offset}" if offset else "strings"
        self.locals.append(f"size_t {name}_len;")
        self.prepare.append(f"{name}_len = kscribe_copy_user_string({at}, {self.user(i)}, "
                            f"{STRING_MAX});")
        self.var_tsdl.append(f"string {{ encoding = UTF8; }} _{name};")
        self.sizes.append(f"{name}_len")
        self.writes.append(f"memcpy({VAR['tail']}, {at}, {name}_len);")

    def struct(self, name: str, i: int, spec: StructSpec) -> None:
        size = _struct_size(spec)
        self.members.append(f"u8 {name}[{size}];")
        self.fixed_tsdl.append(f"{_struct_tsdl(spec)} _{name};")
        self.stores.append(f"kscribe_copy_user({VAR['p']}->{name}, {self.user(i)}, "
                           f"sizeof({VAR['p']}->{name}));")

    def array(self, name: str, i: int, count: str, elem_size: int, elem_tsdl: str,
              most: int) -> None:
        self.locals.append(f"u32 {name}_len;")
        self.prepare.append(f"{name}_len = min_t(u32, {count}, {most});")
        self.members.append(f"u32 {name}_length;")
        self.fixed_tsdl.append(f"{_int_tsdl(32, False)} _{name}_length;")
        self.stores.append(f"{VAR['p']}->{name}_length = {name}_len;")
        self.var_tsdl.append(f"{elem_tsdl} _{name}[_{name}_length];")
        nbytes = f"{name}_len * {elem_size}" if elem_size > 1 else f"{name}_len"
        self.sizes.append(nbytes)
        self.writes.append(f"kscribe_copy_user({VAR['tail']}, {self.user(i)}, {nbytes});")

    def payload(self, struct: str) -> PayloadC:
        stores = list(self.stores)
        writes = []
        for w, size in zip(self.writes, self.sizes, strict=True):
            writes += [w, f"{VAR['tail']} += {size};"]
        if writes:
            writes.pop()
            start = f"(char *)({VAR['p']} + 1)" if self.members else f"{VAR['rec']}.payload"
            stores += [f"{VAR['tail']} = {start};", *writes]
        size = " + ".join(([f"sizeof(*{VAR['p']})"] if self.members else []) + self.sizes)
        return PayloadC(var=VAR, struct=struct if self.members else "", members=self.members,
                        locals=self.locals, prepare=self.prepare, size=size or "0",
                        stores=stores)

    @property
    def tsdl(self) -> list[str]:
        return self.fixed_tsdl + self.var_tsdl


def _length(arg: SyscallArg, args: dict[str, int], b: _Builder) -> str:
    """C expression of a user buffer's length: an argument, ``*arg`` or ``return``."""
    ref = arg.length or ""
    if ref == "return":
        return "ret > 0 ? ret : 0"
    if ref.startswith("*"):
        return f"kscribe_user_u32({b.user(args[ref[1:]])})"
    return f"(u32)args[{args[ref]}]"


def _record_arg(b: _Builder, sc: Syscall, arg: SyscallArg, i: int, word: int) -> None:
    index = {a.name: n for n, a in enumerate(sc.args)}
    if arg.kind == "user_string":
        b.string(arg.name, i)
    elif arg.kind == "struct" and arg.struct is not None:
        spec = arg.struct
        if arg.count:
            b.array(arg.name, i, f"(u32)args[{index[arg.count]}]", _struct_size(spec),
                    _struct_tsdl(spec), arg.max or ARRAY_MAX)
        elif arg.length or spec.max:
            b.array(arg.name, i, _length(arg, index, b), 1, _int_tsdl(8, False, 16),
                    spec.max or SOCKADDR_MAX)
        else:
            b.struct(arg.name, i, spec)
    else:  # a pointer whose data is not recorded: its value
        b.integer(arg.name, word, False, f"args[{i}]", 16)


def _recorder(sc: Syscall, prefix: str, exit_: bool, word: int, pointer: str
              ) -> tuple[_Builder, str]:
    b = _Builder(pointer)
    if exit_:
        b.integer("ret", word, True, "ret")
    for i, arg in enumerate(sc.args):
        data = arg.kind in ("user_string", "struct")
        when = {"entry": ("entry",), "exit": ("exit",), "both": ("entry", "exit")}
        if data and ("exit" if exit_ else "entry") in when[arg.direction]:
            _record_arg(b, sc, arg, i, word)
        elif not data and not exit_:
            if arg.kind == "int":
                b.integer(arg.name, arg.bits, arg.signed, f"args[{i}]")
            else:
                b.integer(arg.name, arg.bits or word, False, f"args[{i}]", 16)
    kind = "exit" if exit_ else "entry"
    return b, f"kscribe_{prefix}{kind}_{sc.name}"


def recorders(tables: list[SyscallTable], arch: Arch, word: int) -> dict[str, Any]:
    """Template context of the syscall module: events, recorders, tables, dispatch."""
    specs = {a.name: a for a in arch.syscalls.abis}
    events: list[dict[str, Any]] = []
    functions: dict[str, Recorder] = {}
    abis: list[dict[str, Any]] = []
    shared: dict[tuple[object, ...], str] = {}
    for table in tables:
        spec = specs[table.abi]
        prefix = f"{spec.event_prefix}_" if spec.event_prefix else ""
        pointer = f"({spec.user_pointer})" if spec.user_pointer else "(const void __user *)%s"
        seen: set[str] = set()
        slots = []
        for sc in table.syscalls:
            if not sc.implemented:
                continue
            name = sc.name if sc.name not in seen else f"{sc.name}_{sc.nr}"
            seen.add(name)
            pair = []
            for exit_ in (False, True):
                b, fn = _recorder(sc, prefix, exit_, word, pointer)
                fn = fn.replace(f"_{sc.name}", f"_{name}", 1) if name != sc.name else fn
                event = f"{prefix}syscall_{'exit' if exit_ else 'entry'}_{name}"
                if not b.prepare and not b.writes:
                    # same fields from the same argument values: one function for all,
                    # named after its fields (kscribe_exit_ret, kscribe_entry_fd...)
                    key = (prefix, exit_, *b.tsdl, *b.stores)
                    if key not in shared:
                        shared[key] = _shape_name(prefix, exit_, b, set(functions), fn)
                        functions[shared[key]] = _function(shared[key], b, exit_)
                    fn = shared[key]
                else:
                    functions[fn] = _function(fn, b, exit_)
                events.append({"name": event, "exit": exit_,
                               "fields": [c_string(t + "\n") for t in b.tsdl]})
                pair.append((len(events) - 1, fn))
            slots.append({"nr": sc.nr, "entry": pair[0], "exit": pair[1]})
        abis.append({"name": table.abi, "native": table.native,
                     "when": spec.dispatch_when or None, "base": spec.dispatch_base,
                     "slots": slots,
                     "symbol": f"kscribe_{table.abi}_syscalls"})
    abis.sort(key=lambda a: a["native"])  # compat conditions first, native as fallback
    return {"events": events, "functions": list(functions.values()), "abis": abis,
            "uses_strings": any(f.uses_strings for f in functions.values())}


def _shape_name(prefix: str, exit_: bool, b: _Builder, taken: set[str], fallback: str) -> str:
    fields = [m.split()[-1].split("[")[0].rstrip(";") for m in b.members] or ["noargs"]
    name = f"kscribe_{prefix}{'exit' if exit_ else 'entry'}_{'_'.join(fields)}"
    return name if len(name) <= 48 and name not in taken else fallback


def _function(fn: str, b: _Builder, exit_: bool) -> Recorder:
    params = ["struct kscribe_event *event", "const unsigned long *args"]
    if exit_:
        params.append("long ret")
    payload = b.payload(f"{fn}_payload")
    return Recorder(function=fn, prototype=wrap_call(f"static void {fn}(", params),
                    payload=payload,
                    uses_tail=any(s.startswith(VAR["tail"]) for s in payload.stores),
                    uses_strings=bool(b.strings))


def syscall_context(tree: KernelTree, target: str, arch: Arch,
                    tables: list[SyscallTable]) -> dict[str, Any]:
    """The template context of the syscall probe module."""
    ctx = recorders(tables, arch, tree.word_bits)
    header = tree.srctree / "include/trace/events/syscalls.h"
    hooks = parse_header(header)
    protos = {}
    for name in ("sys_enter", "sys_exit"):
        if name not in hooks:
            raise KscribeError(f"{header}: no {name} tracepoint found; its macros are not "
                               "ones kscribe.kernel.tracepoints knows")
        params = ["void *data"] + [param(a.type, a.name) for a in hooks[name].args]
        protos[name] = wrap_call(f"static void kscribe_{name}(", params)
    uses_u32 = any("kscribe_user_u32" in line for f in ctx["functions"]
                   for line in f.payload.prepare)
    return {**ctx, "target": target, "enter_prototype": protos["sys_enter"],
            "exit_prototype": protos["sys_exit"], "uses_user_u32": uses_u32}
