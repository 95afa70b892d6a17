"""C code of an event's payload: the packed structure, the locals, the stores.

The payload is laid out as :class:`kscribe.events.Event` says (fixed part as a packed
structure, then strings and sequence data), which is also the order of the event's CTF
fields, so what the probe writes is what the metadata describes.
"""

from __future__ import annotations

from dataclasses import dataclass

from kscribe.instrument.events.fieldtypes import Field
from kscribe.instrument.events.resolve import Event


@dataclass(frozen=True)
class PayloadC:
    """The C pieces of one event's probe body.

    ``var`` names the locals of the generated probe (payload pointer, record, tail
    cursor), chosen so that none hides an argument of the tracepoint.
    """

    var: dict[str, str]
    struct: str  # name of the packed payload structure, "" when there is no fixed part
    members: list[str]
    locals: list[str]  # declarations of the sizes of variable-size fields
    prepare: list[str]  # statements computing them, once the event is known to be recorded
    size: str  # C expression of the payload size
    stores: list[str]  # statements filling the reserved payload


def _member(f: Field) -> str:
    t = f.type
    if t.kind == "int":
        return f"{t.elem.c} {f.name};"
    ctype = "char" if t.elem.text else t.elem.c
    return f"{ctype} {f.name}[{t.count}];"


_CHOICES = {"p": ("payload", "entry", "kscribe_payload"), "rec": ("rec", "record", "kscribe_rec"),
            "tail": ("tail", "cursor", "kscribe_tail")}


def _names(event: Event) -> dict[str, str]:
    taken = {a.name for a in event.tracepoint.args}
    taken |= {f"{f.name}_{s}" for f in event.fields for s in ("src", "len")}
    return {k: next(n for n in opts if n not in taken) for k, opts in _CHOICES.items()}


def _store(f: Field, p: str) -> list[str]:
    """An integer is assigned; an array, text too, is copied whole, as the kernel's own
    events copy a ``comm``: the source is a kernel array of that size (fortified builds check
    it), and a text's readers stop at its NUL."""
    t = f.type
    if t.kind == "int":
        value = f"kscribe_kptr((unsigned long){f.expr})" if t.pointer else f.expr
        return [f"{p}->{f.name} = {value};"]
    return [f"memcpy({p}->{f.name}, {f.expr}, sizeof({p}->{f.name}));"]


def payload_c(event: Event) -> PayloadC:
    """The C pieces that record ``event``'s fields."""
    v = _names(event)
    p, rec, tail = v["p"], v["rec"], v["tail"]
    struct = f"kscribe_{event.name}" if event.fixed else ""
    members = [_member(f) for f in event.fixed]
    decls, prepare, sizes, writes = [], [], [], []
    for f in event.variable:
        if f.type.kind == "string":
            decls += [f"const char *{f.name}_src;", f"size_t {f.name}_len;"]
            prepare += [f"{f.name}_src = kscribe_string_or_null({f.expr});",
                        f"{f.name}_len = strnlen({f.name}_src, {f.type.count - 1}) + 1;"]
            sizes.append(f"{f.name}_len")
            writes.append(f"memcpy({tail}, {f.name}_src, {f.name}_len - 1);")
            writes.append(f"{tail}[{f.name}_len - 1] = '\\0';")
        else:
            esize = f.type.elem.bits // 8
            decls.append(f"u32 {f.name}_len;")
            prepare.append(f"{f.name}_len = min_t(u32, {f.length}, {f.type.count});")
            sizes.append(f"{f.name}_len" + (f" * {esize}" if esize > 1 else ""))
            writes.append(f"memcpy({tail}, {f.expr}, {sizes[-1]});")
        writes.append(f"{tail} += {sizes[-1]};")
    if writes:
        writes.pop()  # the last field needs no advance
    sequences = {f.name for f in event.variable if f.type.kind == "sequence"}
    stores = []
    for f in event.fixed:
        if f.name.endswith("_length") and f.name[:-7] in sequences:
            stores.append(f"{p}->{f.name} = {f.name[:-7]}_len;")
        else:
            stores += _store(f, p)
    if writes:
        stores.append(f"{tail} = " + (f"(char *)({p} + 1);" if struct else f"{rec}.payload;"))
        stores += writes
    size = " + ".join(([f"sizeof(*{p})"] if struct else []) + sizes) or "0"
    return PayloadC(var=v, struct=struct, members=members, locals=decls, prepare=prepare,
                    size=size, stores=stores)


def layout_c(event: Event) -> list[str]:
    """C initializers of the event's ``struct kscribe_field`` array, in payload order: what
    the kernel checks a filter's field accesses against and finds each field by."""
    order = [*event.fixed, *event.variable]
    index = {f.name: i for i, f in enumerate(order)}
    lines = []
    for f in order:
        t = f.type
        if t.kind == "int":
            kind, size = "INT", t.elem.bits // 8
        elif t.kind == "array":
            kind, size = ("TEXT", t.count) if t.elem.text else ("BYTES",
                                                                t.count * t.elem.bits // 8)
        elif t.kind == "string":
            kind, size = "STRING", 0
        else:
            kind, size = "SEQUENCE", t.elem.bits // 8
        parts = [f'.name = "{f.name}"', f".kind = KSCRIBE_FIELD_{kind}"]
        if t.kind == "int" and t.elem.signed:
            parts.append(".is_signed = 1")
        if size:
            parts.append(f".size = {size}")
        if kind == "SEQUENCE":
            parts.append(f".ref = {index[f.name + '_length']}")
        lines.append("{ " + ", ".join(parts) + " },")
    return lines
