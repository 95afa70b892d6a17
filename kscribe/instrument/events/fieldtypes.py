"""Field types of recorded events: parsed from specs, rendered as C and as CTF (TSDL).

The same type description yields the payload's C declaration and code in the generated probe
and the field's description in the CTF metadata, so the two cannot disagree.

Grammar of ``type`` in a spec:

==============  =====================================================================
``u8``...``s64``  integer of that size and signedness (``bool`` is ``u8``)
``ulong`` ``long``  integer of the target's pointer size
``hex``         pointer-sized unsigned integer shown in base 16 (addresses, pointers)
``text[N]``     a kernel char array of N bytes, copied whole, shown as text up to its NUL (``comm``)
``u8[N]``...    fixed array of N integers
``u8[]``...     variable array (CTF sequence): needs ``length`` and ``max``
``string``      NUL-terminated kernel string, at most ``max`` bytes (default 256)
==============  =====================================================================

An integer field may also carry ``base`` (2, 8, 10, 16) and ``enum`` (labels to values).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_INT = re.compile(r"^(?P<sign>[us])(?P<bits>8|16|32|64)$")
_ARRAY = re.compile(r"^(?P<elem>[us](?:8|16|32|64)|text)\[(?P<n>\d*)\]$")
DEFAULT_STRING_MAX = 256


class TypeError_(ValueError):
    """A type string that is not in the grammar (message says what is allowed)."""


@dataclass(frozen=True)
class IntType:
    """An integer: size in bits, signedness, display base, optional enum labels."""

    bits: int
    signed: bool
    base: int = 10
    labels: tuple[tuple[str, int], ...] = ()
    text: bool = False  # 8-bit integers shown as UTF-8 text (char arrays)

    @property
    def c(self) -> str:
        return f"{'s' if self.signed else 'u'}{self.bits}"

    def tsdl(self) -> str:
        enc = "UTF8" if self.text else "none"
        base = f"integer {{ size = {self.bits}; align = 8; signed = {int(self.signed)}; " \
               f"encoding = {enc}; base = {self.base}; }}"
        if not self.labels:
            return base
        labels = ", ".join(f'"{k}" = {v}' for k, v in self.labels)
        return f"enum : {base} {{ {labels} }}"


@dataclass(frozen=True)
class FieldType:
    """A field's type: scalar, fixed array, sequence or string."""

    kind: str  # "int", "array", "sequence", "string"
    elem: IntType
    count: int = 0  # array length, or the most elements/bytes of a sequence/string
    pointer: bool = False  # hex: value is cast from a pointer

    @property
    def variable(self) -> bool:
        """True for types whose size is known only when recording."""
        return self.kind in ("sequence", "string")


@dataclass(frozen=True)
class Field:
    """A recorded field: name, type, and the C expression it is computed from."""

    name: str
    type: FieldType
    expr: str
    length: str = ""  # C expression of a sequence's element count


def parse_type(text: str, pointer_bits: int, *, base: int | None = None,
               labels: dict[str, int] | None = None, max_len: int | None = None) -> FieldType:
    """Parse a type string of the grammar above for a target with ``pointer_bits`` pointers."""
    t = text.strip()
    scalar_names = {"bool": (8, False), "ulong": (pointer_bits, False),
                    "long": (pointer_bits, True), "hex": (pointer_bits, False)}
    lab = tuple(sorted((labels or {}).items(), key=lambda kv: kv[1]))
    if (m := _INT.match(t)) or t in scalar_names:
        bits, signed = ((int(m["bits"]), m["sign"] == "s") if m else scalar_names[t])
        b = 16 if t == "hex" else (base or 10)
        return FieldType("int", IntType(bits, signed, b, lab), pointer=t == "hex")
    if labels:
        raise TypeError_(f"enum labels need an integer type, not {t!r}")
    if t == "string":
        return FieldType("string", IntType(8, False, 10, text=True),
                         count=max_len or DEFAULT_STRING_MAX)
    if m := _ARRAY.match(t):
        elem = (IntType(8, False, 10, text=True) if m["elem"] == "text"
                else IntType(int(m["elem"][1:]), m["elem"][0] == "s", base or 10))
        if m["n"]:
            return FieldType("array", elem, count=int(m["n"]))
        if not max_len:
            raise TypeError_(f"variable array {t!r} needs 'max' (and 'length')")
        return FieldType("sequence", elem, count=max_len)
    raise TypeError_(f"unknown type {t!r}: use u8..u64, s8..s64, bool, long, ulong, hex, "
                     "string, text[N], <int>[N] or <int>[]")


def tsdl_field(f: Field) -> list[str]:
    """TSDL declaration lines of one field (a sequence adds its length field first)."""
    t = f.type
    if t.kind == "int":
        return [f"{t.elem.tsdl()} _{f.name};"]
    if t.kind == "array":
        return [f"{t.elem.tsdl()} _{f.name}[{t.count}];"]
    if t.kind == "string":
        return [f"string {{ encoding = UTF8; }} _{f.name};"]
    # the length is a field of the fixed part: see kscribe.events.Event.fixed
    return [f"{t.elem.tsdl()} _{f.name}[_{f.name}_length];"]
