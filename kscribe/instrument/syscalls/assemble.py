"""Build the typed syscall tables of a prepared target (all its ABIs) from its own headers.

Preprocessor runs (in parallel): one per ABI for its table and ``__NR_*`` numbers, one for the
prototypes (``linux/syscalls.h``, ``linux/compat.h`` and the arch's headers, with the syscall
wrapper disabled so that the plain C prototypes are declared, then a probe
``SYSCALL_DEFINE1`` expanded with the wrapper to learn the entry symbols' prefixes), and one
over the reduced C files of the target's ``linux-source`` package: its ``SYSCALL_DEFINE<n>``
definitions.

An argument's type is the headers' prototype's; its name is the definition's (the name the
kernel itself publishes in ``events/syscalls/sys_enter_*/format``) when the target's source
defines the syscall with as many arguments, else the prototype's. A syscall no header
declares takes both from its definition.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from debian.debian_support import Version

from kscribe.config import paths
from kscribe.config.arches import AbiSpec, Arch, ArchSyscalls
from kscribe.config.settings import Settings
from kscribe.config.target import Target
from kscribe.errors import KscribeError
from kscribe.instrument.syscalls import abis, extract, source
from kscribe.instrument.syscalls.model import (
    StructField,
    StructSpec,
    Syscall,
    SyscallArg,
    SyscallTable,
)
from kscribe.instrument.syscalls.prototypes import (
    USER,
    Origins,
    Param,
    Prototype,
    prototypes,
    struct_fields,
    syscall_defines,
    typedefs,
)
from kscribe.instrument.syscalls.specs import ArgSpec, Specs, check_against, load_all
from kscribe.instrument.syscalls.types import ResolvedType, TypeResolver, is_string
from kscribe.kernel.cpp import Job, Preprocessor, preprocessor
from kscribe.kernel.tree import KernelTree, read_tree

if TYPE_CHECKING:  # the archive is not read where only headers are (a dkms build)
    from kscribe.debian.lock import Resolved
    from kscribe.debian.provision import Provisioned

PROBE = "kscribe_probe"
GENERIC_ARGS = 6


class Prepared(Protocol):
    """A target resolved and provisioned (what :class:`kscribe.pipeline.Prepared` is)."""

    @property
    def target(self) -> Target: ...

    @property
    def resolved(self) -> Resolved: ...

    @property
    def provisioned(self) -> Provisioned: ...


@dataclass
class Result:
    """Tables of one target, and how long each part took (seconds)."""

    tables: list[SyscallTable]
    timings: dict[str, float]
    notes: list[str]


_CACHE: dict[tuple, Result] = {}
_LOCK = threading.Lock()


def spec_folder() -> Path:
    """The syscall specs: ``instrumentation/syscalls``."""
    return paths.INSTRUMENTATION / "syscalls"


def abis_of(tree: KernelTree, arch: ArchSyscalls) -> list[AbiSpec]:
    """The ABIs the kernel is configured with: the native one and the enabled compat ones."""
    return [a for a in arch.abis if a.native or any(tree.enabled(r) for r in a.requires)]


def _prototype_source(cpp: Preprocessor, arch: ArchSyscalls, tree: KernelTree,
                      specs: Specs) -> str:
    lines = ["#undef CONFIG_ARCH_HAS_SYSCALL_WRAPPER", "#undef __user",
             f"#define __user {USER}"]
    headers = [*arch.prototype_headers, *(d.header for d in specs.structs.values() if d.header)]
    lines += [f"#include <{h}>" for h in dict.fromkeys(headers) if cpp.find(h)]
    lines.append("@KSPROBE@")
    if arch.wrapper_header and tree.enabled("ARCH_HAS_SYSCALL_WRAPPER") \
            and cpp.find(arch.wrapper_header):
        lines += ["#define CONFIG_ARCH_HAS_SYSCALL_WRAPPER 1",
                  f"#include <{arch.wrapper_header}>"]
    lines += [f"SYSCALL_DEFINE1({PROBE}, int, a) {{ return 0; }}",
              "#ifdef COMPAT_SYSCALL_DEFINE1",
              f"COMPAT_SYSCALL_DEFINE1({PROBE}, int, a) {{ return 0; }}", "#endif"]
    return "\n".join(lines) + "\n"


def _source_tu(files: list[Path], srctree: Path, folder: Path) -> str:
    lines = ["#include <asm/unistd.h>", "#include <asm/bitsperlong.h>",
             "#include <asm/byteorder.h>"]
    helpers = source.header_macros([srctree / "include/linux/syscalls.h",
                                    srctree / "include/linux/compat.h"], source.used_names(files))
    lines += [helpers, "@KSSOURCE@"]
    when = abis.built_when()
    for p in files:
        cond = when.get(p.relative_to(folder).as_posix())
        lines += [f"#if {cond}", f'#include "{p}"', "#endif"] if cond else [f'#include "{p}"']
    return "\n".join(lines) + "\n"


def _prefix(probe: set[str], candidates: tuple[str, ...], compat: bool) -> str:
    stem = f"{'compat_' if compat else ''}sys_{PROBE}"
    return next((c for c in candidates if f"{c}{stem}" in probe), "")


def _entry(symbol: str, abi: AbiSpec, probe: set[str]) -> str:
    if symbol.startswith("compat_sys_"):
        return _prefix(probe, abi.compat_prefixes, True) + symbol
    if symbol.startswith("sys_"):
        return _prefix(probe, abi.sys_prefixes, False) + symbol
    return symbol


def _name_of(symbol: str) -> str:
    return re.sub(r"^_*(compat_)?(sys(32|n32|m)?_)?", "", symbol) or symbol


def _merge(h: Prototype | None, s: Prototype | None, d: Prototype | None = None
           ) -> Prototype | None:
    """The headers' prototype ``h`` with the argument names of the definition ``d``
    (``SYSCALL_DEFINE<n>``) when it has as many; else with names of a declaration ``s`` of the
    source where ``h`` has none. Without ``h``: the definition, else the declaration."""
    if h is None:
        return d or s
    if d is not None and len(d.params) == len(h.params):
        s = d
    elif s is None or all(p.name for p in h.params) or len(s.params) != len(h.params):
        return h
    params = tuple(Param(hp.ctype, (sp.name or hp.name) if s is d else (hp.name or sp.name),
                         hp.tokens) for hp, sp in zip(h.params, s.params, strict=True))
    return Prototype(h.name, params, f"{h.origin} (names: {s.origin})")


class _Classifier:
    """Turns prototypes into typed arguments, applying the specs."""

    def __init__(self, resolver: TypeResolver, specs: Specs, header_text: str,
                 word: int) -> None:
        self.r = resolver
        self.specs = specs
        self.text = header_text
        self.word = word
        self._structs: dict[str, StructSpec] = {}

    def struct(self, tag: str) -> StructSpec:
        if tag not in self._structs:
            d = self.specs.structs[tag]
            found = struct_fields(self.text, tag, d.fields)
            fields = []
            for f in d.fields:
                p = found.get(f)
                if p is None:
                    raise KscribeError(f"{d.where}: struct {tag} of the target has no field "
                                       f"{f!r} (or no definition in the headers read: name "
                                       "the header defining it with `header:`)")
                tokens = p.tokens
                count = 0
                if "[" in tokens:
                    i = tokens.index("[")
                    count = int(tokens[i + 1]) if tokens[i + 1].isdigit() else 0
                    tokens = tokens[:i]
                res = self.r.resolve(tokens)
                bits, signed = (self.r.integer(res.base) if res.depth == 0 else None) \
                    or (self.word, False)
                fields.append(StructField(f, p.ctype, bits, signed, count))
            self._structs[tag] = StructSpec(tag, tuple(fields), max=d.max)
        return self._structs[tag]

    def arg(self, syscall: str, index: int, p: Param, spec: ArgSpec | None) -> SyscallArg:
        name = p.name or f"arg{index}"
        res: ResolvedType = self.r.resolve(p.tokens)
        direction, length, count, mx = "entry", None, None, 0
        if spec:
            length, count, mx = spec.length, spec.count, spec.max
        tag = spec.struct if spec and spec.struct else (
            res.base[1] if res.depth == 1 and len(res.base) >= 2 and res.base[0] == "struct"
            else None)
        if res.depth == 0:
            got = self.r.integer(res.base)
            bits, signed = got if got else (self.word, False)
            return SyscallArg(name, p.ctype, "int", bits, signed)
        if not res.user:
            return SyscallArg(name, p.ctype, "pointer", self.word)
        if res.depth == 1 and is_string(syscall, name, res):
            kind = "user_string"
        elif tag and tag in self.specs.structs and res.depth == 1 and not (
                self.specs.structs[tag].length_required and not length):
            kind = "struct"
        else:
            kind = "user_pointer"
        recorded = kind in ("user_string", "struct") or bool(length or count)
        if recorded:
            direction = "entry" if res.const_target or kind == "user_string" else "exit"
        if spec and spec.direction:
            direction = spec.direction
        struct = self.struct(tag) if kind == "struct" and tag else None
        return SyscallArg(name, p.ctype, kind, self.word, False, direction, struct, length,
                          count, mx, spec.exit_if if spec else "")


def _names(proto: Prototype | None, count: int) -> list[str]:
    if proto is None or len(proto.params) != count:
        return []
    return [p.name or f"arg{i}" for i, p in enumerate(proto.params)]


def _translate(spec: dict[str, ArgSpec], canon: Prototype | None, proto: Prototype,
               headers: tuple[Prototype | None, ...] = ()) -> dict[int, ArgSpec]:
    """A syscall's spec (names of its native prototype) for ``proto``, by argument index.

    Specs name the arguments of ``sys_<name>``; a compat or arch prototype with as many
    arguments (``compat_sys_recvfrom``'s ``buf`` is ``sys_recvfrom``'s ``ubuf``) gets the same
    treatment by position, and references (length, count) are renamed to match. Names are
    the definitions' (what the kernel publishes); a name only the ``headers``' prototypes use
    (``getrandom``'s ``buf``, ``ubuf`` in 6.1's definition) is accepted too, so that one spec
    serves kernels whose definitions renamed an argument.
    """
    names = [p.name or f"arg{i}" for i, p in enumerate(proto.params)]
    tries = [_names(canon, len(names)), names, *(_names(h, len(names)) for h in headers)]

    def index(n: str) -> int | None:
        return next((t.index(n) for t in tries if n in t), None)

    def ref(r: str | None) -> str | None:
        if r is None or r == "return":
            return r
        i = index(r.removeprefix("*"))
        return None if i is None else ("*" if r.startswith("*") else "") + names[i]

    out = {}
    for a in spec.values():
        i = index(a.arg)
        if i is not None:
            out[i] = replace(a, arg=names[i], length=ref(a.length), count=ref(a.count))
    return out


def _generic(abi: AbiSpec) -> tuple[SyscallArg, ...]:
    return tuple(SyscallArg(f"arg{i}", "unsigned long", "int", abi.bits, False)
                 for i in range(GENERIC_ARGS))


def _start_source(cpp: Preprocessor, reduced: Path, arch: Arch, tree: KernelTree) -> Job:
    """Start preprocessing the reduced source files that can define the target's syscalls."""
    files = source.files_for(reduced, arch.kbuild_arch, tree.word_bits)
    return cpp.start(_source_tu(files, tree.srctree, reduced))


def _source_prototypes(job: Job, reduced: Path
                       ) -> tuple[dict[str, Prototype], dict[str, Prototype]]:
    """The source's definitions (SYSCALL_DEFINE<n>: their names are the kernel's), and those
    with its other declarations of syscall functions (asmlinkage prototypes of C files)."""
    text = job.result(lenient=True)
    text = text[text.find("@KSSOURCE@"):]
    where = Origins(text, (str(reduced),), lines=True)
    defs = {k: Prototype(v.name, v.params, f"linux-source:{v.origin}")
            for k, v in syscall_defines(text, where).items()}
    protos = {k: Prototype(v.name, v.params, f"linux-source:{v.origin}")
              for k, v in prototypes(text, where).items()}
    protos.update(defs)
    return defs, protos


def _spec_names(symbols: set[str], merged: Callable[[str], Prototype | None],
                header_protos: dict[str, Prototype]) -> dict[str, set[str]]:
    """syscall -> the argument names its prototypes give ("?" for an unnamed one)."""
    known: dict[str, set[str]] = {}
    for sym in symbols:
        m = re.fullmatch(r"(?:compat_)?sys_(\w+)", sym)
        proto = merged(sym)
        if m and proto is not None:
            known.setdefault(m.group(1), set()).update(q.name or "?" for q in proto.params)
            if sym in header_protos:
                known[m.group(1)].update(q.name for q in header_protos[sym].params if q.name)
    return known


def build(prepared: Prepared, settings: Settings, use_source: bool = True,
          specs: Specs | None = None) -> Result:
    """The typed syscall tables of every ABI of ``prepared``.

    ``use_source`` reads the target's linux-source package too (fetched once, then cached
    reduced): the argument names of the kernel's definitions and the syscalls the headers
    do not declare. Without it the headers alone are read.
    """
    version = prepared.resolved.version
    source_of = Source(source.cached(settings.cache_dir, version),
                       lambda: source.fetch(settings, prepared.resolved)) if use_source else None
    return build_tree(read_tree(prepared.provisioned.kdir), prepared.target.arch,
                      prepared.target.name, version, source_of, specs)


@dataclass(frozen=True)
class Source:
    """The reduced linux-source of the kernel: cached (or None), and how to fetch it."""

    cached: Path | None
    fetch: Callable[[], Path]


def build_tree(tree: KernelTree, target_arch: Arch, name: str, version: str,
               source_of: Source | None, specs: Specs | None = None) -> Result:
    """The typed syscall tables of every ABI of the kernel tree ``tree`` (for ``target_arch``,
    of Debian version ``version``), from its headers and, with ``source_of``, its source."""
    started = time.monotonic()
    timings: dict[str, float] = {}
    notes: list[str] = []
    use_source = source_of is not None
    arch = target_arch.syscalls
    cpp = preprocessor(tree.path, tree.srctree, target_arch.triplet, target_arch.kbuild_arch,
                       abis.flags(arch, tree.enabled, tree.srctree))
    present = abis_of(tree, arch)
    word = tree.word_bits
    specs = specs if specs is not None else load_all(spec_folder())
    proto_job = cpp.start(_prototype_source(cpp, arch, tree, specs), types=True)
    abi_jobs = [(a, *extract.start(cpp, a)) for a in present]
    # the cached reduced source is read beside the headers; a missing one is made below
    reduced = source_of.cached if source_of is not None else None
    src_job = _start_source(cpp, reduced, target_arch, tree) if reduced else None

    raws = [extract.parse(cpp, a, t, n, job.result()) for a, t, n, job in abi_jobs]
    timings["tables"] = time.monotonic() - started
    text = proto_job.result()
    roots = tuple(str(t) for t in cpp.trees)
    probe_at = text.rfind("@KSPROBE@")
    header_protos = prototypes(text[:probe_at], Origins(text, roots))
    probe = set(re.findall(rf"\b\w*sys_{PROBE}\b", text[probe_at:]))
    tdefs = typedefs(text[:probe_at])
    timings["prototypes"] = time.monotonic() - started

    aliases = dict(arch.prototype_aliases)
    renames = dict(arch.symbol_renames)
    if source_of is not None and src_job is None:
        try:
            reduced = source_of.fetch()
            src_job = _start_source(cpp, reduced, target_arch, tree)
        except KscribeError as e:
            notes.append(f"linux-source not used: {e}")
    src_defs, src_protos = _source_prototypes(src_job, reduced) if src_job and reduced \
        else ({}, {})
    timings["source"] = time.monotonic() - started

    def merged(sym: str) -> Prototype | None:
        return _merge(header_protos.get(sym), src_protos.get(sym), src_defs.get(sym))

    before = target_arch.char_signed_before
    char_signed = bool(before) and Version(version) < Version(before)
    classifier = _Classifier(TypeResolver(tdefs, word, char_signed), specs, text[:probe_at],
                             word)
    # names a spec may use: syscall -> its prototypes' argument names ("?" = some unnamed),
    # the definitions' and the headers'
    known = _spec_names({*src_protos, *header_protos}, merged, header_protos)
    tables = []
    for raw in raws:
        calls = []
        for nr in sorted(set(raw.table) | set(raw.names)):
            symbol = renames.get(raw.table.get(nr, extract.NI), raw.table.get(nr, extract.NI))
            if symbol == extract.NI and not raw.names.get(nr):
                continue  # a hole in the table, not a syscall
            names = raw.names.get(nr) or [_name_of(symbol)]
            implemented = symbol != extract.NI
            look = aliases.get(symbol, symbol)
            proto = merged(look)
            reason = ""
            if not raw.names.get(nr):
                notes.append(f"{raw.abi.name}: number {nr} ({symbol}) has no __NR_ name")
            if proto is None:
                reason = f"no prototype of {look} in the headers" + (
                    ", nor a C definition in linux-source (an assembly stub?)" if src_protos
                    else "; linux-source not searched (headers only)" if not use_source
                    else "; linux-source unavailable")
                args = _generic(raw.abi)
            else:
                spec: dict[str, ArgSpec] = {}
                for n in reversed(names):
                    spec.update(specs.syscalls.get(n, {}))
                canon = merged(f"sys_{names[0]}")
                by_index = _translate(spec, canon, proto, (
                    header_protos.get(f"sys_{names[0]}"), header_protos.get(look))) \
                    if spec else {}
                args = tuple(classifier.arg(names[0], i, p, by_index.get(i))
                             for i, p in enumerate(proto.params))
            for n in names:
                known.setdefault(n, set()).update(
                    (q.name or "?" for q in proto.params) if proto is not None else ())
                if look in header_protos:
                    known[n].update(q.name for q in header_protos[look].params if q.name)
            calls.append(Syscall(nr=nr, name=names[0], entry=_entry(symbol, raw.abi, probe),
                                 symbol=symbol, args=args, typed=proto is not None,
                                 aliases=tuple(names[1:]), implemented=implemented,
                                 origin=proto.origin if proto else "", reason=reason))
        tables.append(SyscallTable(target=name, abi=raw.abi.name,
                                   native=raw.abi.native, bits=raw.abi.bits,
                                   syscalls=tuple(calls), sources=tuple(
                                       _rel(s, roots) for s in raw.sources)))
    for msg in check_against(specs, known, names=bool(src_defs)):
        notes.append(f"spec not applied (argument names of the headers only, without "
                     f"linux-source's definitions): {msg}")
    timings["total"] = time.monotonic() - started
    return Result(tables=tables, timings=timings, notes=notes)


def _rel(path: str, roots: tuple[str, ...]) -> str:
    for r in roots:
        if path.startswith(r.rstrip("/") + "/"):
            return path[len(r.rstrip("/")) + 1:]
    return path


def _spec_key(folder: Path) -> tuple:
    return tuple((p.name, p.stat().st_mtime_ns) for p in sorted(folder.glob("*.yaml")))


def result(prepared: Prepared, settings: Settings, use_source: bool = True) -> Result:
    """``build`` cached in memory per (target tree, specs' state): tests and the command
    line ask for the same tables several times in one process."""
    key = (str(prepared.provisioned.kdir), prepared.resolved.version, use_source,
           str(settings.cache_dir), _spec_key(spec_folder()))
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = build(prepared, settings, use_source)
        return _CACHE[key]


def tables(prepared: Prepared, settings: Settings, use_source: bool = True
           ) -> list[SyscallTable]:
    """Every ABI's syscall table of ``prepared``: native first, then compat ABIs.

    ``settings`` locates the cache of ``linux-source`` extracts; ``use_source=False`` keeps
    to the header packages alone.
    """
    return result(prepared, settings, use_source).tables


def clear_cache() -> None:
    """Forget the tables built so far (to measure building them again)."""
    with _LOCK:
        _CACHE.clear()

