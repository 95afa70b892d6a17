"""Syscall instrumentation specs: ``instrumentation/syscalls/*.yaml``, read with line numbers.

A spec file has two optional top-level keys::

    structs:                  # how to record a user struct, by struct tag
      pollfd:
        fields: [fd, events, revents]   # typed from the target's own struct definition
    syscalls:                 # per syscall, per argument (names as the kernel declares them)
      read:
        buf: {direction: exit, length: return}
      poll:
        ufds: {direction: both, count: nfds}

Argument keys: ``direction`` (entry, exit, both), ``length`` (an argument's name, ``*name``
for a length read through a user pointer, or ``return``: the return value, exit only),
``count`` (the argument holding an array's element count), ``struct`` (record the pointed-to
data as this struct even if the C type says otherwise), ``max`` (most bytes or elements),
``exit_if`` (when data is recorded at exit: ``success``, the default, for a return value of 0
or more; ``eintr`` for -EINTR only, e.g. the time left of an interrupted sleep).
Struct keys: ``fields``, ``header`` (the kernel header defining it), ``max`` (raw bytes
copied besides the fields, e.g. a whole sockaddr), ``length`` (``required``: only record it
where the syscall spec gives a length).

A third key, ``multiplexers``, names the syscalls that carry another (``socketcall``,
``ipc``): ``selector`` (the argument numbering the operation), ``mask`` (its bits that do,
when an operation is not listed under its whole value: ipc's version), ``array`` (an
argument pointing to the operation's arguments, one word each), and ``operations``: number ->
the syscall it stands for, as a name (its arguments: ``array[0]``, ``array[1]``...) or
``{syscall: NAME, from: [SOURCE, ...]}`` where a source is an argument's name, ``name[i]``
(word i of the user array it points to) or ``0``.

Everything not in a spec follows the default rule: values, strings and const data at entry,
data a syscall writes (non-const struct pointers) at exit. Every error names the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kscribe.errors import KscribeError
from kscribe.instrument.syscalls.model import DIRECTIONS
from kscribe.util import yamlspec
from kscribe.util.yamlspec import compose

ARG_KEYS = {"direction", "length", "count", "struct", "max", "exit_if"}
CHOICES = {"direction": DIRECTIONS, "exit_if": ("success", "eintr")}  # key -> its values
STRUCT_KEYS = {"fields", "max", "length", "header"}
_IDENT = re.compile(r"^[A-Za-z_]\w*$")


@dataclass(frozen=True)
class Where:
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class ArgSpec:
    syscall: str
    arg: str
    where: Where
    direction: str | None = None
    length: str | None = None
    count: str | None = None
    struct: str | None = None
    max: int = 0
    exit_if: str = ""


@dataclass(frozen=True)
class StructDef:
    tag: str
    fields: tuple[str, ...]
    where: Where
    max: int = 0
    length_required: bool = False
    header: str = ""


@dataclass(frozen=True)
class OpSpec:
    """One operation of a multiplexer: its number, the syscall it stands for, its sources."""

    nr: int
    syscall: str
    where: Where
    sources: tuple[str, ...] | None = None  # None: array[0], array[1]... for every argument


@dataclass(frozen=True)
class MuxSpec:
    """A syscall that carries another (socketcall, ipc)."""

    name: str
    selector: str
    where: Where
    operations: tuple[OpSpec, ...]
    mask: int = 0xFFFFFFFF
    array: str = ""


@dataclass
class Specs:
    """All spec files of a folder, merged."""

    structs: dict[str, StructDef] = field(default_factory=dict)
    multiplexers: dict[str, MuxSpec] = field(default_factory=dict)
    syscalls: dict[str, dict[str, ArgSpec]] = field(default_factory=dict)
    where: dict[str, Where] = field(default_factory=dict)  # syscall -> its key's position
    files: tuple[Path, ...] = ()


def _at(path: Path, node: yaml.Node | None) -> Where:
    return Where(path, yamlspec.line(node))


def _err(path: Path, node: yaml.Node | None, msg: str) -> KscribeError:
    return yamlspec.error(path, node, msg)


def _mapping(path: Path, node: yaml.Node, what: str) -> list[tuple[yaml.ScalarNode, yaml.Node]]:
    return yamlspec.items(path, node, what, _IDENT)


def _scalar(path: Path, node: yaml.Node, what: str) -> str:
    return yamlspec.scalar(path, node, what)


def _int(path: Path, node: yaml.Node, what: str) -> int:
    text = _scalar(path, node, what)
    if not text.isdigit() or int(text) <= 0:
        raise _err(path, node, f"{what} must be a positive integer, not {text!r}")
    return int(text)


def _name(path: Path, node: yaml.Node, what: str) -> str:
    text = _scalar(path, node, what)
    if not _IDENT.match(text):
        raise _err(path, node, f"{what} must be a C name, not {text!r}")
    return text


def _choice(path: Path, node: yaml.Node, what: str, key: str) -> str:
    value = _scalar(path, node, f"{what}.{key}")
    if value not in CHOICES[key]:
        raise _err(path, node, f"{what}: bad {key} {value!r} (use one of "
                               f"{', '.join(CHOICES[key])})")
    return value


def _arg(path: Path, syscall: str, key: yaml.ScalarNode, node: yaml.Node) -> ArgSpec:
    what = f"{syscall}.{key.value}"
    opts: dict = {}
    for k, v in _mapping(path, node, what):
        if k.value not in ARG_KEYS:
            raise _err(path, k, f"{what}: unknown key {k.value!r} (allowed: "
                                f"{', '.join(sorted(ARG_KEYS))})")
        if k.value in CHOICES:
            opts[k.value] = _choice(path, v, what, k.value)
        elif k.value == "length":
            ln = _scalar(path, v, f"{what}.length")
            if ln != "return" and not _IDENT.match(ln.removeprefix("*")):
                raise _err(path, v, f"{what}: length must be an argument's name, *name or "
                                    f"'return', not {ln!r}")
            opts["length"] = ln
        elif k.value == "count":
            opts["count"] = _name(path, v, f"{what}.count")
        elif k.value == "struct":
            opts["struct"] = _name(path, v, f"{what}.struct")
        else:
            opts["max"] = _int(path, v, f"{what}.max")
    if opts.get("length") == "return" and opts.get("direction", "exit") != "exit":
        raise _err(path, node, f"{what}: length 'return' is only known at exit, but "
                               f"direction is {opts['direction']!r}")
    if "exit_if" in opts and opts.get("direction") not in ("exit", "both"):
        raise _err(path, node, f"{what}: exit_if needs direction exit or both")
    if "length" in opts and "count" in opts:
        raise _err(path, node, f"{what}: give length (bytes) or count (elements), not both")
    return ArgSpec(syscall=syscall, arg=key.value, where=_at(path, key), **opts)


def _struct(path: Path, key: yaml.ScalarNode, node: yaml.Node) -> StructDef:
    what = f"struct {key.value}"
    opts: dict = {"fields": ()}
    for k, v in _mapping(path, node, what):
        if k.value not in STRUCT_KEYS:
            raise _err(path, k, f"{what}: unknown key {k.value!r} (allowed: "
                                f"{', '.join(sorted(STRUCT_KEYS))})")
        if k.value == "fields":
            if not isinstance(v, yaml.SequenceNode) or not v.value:
                raise _err(path, v, f"{what}: fields must be a non-empty list of names")
            opts["fields"] = tuple(_name(path, f, f"{what} field") for f in v.value)
        elif k.value == "max":
            opts["max"] = _int(path, v, f"{what}.max")
        elif k.value == "header":
            h = _scalar(path, v, f"{what}.header")
            if not re.fullmatch(r"[\w./-]+\.h", h):
                raise _err(path, v, f"{what}: header must be an include path like "
                                    f"linux/socket.h, not {h!r}")
            opts["header"] = h
        else:
            if _scalar(path, v, f"{what}.length") != "required":
                raise _err(path, v, f"{what}: length can only be 'required'")
            opts["length_required"] = True
    if not opts["fields"]:
        raise _err(path, node, f"{what}: missing key 'fields'")
    return StructDef(tag=key.value, where=_at(path, key), **opts)


_SOURCE = re.compile(r"^(?:0|[A-Za-z_]\w*(?:\[\d\]))$|^[A-Za-z_]\w*$")
MUX_KEYS = {"selector", "mask", "array", "operations"}


def _number(path: Path, node: yaml.Node, what: str) -> int:
    text = _scalar(path, node, what)
    try:
        return int(text, 0)
    except ValueError:
        raise _err(path, node, f"{what} must be a number, not {text!r}") from None


def _operation(path: Path, what: str, key: yaml.ScalarNode, node: yaml.Node,
               array: str) -> OpSpec:
    nr = _number(path, key, f"{what} operation")
    if isinstance(node, yaml.ScalarNode):
        if not array:
            raise _err(path, node, f"{what}.{nr}: give 'from' (the multiplexer has no "
                                   "'array')")
        return OpSpec(nr, _name(path, node, f"{what}.{nr}"), _at(path, key))
    opts: dict = {}
    for k, v in _mapping(path, node, f"{what}.{nr}"):
        if k.value == "syscall":
            opts["syscall"] = _name(path, v, f"{what}.{nr}.syscall")
        elif k.value == "from":
            if not isinstance(v, yaml.SequenceNode):
                raise _err(path, v, f"{what}.{nr}.from must be a list of sources")
            sources = tuple(_scalar(path, s, f"{what}.{nr}.from") for s in v.value)
            bad = [s for s in sources if not _SOURCE.match(s)]
            if bad or len(sources) > 6:
                raise _err(path, v, f"{what}.{nr}.from: {bad[0]!r} is not an argument, "
                                    "argument[i] or 0" if bad else
                                    f"{what}.{nr}.from: a syscall has 6 arguments at most")
            opts["sources"] = sources
        else:
            raise _err(path, k, f"{what}.{nr}: unknown key {k.value!r} (allowed: syscall, "
                                "from)")
    if "syscall" not in opts:
        raise _err(path, node, f"{what}.{nr}: missing key 'syscall'")
    if "sources" not in opts and not array:
        raise _err(path, node, f"{what}.{nr}: give 'from' (the multiplexer has no 'array')")
    return OpSpec(nr, where=_at(path, key), **opts)


def _multiplexer(path: Path, key: yaml.ScalarNode, node: yaml.Node) -> MuxSpec:
    what = key.value
    opts: dict = {}
    ops = None
    for k, v in _mapping(path, node, what):
        if k.value not in MUX_KEYS:
            raise _err(path, k, f"{what}: unknown key {k.value!r} (allowed: "
                                f"{', '.join(sorted(MUX_KEYS))})")
        if k.value == "mask":
            opts["mask"] = _number(path, v, f"{what}.mask")
        elif k.value == "operations":
            ops = v
        else:
            opts[k.value] = _name(path, v, f"{what}.{k.value}")
    if "selector" not in opts or ops is None:
        raise _err(path, node, f"{what}: needs 'selector' and 'operations'")
    operations = tuple(_operation(path, what, k, v, opts.get("array", ""))
                       for k, v in yamlspec.items(path, ops, f"{what}.operations"))
    return MuxSpec(name=what, where=_at(path, key), operations=operations, **opts)


def load(path: Path, into: Specs | None = None) -> Specs:
    """Read and check one spec file (merged into ``into`` when given)."""
    specs = into if into is not None else Specs()
    root = compose(path)
    # top-level key -> where its entries go, how each is read, what it is called
    named: dict[str, tuple[dict[str, Any], Callable[..., Any], str]] = {
        "structs": (specs.structs, _struct, "struct"),
        "multiplexers": (specs.multiplexers, _multiplexer, "multiplexer")}
    for k, v in _mapping(path, root, "spec"):
        if k.value in named:
            table, read, what = named[k.value]
            for sk, sv in _mapping(path, v, k.value):
                if sk.value in table:
                    raise _err(path, sk, f"{what} {sk.value} already described at "
                                         f"{table[sk.value].where}")
                table[sk.value] = read(path, sk, sv)
        elif k.value == "syscalls":
            for sk, sv in _mapping(path, v, "syscalls"):
                if sk.value in specs.syscalls:
                    raise _err(path, sk, f"syscall {sk.value} already described at "
                                         f"{specs.where[sk.value]}")
                specs.where[sk.value] = _at(path, sk)
                specs.syscalls[sk.value] = {ak.value: _arg(path, sk.value, ak, av)
                                            for ak, av in _mapping(path, sv, sk.value)}
        else:
            raise _err(path, k, f"spec: unknown key {k.value!r} (allowed: multiplexers, "
                                "structs, syscalls)")
    specs.files = (*specs.files, path)
    return specs


def load_all(folder: Path) -> Specs:
    """Every ``*.yaml`` of ``folder``; a struct named by an argument must be described."""
    specs = Specs()
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise KscribeError(f"{folder}: no syscall specs (*.yaml)")
    for p in files:
        load(p, specs)
    for args in specs.syscalls.values():
        for a in args.values():
            if a.struct and a.struct not in specs.structs:
                raise KscribeError(f"{a.where}: {a.syscall}.{a.arg}: struct {a.struct!r} is "
                                   f"not described (known: {', '.join(sorted(specs.structs))})")
    return specs


def check_against(specs: Specs, known: dict[str, set[str]], names: bool = True) -> list[str]:
    """Fail on a spec naming a syscall or argument the target does not have.

    ``known`` maps each syscall name of the target (all ABIs, and every ``sys_<name>``
    prototype of its headers) to the argument names its prototypes declare ("?" for an
    unnamed one: then the names are not checked). Specs use the names of the kernel's
    definitions; without them (headers only, ``names=False``) an argument a spec names
    otherwise than the headers is not an error but returned, as not applied.
    """
    skipped = []
    for name, args in specs.syscalls.items():
        if name not in known:
            close = [k for k in known if k.startswith(name[:4])][:5]
            hint = f" (similar: {', '.join(sorted(close))})" if close else ""
            raise KscribeError(f"{specs.where[name]}: unknown syscall {name!r}: no ABI of "
                               f"the target has it and no header declares sys_{name}{hint}")
        have = known[name]
        if "?" in have:
            continue  # a prototype leaves arguments unnamed: names cannot be checked here
        for a in args.values():
            for ref, what in ((a.arg, "argument"), (a.count, "count"),
                              ((a.length or "").removeprefix("*") or None, "length")):
                if ref and ref != "return" and ref not in have:
                    msg = (f"{a.where}: {name}: unknown {what} {ref!r} (its prototypes "
                           f"declare: {', '.join(sorted(have)) or 'none'})")
                    if names:
                        raise KscribeError(msg)
                    skipped.append(msg)
                    break
    return skipped
