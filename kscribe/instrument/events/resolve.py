"""Instrumentation specs resolved against one target: the events and fields it will record.

A spec says which tracepoint an event attaches to and how each field is computed from the
tracepoint's arguments; the target's own trace header says what those arguments are. This
module joins the two: it picks each field's expression for the target's prototype, checks
that the expression uses only arguments the target has, types the field, and lays out the
payload (fixed-size fields first, in spec order, then the variable-size ones). Errors name
the spec file and line and print the target's real prototype.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kscribe.errors import KscribeError
from kscribe.instrument.events.fieldtypes import (
    Field,
    FieldType,
    IntType,
    TypeError_,
    parse_type,
    tsdl_field,
)
from kscribe.instrument.events.spec import FieldSpec, SubsystemSpec
from kscribe.kernel.tracepoints import Tracepoint, parse_header
from kscribe.kernel.tree import KernelTree
from kscribe.util.ctext import param

_IDENT = re.compile(r"(?<![\w.>])(?<!->)\b([A-Za-z_]\w*)\b(?!\s*\()")
# identifiers an expression may use besides the tracepoint's arguments
_ALLOWED = {"sizeof", "current", "__force", "jiffies", "NULL", "true", "false", "unsigned",
            "signed",
            "long", "int", "char", "short", "const", "void", "struct", "u8", "u16", "u32",
            "u64", "s8", "s16", "s32", "s64"}
_C_KEYWORDS = {"auto", "break", "case", "char", "const", "continue", "default", "do",
               "double", "else", "enum", "extern", "float", "for", "goto", "if", "int", "long",
               "register", "return", "short", "signed", "sizeof", "static", "struct",
               "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "bool"}


@dataclass(frozen=True)
class Event:
    """One event of a target: its tracepoint (exact prototype) and typed, laid-out fields."""

    name: str
    tracepoint: Tracepoint
    fields: tuple[Field, ...]

    @property
    def fixed(self) -> tuple[Field, ...]:
        """Fields of the fixed-size part, with each sequence's length field."""
        plain = tuple(f for f in self.fields if not f.type.variable)
        lengths = tuple(Field(f"{f.name}_length", FieldType("int", IntType(32, False)),
                              f.length) for f in self.fields if f.type.kind == "sequence")
        return plain + lengths

    @property
    def variable(self) -> tuple[Field, ...]:
        """Strings and sequence data, after the fixed part, in spec order."""
        return tuple(f for f in self.fields if f.type.variable)

    def tsdl(self) -> list[str]:
        """TSDL lines of the payload's fields, in payload order."""
        return [line for f in (*self.fixed, *self.variable) for line in tsdl_field(f)]


@dataclass(frozen=True)
class Subsystem:
    """The events of one spec for one target, or the reason it is left out."""

    spec: SubsystemSpec
    events: tuple[Event, ...] = ()
    left_out: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)


def identifiers(expr: str) -> set[str]:
    """Names an expression reads directly (not members, not called functions or macros)."""
    return {n for n in _IDENT.findall(expr) if not n.isupper() and n not in _ALLOWED}


def _prototype_text(tp: Tracepoint) -> str:
    return f"{tp.prototype()} (from {tp.header}:{tp.line})"


def _pick(fs: FieldSpec, tp: Tracepoint) -> tuple[str, str]:
    """(expression, '') for the target, or ('', reason) when no case applies."""
    args = {a.name for a in tp.args}
    decls = {" ".join(param(a.type, a.name).split()) for a in tp.args}
    decls |= {" ".join(f"{a.type} {a.name}".split()) for a in tp.args}
    reason = ""
    for case in fs.cases:
        if case.when and " ".join(case.when.replace("* ", "*").split()) not in decls \
                and " ".join(case.when.split()) not in decls:
            reason = f"no argument `{case.when}`"
            continue
        missing = sorted(identifiers(case.expr) - args)
        if missing:
            reason = f"argument {', '.join(repr(m) for m in missing)} not in the prototype"
            continue
        return case.expr, ""
    return "", reason


def resolve_field(spec_path: Path, fs: FieldSpec, tp: Tracepoint, pointer_bits: int
                  ) -> Field | None:
    """The typed field of ``fs`` for ``tp``; None if optional and inapplicable."""
    expr, reason = _pick(fs, tp)
    if not expr:
        if fs.optional:
            return None
        raise KscribeError(f"{spec_path}:{fs.line}: field {fs.name!r} of {tp.name}: {reason}; "
                           f"the target's prototype is {_prototype_text(tp)} (mark the field "
                           "'optional: true' if it exists only on some kernels)")
    try:
        ftype = parse_type(fs.type, pointer_bits, base=fs.base,
                           labels=dict(fs.enum) or None, max_len=fs.max)
    except TypeError_ as e:
        raise KscribeError(f"{spec_path}:{fs.line}: field {fs.name!r}: {e}") from None
    if fs.name in _C_KEYWORDS:
        raise KscribeError(f"{spec_path}:{fs.line}: field name {fs.name!r} is a C keyword")
    if ftype.kind == "sequence":
        if not fs.length:
            raise KscribeError(f"{spec_path}:{fs.line}: field {fs.name!r}: a variable array "
                               "needs 'length' (a C expression)")
        missing = sorted(identifiers(fs.length) - {a.name for a in tp.args})
        if missing:
            raise KscribeError(f"{spec_path}:{fs.line}: field {fs.name!r}: length uses "
                               f"{', '.join(missing)}, not in {_prototype_text(tp)}")
    for local in (f"{fs.name}_len", f"{fs.name}_src"):
        if ftype.variable and local in {a.name for a in tp.args}:
            raise KscribeError(f"{spec_path}:{fs.line}: field {fs.name!r}: its local {local} "
                               f"would hide an argument of {tp.name}; rename the field")
    return Field(name=fs.name, type=ftype, expr=expr, length=fs.length)


def resolve(spec: SubsystemSpec, tree: KernelTree) -> Subsystem:
    """Join ``spec`` with the target ``tree``: its prototypes. (Whether its configuration
    allows the subsystem is the tracer's Kconfig's to say: :mod:`kscribe.codegen.kconfig`.)"""
    header = tree.srctree / "include" / spec.header
    if not header.is_file():
        return Subsystem(spec, left_out=f"{spec.subsystem}: left out, the target has no "
                                        f"<{spec.header}>")
    known = parse_header(header)
    pointer_bits = tree.word_bits
    events, notes = [], []
    for ev in spec.events:
        tp = known.get(ev.tracepoint)
        if tp is None:
            raise KscribeError(f"{spec.path}:{ev.line}: tracepoint {ev.tracepoint!r} is not "
                               f"defined in the target's <{spec.header}>")
        fields = []
        for fs in ev.fields:
            f = resolve_field(spec.path, fs, tp, pointer_bits)
            if f is None:
                notes.append(f"{spec.subsystem}:{tp.name}: field {fs.name} left out "
                             f"(optional; not in {tp.prototype()})")
            else:
                fields.append(f)
        events.append(Event(name=tp.name, tracepoint=tp, fields=tuple(fields)))
    return Subsystem(spec, events=tuple(events), notes=tuple(notes))
