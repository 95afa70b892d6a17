"""The tracer as files of a kernel tree: what a set of facets adds and changes.

The out-of-tree build folder of the base kernel's target (:func:`kscribe.codegen.module.
render_sources`, so the instrumentation is generated for exactly that kernel) is mapped into
the tree: the hand-written sources with the plan's in-tree edits, the generated probes,
and what only a tree has: the tracer's Kconfig and Makefile, its hook-ups into the tree's
own Kconfig and Makefiles, a MAINTAINERS section, the documentation in the trace toctree,
the ioctl-number row and the selftest. :func:`state` gives the files for any subset of the
facets, so that each commit of a series is the difference between two states.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kscribe.codegen import kconfig as kconfigs
from kscribe.codegen.env import environment
from kscribe.codegen.kconfig import CORE_MODULE, SYSCALL_MODULE, symbol
from kscribe.codegen.module import CORE_FILES, SYSCALL_FILES, SYSCALL_TABLES
from kscribe.config import paths
from kscribe.errors import KscribeError
from kscribe.instrument.events.spec import project_specs
from kscribe.upstream.ioctls import TABLE, Block, register
from kscribe.upstream.plan import Edit, Hookup, Placement, Plan

FILES = paths.ROOT / "patches" / "files"
UAPI = "include/uapi/linux/kscribe.h"
DOC = "Documentation/trace/kscribe.rst"
SELFTEST = "tools/testing/selftests/kscribe"
# lines the docs and the selftest add to the tree's indexes, wherever the tracer is placed
KIND_HOOKUPS = {
    "docs": (Hookup(file="Documentation/trace/index.rst", after="   ring-buffer-design",
                    line="   kscribe"),),
    "selftest": (Hookup(file="tools/testing/selftests/Makefile", after="TARGETS += kexec",
                        line="TARGETS += kscribe"),),
}


@dataclass(frozen=True)
class Sources:
    """The tracer's files of one base kernel, before they are placed in a tree."""

    build: Path                        # the rendered out-of-tree build folder
    probes: tuple[str, ...]            # subsystems with a probe module, in spec order
    syscalls: bool                     # the syscall probe is there
    uapi: str                          # the uapi header, with the ioctl numbers of the tree
    maintainer: str                    # "Name <email>", from the user's git identity
    release: str                       # the base kernel's version, e.g. 7.2.13


@dataclass
class State:
    """The files of a tree with some facets: new or changed path -> content."""

    files: dict[str, str] = field(default_factory=dict)
    facet_of: dict[str, str] = field(default_factory=dict)   # new files only


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def apply_edits(plan: Plan, rel: str, text: str, release: str) -> str:
    """``text`` of ``kernel_module/<rel>`` with the plan's in-tree edits for it."""
    for e in plan.edits:
        if e.file != rel:
            continue
        if e.since and _version(release) < _version(e.since):
            raise KscribeError(f"{plan.path}: the in-tree edit of {rel} ({e.why}) needs a base "
                               f"kernel of {e.since} or later, not {release}")
        text = _edit(plan, e, text)
    return text


def _edit(plan: Plan, e: Edit, text: str) -> str:
    if e.section is not None:
        head = f"/* ---- {e.section} ---- */\n"
        if text.count(head) != 1:
            raise KscribeError(f"{plan.path}: kernel_module/{e.file} has {text.count(head)} "
                               f"sections titled {e.section!r}; the in-tree edit needs one")
        start = text.index(head)
        end = text.find("/* ---- ", start + len(head))
        return text[:start] + (text[end:] if end >= 0 else "")
    assert e.replace is not None
    if text.count(e.replace) != 1:
        raise KscribeError(f"{plan.path}: {e.replace.strip()!r} occurs {text.count(e.replace)} "
                           f"times in kernel_module/{e.file}; the in-tree edit needs it once")
    return text.replace(e.replace, e.with_)



def kconfig(src: Sources, kinds: set[str], subsystems: tuple[str, ...]) -> str:
    """The tracer's Kconfig with the entries of ``kinds`` (of probes, ``subsystems``): the
    same text that chooses the probe modules of an out-of-tree build."""
    specs = [s for s in project_specs() if "probes" in kinds and s.subsystem in subsystems]
    return kconfigs.render(kconfigs.options(specs, "syscalls" in kinds and src.syscalls))


def makefile(plan: Plan, src: Sources, kinds: set[str], subsystems: tuple[str, ...]) -> str:
    """The tracer's Makefile with the modules of ``kinds`` (of probes, ``subsystems``)."""
    modules = [{"name": CORE_MODULE, "symbol": kconfigs.SYMBOL, "objects": []}]
    if "probes" in kinds:
        modules += [{"name": f"kscribe_probe_{s}", "symbol": symbol(f"kscribe_probe_{s}"),
                     "objects": []} for s in subsystems]
    if "syscalls" in kinds and src.syscalls:
        objects = [f"{Path(f).stem}.o" for f in (*SYSCALL_FILES.values(), SYSCALL_TABLES)
                   if f.endswith(".c")]
        modules.append({"name": SYSCALL_MODULE, "symbol": symbol(SYSCALL_MODULE),
                        "objects": objects})
    return environment().get_template("upstream/Makefile.j2").render(modules=modules)


def _new_files(plan: Plan, src: Sources, placement: Placement, kind: str,
               subsystems: tuple[str, ...]) -> dict[str, str]:
    d = placement.dir
    if kind == "core":
        out = {f"{d}/{name}": apply_edits(plan, rel, (src.build / name).read_text(), src.release)
               for rel, name in CORE_FILES.items() if not name.startswith("include/")}
        out[UAPI] = src.uapi
        out.update({f"{d}/{name}": (FILES / source).read_text()
                    for name, source in placement.files.items()})
        return out
    if kind == "probes":
        return {f"{d}/kscribe_probe_{s}.c": (src.build / f"kscribe_probe_{s}.c").read_text()
                for s in subsystems}
    if kind == "syscalls":
        names = [*SYSCALL_FILES.values(), SYSCALL_TABLES] if src.syscalls else []
        return {f"{d}/{n}": (src.build / n).read_text() for n in names}
    if kind == "docs":
        return {DOC: (FILES / "kscribe.rst").read_text()}
    if kind == "selftest":
        return {f"{SELFTEST}/{p.name}": p.read_text()
                for p in sorted((FILES / "selftest").iterdir()) if p.is_file()}
    raise KscribeError(f"no files for facet kind {kind!r}")


def insert(text: str, hookup: Hookup, where: str) -> str:
    """``text`` with ``hookup.line`` after (or before) its anchor line, which must be once."""
    lines = text.split("\n")
    if hookup.after is None and hookup.before is None:
        body = text.rstrip("\n")
        return f"{body}\n{hookup.line}\n"
    anchor = hookup.after if hookup.after is not None else hookup.before
    at = [i for i, ln in enumerate(lines) if ln == anchor]
    if len(at) != 1:
        raise KscribeError(f"{where}: the hook-up anchor {anchor!r} occurs {len(at)} times in "
                           f"{hookup.file} of the base tree; the plan needs it once")
    i = at[0] + (1 if hookup.after is not None else 0)
    return "\n".join([*lines[:i], hookup.line, *lines[i:]])


def _hook(hookup: Hookup, where: str, text: str) -> str:
    return insert(text, hookup, where)


def maintainers(text: str, plan: Plan, src: Sources, entries: list[str],
                placement: Placement) -> str:
    """MAINTAINERS with the tracer's section, in its alphabetical place."""
    m = {**plan.maintainers, **placement.maintainers}
    section = "\n".join([m["title"], f"M:\t{src.maintainer}", f"L:\t{m['list']}",
                         f"S:\t{m['status']}", *(f"F:\t{e}" for e in sorted(entries))]) + "\n"
    lines = text.split("\n")
    start = lines.index("Maintainers List") if "Maintainers List" in lines else 0
    for i in range(start, len(lines) - 1):
        head = lines[i]
        if (head and not head[0].isspace() and re.match(r"^[A-Z]:\t", lines[i + 1])
                and (i == 0 or lines[i - 1] == "") and head.upper() > m["title"].upper()):
            return "\n".join([*lines[:i], section.rstrip("\n"), "", *lines[i:]])
    raise KscribeError("MAINTAINERS of the base tree: no section sorts after "
                       f"{m['title']!r}; cannot place the new one")


def state(plan: Plan, src: Sources, placement: Placement, facets: list[str],
          base_file: Callable[[str], str], abi: Block,
          subsystems: tuple[str, ...] | None = None) -> State:
    """The new and changed files of a tree holding ``facets`` (names, in plan order).

    ``base_file(path)`` reads a file of the base tree; ``abi`` is the ioctl block the tree
    registers; ``subsystems`` are the probe modules present (all of them by default).
    """
    st = State()
    kinds = {k for f in facets for k in plan.facet(f).kinds}
    subs = src.probes if subsystems is None else \
        tuple(s for s in src.probes if s in subsystems)
    for f in facets:
        for kind in plan.facet(f).kinds:
            for path, text in _new_files(plan, src, placement, kind, subs).items():
                st.files[path] = text
                st.facet_of[path] = f
    if "core" not in kinds:
        return st
    d = placement.dir
    st.files[f"{d}/Kconfig"] = kconfig(src, kinds, subs)
    st.files[f"{d}/Makefile"] = makefile(plan, src, kinds, subs)
    core = next(f for f in facets if "core" in plan.facet(f).kinds)
    st.facet_of[f"{d}/Kconfig"] = st.facet_of[f"{d}/Makefile"] = core
    changed: dict[str, str] = {}

    def edit(path: str, change: Callable[[str], str]) -> None:
        changed[path] = change(changed[path] if path in changed else base_file(path))

    hookups = [*placement.hookups, *(h for k in sorted(kinds) for h in KIND_HOOKUPS.get(k, ()))]
    for h in hookups:
        edit(h.file, functools.partial(_hook, h, str(plan.path)))
    entries = [f"{d}/", UAPI] + ([DOC] if "docs" in kinds else []) + \
        ([f"{SELFTEST}/"] if "selftest" in kinds else [])
    edit("MAINTAINERS", lambda t: maintainers(t, plan, src, entries, placement))
    if placement.ioctl_row:
        edit(TABLE, lambda t: register(t, abi, UAPI.removeprefix("include/"),
                                       f"{plan.name} tracer"))
    st.files.update(changed)
    return st


def outside(src: Sources, placement: Placement, rest: list[str]) -> dict[str, str]:
    """The folder of the modules ``rest`` that stay out of tree: their sources and a Kbuild
    that builds them with ``make M=`` against the tree holding the core."""
    files: dict[str, str] = {}
    modules = []
    for name in rest:
        if name == SYSCALL_MODULE:
            parts = [*SYSCALL_FILES.values(), SYSCALL_TABLES]
            files.update({n: (src.build / n).read_text() for n in parts})
            modules.append({"name": name, "objects": [f"{Path(f).stem}.o" for f in parts
                                                      if f.endswith(".c")]})
        else:
            files[f"{name}.c"] = (src.build / f"{name}.c").read_text()
            modules.append({"name": name, "objects": []})
    files["Kbuild"] = environment().get_template("upstream/Kbuild-outside.j2").render(
        dir=placement.dir, modules=modules)
    return files
