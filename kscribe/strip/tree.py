"""``kscribe strip``: a module tree rewritten for one target kernel, and what it changed.

Every C file (``.c``, ``.h``) and Makefile of the tree is read and checked first; only then
is the output written, whole, into a temporary folder renamed into place, so an error
leaves no half-written tree. Other files are copied as they are.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from kscribe.errors import KscribeError
from kscribe.strip import forwarders, makefiles
from kscribe.strip.expr import UNDEFINED, Macro
from kscribe.strip.forwarders import Forwarder
from kscribe.strip.groups import StructureError, guard, parse
from kscribe.strip.macros import CFile, FileError, Kernel, Tree
from kscribe.strip.rewrite import ConditionError, Counts, Site, rewrite
from kscribe.strip.rules import Rules
from kscribe.strip.target import Target
from kscribe.util import atomic

C_SUFFIXES = (".c", ".h")
SKIP_DIRS = {".git", ".svn", ".hg", ".tmp_versions"}
# what a build leaves in a tree: not sources
BUILT = (".o", ".ko", ".mod", ".mod.c", ".cmd", ".order", ".symvers", ".a")


@dataclass
class FileReport:
    rel: str
    lines_before: int
    lines_after: int
    counts: Counts
    probes: list[Site] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.lines_before != self.lines_after or bool(self.counts.removed or
                                                              self.counts.rewritten)


@dataclass
class Report:
    """What a strip did, per file and in total, and the stripped texts."""

    tree: Path
    target: Target
    files: list[FileReport]
    forwarders: list[Forwarder]
    decided: dict[str, str]           # tree macro -> what the target made of it
    undecided_macros: dict[str, str]  # tree macro -> why it stayed undecided
    rounds: int
    seconds: float
    outputs: dict[str, str] = field(default_factory=dict, repr=False)
    paths: list[Path] = field(default_factory=list, repr=False)

    def total(self) -> Counts:
        t = Counts()
        for f in self.files:
            t.add(f.counts)
        return t

    @property
    def lines_removed(self) -> int:
        return sum(f.lines_before - f.lines_after for f in self.files)


def _sources(tree: Path) -> list[Path]:
    out = []
    for p in sorted(tree.rglob("*")):
        rel = p.relative_to(tree)
        if any(part in SKIP_DIRS for part in rel.parts) or p.is_dir():
            continue
        if p.name.endswith(BUILT) or p.name.startswith("."):
            continue
        out.append(p)
    return out


def _flags(mks: list[makefiles.Makefile]) -> dict[str, Macro | None]:
    """The ``-D`` flags of the Makefiles: a macro, or None when the target does not decide
    it (computed, or under an undecided condition)."""
    sites: dict[str, list[makefiles.Flag]] = {}
    for mk in mks:
        for f in mk.flags:
            sites.setdefault(f.name, []).append(f)
    out: dict[str, Macro | None] = {}
    for name, flags in sites.items():
        live = [f for f in flags if f.state is not False]
        if not live:
            continue
        values = {f.value for f in live}
        if any(f.state is None for f in live) or None in values or len(values) != 1:
            out[name] = None
            continue
        value = values.pop()
        assert value is not None
        out[name] = Macro(name, None, value if value else "1", f"{live[0].file}:{live[0].line}")
    return out


def strip(tree: Path, target: Target, rules: Rules) -> Report:
    """``tree`` rewritten for ``target``, in memory (:func:`write` puts it in a folder)."""
    started = time.monotonic()
    tree = tree.resolve()
    if not tree.is_dir():
        raise KscribeError(f"{tree}: no such folder (give the module tree to strip)")
    paths = _sources(tree)
    facts = makefiles.Facts(target.kernel, target.headers)
    mks = []
    for p in paths:
        if makefiles.is_makefile(p):
            rel = str(p.relative_to(tree))
            try:
                mks.append(makefiles.read(p, rel, facts))
            except makefiles.MakeError as e:
                raise KscribeError(f"{p}:{e.line}: {e} (fix the Makefile's conditionals)"
                                   ) from None
    files: dict[str, CFile] = {}
    for p in paths:
        if p.suffix in C_SUFFIXES:
            rel = str(p.relative_to(tree))
            text = p.read_text(errors="surrogateescape")
            try:
                items = parse(text)
            except StructureError as e:
                raise KscribeError(f"{p}:{e.line}: {e} (the conditionals do not balance; "
                                   f"fix the file before stripping)") from None
            files[rel] = CFile(rel, text, items, guard(items))
    forced = [_forced(f, tree, files) for mk in mks for f in mk.forced]
    ruled = rules.for_target(target)
    base = {**target.macros, **ruled}
    for name in rules.keep:
        base.pop(name, None)
    # what the rules say of a flag the Makefiles compute is what the build would compute
    flags = {k: v for k, v in _flags(mks).items() if k not in ruled}
    t = Tree(files, base, flags, [f for f in forced if f], Kernel(target.headers),
             frozenset(rules.evaluate))
    t.undecided_flags |= set(rules.keep)
    try:
        t.settle()
        outputs, reports = _rewrite_all(t, files)
    except FileError as e:
        raise KscribeError(f"{tree / e.rel}:{e.error.line}: {e.error} (an #if the "
                           "preprocessor would refuse: fix it, or name its macros in a "
                           "rules file)") from None
    for mk in mks:
        outputs[mk.rel] = mk.output
        reports.append(FileReport(mk.rel, mk.text.count("\n"), mk.output.count("\n"),
                                  mk.counts, mk.probes))
    found = [f for rel, cf in files.items() for f in forwarders.became(rel, cf.text,
                                                                         outputs[rel])]
    decided = {n: ("undefined" if d is UNDEFINED else
                   f"defined at {d[-1].file}:{d[-1].line}" if isinstance(d, list) else d.where)
               for n, d in sorted(t.decided.items())}
    why = {**t.why, **{n: "set by a Makefile from what the build machine or its .config "
                          "says" for n in t.undecided_flags - set(rules.keep)},
           **{n: "kept by the rules file" for n in rules.keep}}
    return Report(tree, target, sorted(reports, key=lambda r: r.rel), found, decided,
                  dict(sorted(why.items())), t.rounds, time.monotonic() - started,
                  outputs, paths)


def write(report: Report, output: Path) -> None:
    """The stripped tree into ``output``, replaced whole (or left as it was on an error)."""
    out = output.resolve()
    if out == report.tree or report.tree in out.parents:
        raise KscribeError(f"-o {output}: the output must be outside the tree {report.tree}")
    with atomic.atomic_path(output, directory=True) as tmp:
        for p in report.paths:
            rel = str(p.relative_to(report.tree))
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if rel in report.outputs:
                dest.write_bytes(report.outputs[rel].encode(errors="surrogateescape"))
                shutil.copymode(p, dest)
            else:
                shutil.copy2(p, dest)


def _forced(arg: str, tree: Path, files: dict[str, CFile]) -> str | None:
    """The tree's file an ``-include`` argument names (``$(PWD)/compat.h``)."""
    tail = arg.rsplit(")", 1)[-1].lstrip("/") if ")" in arg else arg
    hits = [r for r in files if r == tail or r.endswith("/" + tail) or
            tail.endswith("/" + r) or Path(tail).name == r]
    return hits[0] if len(hits) == 1 else None


def _rewrite_all(t: Tree, files: dict[str, CFile]) -> tuple[dict[str, str], list[FileReport]]:
    outputs: dict[str, str] = {}
    reports: list[FileReport] = []
    for rel, f in files.items():
        counts = Counts()
        try:
            text = "".join(rewrite(f.items, t.scope(rel), counts))
        except ConditionError as e:
            raise FileError(rel, e) from None
        outputs[rel] = text
        reports.append(FileReport(rel, f.text.count("\n"), text.count("\n"), counts))
    return outputs, reports
