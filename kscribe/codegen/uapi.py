"""The tracer's userspace ABI: one description file, rendered into the uapi header.

``kernel_module/abi.yaml`` lists the ioctl magic, every ioctl (name, number, direction,
structure) and every structure with typed fields. This module checks it (unique numbers in
the reserved range, known types, a layout without implicit padding that is the same for 32-
and 64-bit callers) and renders ``templates/module/uapi.h.j2`` into
``kernel_module/include/uapi/linux/kscribe.h``, which stays committed.

    kscribe uapi            # rewrite the header
    kscribe uapi --check    # exit 1 if the committed header is not the rendering
"""

from __future__ import annotations

import dataclasses
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kscribe.codegen.env import environment
from kscribe.config import paths
from kscribe.errors import KscribeError

SPEC = paths.KERNEL_MODULE / "abi.yaml"
HEADER = paths.KERNEL_MODULE / "include/uapi/linux/kscribe.h"

# ABI type -> (C type in a uapi header, size in bytes)
SCALARS = {
    "u8": ("__u8", 1), "u16": ("__u16", 2), "u32": ("__u32", 4), "u64": ("__u64", 8),
    "s8": ("__s8", 1), "s16": ("__s16", 2), "s32": ("__s32", 4), "s64": ("__s64", 8),
}
_ARRAY = re.compile(r"^(?P<elem>char|u8|u16|u32|u64)\[(?P<len>[A-Z0-9_]+)\]$")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_CONST = re.compile(r"^[A-Z][A-Z0-9_]*$")
DIRECTIONS = {"none": "_IO", "read": "_IOR", "write": "_IOW", "readwrite": "_IOWR"}
IOC_SIZEBITS = 14  # asm-generic/ioctl.h; mips, powerpc, sparc and alpha have 13: stay below


@dataclass
class Field:
    """One member of a structure, with its place in it."""

    name: str
    type: str
    doc: str
    c_type: str = ""
    array: str = ""         # "[KSCRIBE_NAME_LEN]" for arrays
    size: int = 0
    align: int = 0
    offset: int = 0


@dataclass
class Struct:
    """A structure of the ABI, laid out (``size`` and each field's offset)."""

    name: str
    doc: str
    fields: list[Field]
    size: int = 0


@dataclass
class Ioctl:
    """One ioctl: its number, direction (``none``, ``read``...) and structure."""

    name: str
    nr: int
    dir: str
    doc: str
    struct: Struct | None = None

    @property
    def macro(self) -> str:
        """``_IO``, ``_IOR``, ``_IOW`` or ``_IOWR``."""
        return DIRECTIONS[self.dir]


@dataclass
class Abi:
    """The checked contents of abi.yaml."""

    name: str
    abi_version: int
    magic: str
    magic_range: tuple[int, int]
    constants: list[dict[str, Any]]
    flags: list[dict[str, Any]]
    enums: list[dict[str, Any]]
    structs: list[Struct]
    ioctls: list[Ioctl]
    prefix: str = field(default="")

    def struct(self, name: str) -> Struct:
        """The structure called ``name``."""
        return next(s for s in self.structs if s.name == name)

    def contexts(self) -> dict[str, str]:
        """The per-event contexts, by id: name (``procname``, as the kernel reports it) to
        type (``s32``, ``text[16]``, as ``kscribectl contexts`` prints it)."""
        group: dict[str, Any] = next((g for g in self.enums if g["group"] == CONTEXT_GROUP),
                                     {"values": []})
        return {v["name"].removeprefix("CTX_").lower(): v["type"]
                for v in sorted(group["values"], key=lambda v: v["value"])}


def _fail(where: str, msg: str) -> KscribeError:
    return KscribeError(f"{_CURRENT[0]}: {where}: {msg}")


_CURRENT = [SPEC]  # the file being loaded, for error messages


def _need(d: Any, key: str, where: str) -> Any:
    if not isinstance(d, dict):
        raise _fail(where, f"a mapping with '{key}' expected, not {d!r}")
    if key not in d:
        raise _fail(where, f"missing '{key}'")
    return d[key]


def _layout(s: Struct, consts: dict[str, int]) -> None:
    """Place the fields of ``s``; refuse implicit padding and ABI-dependent layouts."""
    offset = 0
    names = set()
    for f in s.fields:
        where = f"struct {s.name}.{f.name}"
        if not _IDENT.match(f.name) or f.name in names:
            raise _fail(where, "bad or duplicate field name")
        names.add(f.name)
        if f.type in SCALARS:
            f.c_type, f.size = SCALARS[f.type]
            f.align = f.size
        else:
            m = _ARRAY.match(f.type)
            if not m:
                raise _fail(where, f"unknown type {f.type!r} (known: {', '.join(SCALARS)}, "
                                   "char[N], uN[N])")
            length = m.group("len")
            n = consts.get(length) if not length.isdigit() else int(length)
            if n is None:
                raise _fail(where, f"unknown constant {length!r}")
            elem = m.group("elem")
            c_elem, esize = ("char", 1) if elem == "char" else SCALARS[elem]
            f.c_type, f.size, f.align = c_elem, esize * n, esize
            f.array = f"[KSCRIBE_{length}]" if not length.isdigit() else f"[{n}]"
        if offset % f.align:
            raise _fail(where, f"at offset {offset}, not a multiple of {f.align}: add an "
                               "explicit padding field")
        f.offset = offset
        offset += f.size
    if not s.fields:
        raise _fail(f"struct {s.name}", "no fields")
    widest = max(f.align for f in s.fields)
    if offset % widest:
        raise _fail(f"struct {s.name}", f"size {offset} is not a multiple of {widest}, its "
                                        "widest field's: add an explicit padding field")
    s.size = offset


def load(path: Path = SPEC) -> Abi:
    """Read and check ``abi.yaml``; every error names the file and the item at fault."""
    _CURRENT[0] = path
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise KscribeError(f"{path}:{mark.line + 1 if mark else 1}: YAML syntax error: "
                           f"{getattr(e, 'problem', None) or e}") from None
    except OSError as e:
        raise KscribeError(f"{path}: cannot read: {e.strerror}") from None
    try:
        return _load(raw)
    except (TypeError, ValueError, AttributeError) as e:
        raise KscribeError(f"{path}: malformed description: {e}") from None


def _constants(raw: Any) -> tuple[dict[str, int], list[dict[str, Any]]]:
    consts: dict[str, int] = {}
    constants = []
    for c in raw.get("constants", []):
        cname, value = _need(c, "name", "constants"), _need(c, "value", "constants")
        if not _CONST.match(cname) or cname in consts or not isinstance(value, int):
            raise _fail(f"constant {cname}", "bad or duplicate name, or non-integer value")
        consts[cname] = value
        constants.append({"name": cname, "value": value, "doc": c.get("doc", ""),
                          "hex": bool(c.get("hex", False))})
    return consts, constants


def _flags(raw: Any, macros: set[str]) -> list[dict[str, Any]]:
    flags = []
    for g in raw.get("flags", []):
        bits = set()
        for v in _need(g, "values", f"flags {g.get('name', '?')}"):
            vname = _need(v, "name", "flag value")
            bit = _need(v, "bit", f"flag {vname}")
            if vname in macros or bit in bits or not isinstance(bit, int) or not 0 <= bit < 32:
                raise _fail(f"flag {vname}", "duplicate name or bit, or bit out of 0-31")
            macros.add(vname)
            bits.add(bit)
        flags.append(g)
    return flags


def _enums(raw: Any, macros: set[str]) -> list[dict[str, Any]]:
    enums = []
    for g in raw.get("enums", []):
        for v in _need(g, "values", f"enums {g.get('name', '?')}"):
            vname = _need(v, "name", "enum value")
            if vname in macros:
                raise _fail(f"enum {vname}", "duplicate name")
            macros.add(vname)
        enums.append(g)
    return enums


def _structs(raw: Any, consts: dict[str, int]) -> list[Struct]:
    structs: list[Struct] = []
    for s in raw.get("structs", []):
        sname = _need(s, "name", "structs")
        if not _IDENT.match(sname) or any(x.name == sname for x in structs):
            raise _fail(f"struct {sname}", "bad or duplicate name")
        st = Struct(sname, " ".join(str(s.get("doc", "")).split()),
                    [Field(_need(f, "name", sname), str(_need(f, "type", sname)),
                           str(f.get("doc", ""))) for f in s.get("fields", [])])
        _layout(st, consts)
        structs.append(st)
    return structs


def _ioctl(i: Any, known: list[Ioctl], structs: list[Struct], lo: int, hi: int) -> Ioctl:
    iname, nr, d = (_need(i, k, "ioctls") for k in ("name", "nr", "dir"))
    where = f"ioctl {iname}"
    if not _CONST.match(iname) or any(x.name == iname for x in known):
        raise _fail(where, "bad or duplicate name")
    if not lo <= nr <= hi or any(x.nr == nr for x in known):
        raise _fail(where, f"number {nr:#x} outside {lo:#x}-{hi:#x} or already used")
    if d not in DIRECTIONS:
        raise _fail(where, f"direction {d!r} is not one of {', '.join(DIRECTIONS)}")
    st = None
    if d == "none":
        if "struct" in i:
            raise _fail(where, "an _IO ioctl takes no structure")
    else:
        sname = _need(i, "struct", where)
        st = next((s for s in structs if s.name == sname), None)
        if st is None:
            raise _fail(where, f"unknown struct {sname!r}")
        if st.size >= 1 << (IOC_SIZEBITS - 1):
            raise _fail(where, f"struct {sname} is too large for an ioctl number")
    return Ioctl(iname, nr, d, str(i.get("doc", "")), st)


CONTEXT_GROUP = "context"
_CONTEXT_TYPE = re.compile(r"^(?:[su](?:8|16|32|64)|text\[\d+\])$")


def _check_contexts(enums: list[dict[str, Any]], consts: dict[str, int]) -> None:
    """The contexts are numbered 0 to NR_CONTEXTS - 1 (bits of a u64 mask), each typed."""
    group = next((g for g in enums if g["group"] == CONTEXT_GROUP), None)
    if group is None:
        return
    for v in group["values"]:
        if not _CONTEXT_TYPE.match(str(v.get("type", ""))):
            raise _fail(f"enum {v['name']}", "needs a type: s8..s64, u8..u64 or text[N]")
    values = sorted(v["value"] for v in group["values"])
    if values != list(range(len(values))) or consts.get("NR_CONTEXTS") != len(values):
        raise _fail(f"enums {CONTEXT_GROUP}", "values must be 0 to NR_CONTEXTS - 1, each once")
    if len(values) > 64:
        raise _fail(f"enums {CONTEXT_GROUP}", "at most 64 contexts (bits of a u64 mask)")


def _load(raw: Any) -> Abi:
    name = _need(raw, "name", "top level")
    version = _need(raw, "abi_version", "top level")
    magic = str(_need(raw, "magic", "top level"))
    if len(magic) != 1 or not magic.isprintable():
        raise _fail("magic", "one printable character expected")
    lo, hi = _need(raw, "magic_range", "top level")
    consts, constants = _constants(raw)
    macros = set(consts)
    flags = _flags(raw, macros)
    enums = _enums(raw, macros)
    _check_contexts(enums, consts)
    structs = _structs(raw, consts)
    ioctls: list[Ioctl] = []
    for i in raw.get("ioctls", []):
        ioctls.append(_ioctl(i, ioctls, structs, lo, hi))
    return Abi(name, version, magic, (lo, hi), constants, flags, enums, structs, ioctls,
               prefix=name.upper() + "_")


def _tabpad(text: str, column: int) -> str:
    """``text`` followed by tabs up to ``column`` (a multiple of 8), at least one tab."""
    width = len(text)
    tabs = max(1, (column - width + 7) // 8) if width < column else 1
    return text + "\t" * tabs


def _column(names: list[str], minimum: int = 16) -> int:
    """The tab stop after the longest of ``names``."""
    longest = max([len(n) for n in names] + [0])
    return max(minimum, (longest // 8 + 1) * 8)


def _wrap(text: str, first: str, rest: str, width: int = 80) -> list[str]:
    """``text`` wrapped at ``width`` columns (tabs count 8), first line after ``first``."""
    def cols(s: str) -> int:
        return len(s.expandtabs(8))
    words = " ".join(text.split())
    lines = textwrap.wrap(words, width=max(20, width - cols(first)),
                          break_long_words=False, break_on_hyphens=False) or [""]
    out = [first + lines[0]]
    for line in lines[1:]:
        out.append(rest + line)
    return [x.rstrip() for x in out]


def _cols(text: str) -> int:
    return len(text.expandtabs(8))


def _define(name: str, value: str, column: int = 32, comment: str = "") -> str:
    """``#define name value /* comment */`` aligned at ``column``, within 100 columns.

    Too long a line loses its trailing comment to the line above, then is split after the
    name with a backslash.
    """
    line = _tabpad(f"#define {name}", column) + value
    if comment and _cols(f"{line}\t/* {comment} */") <= 100:
        return f"{line}\t/* {comment} */"
    head = f"/* {comment} */\n" if comment else ""
    if _cols(line) <= 100:
        return head + line
    return head + f"#define {name} \\\n\t{value}"


def renumbered(abi: Abi, magic: str, first: int, last: int) -> Abi:
    """``abi`` moved to the ioctl block ``magic`` ``first``-``last`` as the next ABI version:
    the same ioctls, each at the same offset in its new block. A caller built for the old
    numbers gets ``-ENOTTY``, as it must, rather than a structure it does not know."""
    if last - first != abi.magic_range[1] - abi.magic_range[0]:
        raise KscribeError(f"ioctl block {magic!r} {first:#x}-{last:#x}: not the size of "
                           f"{abi.magic_range[0]:#x}-{abi.magic_range[1]:#x}")
    shift = first - abi.magic_range[0]
    ioctls = [dataclasses.replace(i, nr=i.nr + shift) for i in abi.ioctls]
    return dataclasses.replace(abi, abi_version=abi.abi_version + 1, magic=magic,
                               magic_range=(first, last), ioctls=ioctls)


def render(abi: Abi) -> str:
    """The uapi header of ``abi``."""
    env = environment()
    env.filters["tabpad"] = _tabpad
    env.filters["affix"] = lambda text, before, after: f"{before}{text}{after}"
    env.globals["column"] = _column
    env.globals["wrap"] = _wrap
    env.globals["define"] = _define
    return env.get_template("module/uapi.h.j2").render(abi=abi, spec=f"kernel_module/{SPEC.name}")


def static_asserts(abi: Abi) -> str:
    """C11 assertions that a compiler lays the structures out as ``abi.yaml`` says."""
    lines = ["#include <stddef.h>", "#include <uapi/linux/kscribe.h>"]
    for s in abi.structs:
        lines.append(f"_Static_assert(sizeof(struct {s.name}) == {s.size}, \"{s.name}\");")
        for f in s.fields:
            lines.append(f"_Static_assert(offsetof(struct {s.name}, {f.name}) == {f.offset}, "
                         f"\"{s.name}.{f.name}\");")
    return "\n".join(lines) + "\n"
