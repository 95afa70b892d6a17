"""The upstreaming plan (``patches/plan.yaml``): loaded, checked, and typed.

Every mistake in the plan is one error naming ``plan.yaml:line`` and what to change: an
unknown facet, a facet before one it needs, a subject that checkpatch or a maintainer would
refuse (too long, not imperative-looking, repeated), a hook-up without an anchor.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import yaml

from kscribe.config import paths
from kscribe.util import yamlspec

PLAN = paths.ROOT / "patches" / "plan.yaml"
# what the renderer can put in a tree, by the name a facet's `files` gives it
KINDS = ("core", "probes", "syscalls", "docs", "selftest")
SUBJECT_MAX = 75      # submitting-patches.rst: "no more than 70-75 characters"
BODY_WIDTH = 72
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclass(frozen=True)
class Hookup:
    """One line the tracer adds to an existing file of the tree, and where."""

    file: str
    line: str
    after: str | None = None
    before: str | None = None


@dataclass(frozen=True)
class Placement:
    """Where the tracer's folder goes, and how it is hooked into the build."""

    name: str
    dir: str
    prefix: str
    hookups: tuple[Hookup, ...]
    maintainers: dict[str, str]            # overrides of the plan's MAINTAINERS fields
    ioctl_row: bool                        # ioctl-number.rst lists no staging ioctls
    files: dict[str, str]                  # {dir}/NAME -> patches/files/SOURCE


@dataclass(frozen=True)
class Facet:
    name: str
    title: str
    needs: tuple[str, ...]
    kinds: tuple[str, ...]
    summary: str


@dataclass(frozen=True)
class Commit:
    facets: tuple[str, ...]
    subject: str
    body: str


@dataclass(frozen=True)
class Mode:
    name: str
    placement: str
    commits: tuple[Commit, ...]
    cover_title: str
    cover_body: str


@dataclass(frozen=True)
class Edit:
    """A change the in-tree rendering makes to a hand-written source, and why."""

    file: str
    why: str
    since: str | None
    section: str | None = None
    replace: str | None = None
    with_: str = ""


@dataclass(frozen=True)
class Plan:
    path: Path
    name: str
    prefix: str
    kconfig: str
    placements: dict[str, Placement]
    maintainers: dict[str, str]
    facets: tuple[Facet, ...]
    probe_titles: dict[str, str]
    ioctl_row_after: str
    edits: tuple[Edit, ...]
    modes: dict[str, Mode]

    def facet(self, name: str) -> Facet:
        return next(f for f in self.facets if f.name == name)


class _Reader:
    """Typed reads of YAML nodes; each error names the plan's file and line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, node: yaml.Node | None, msg: str) -> Exception:
        return yamlspec.error(self.path, node, msg)

    def map(self, node: yaml.Node, what: str, required: set[str],
            optional: frozenset[str] = frozenset()) -> dict[str, yaml.Node]:
        got = {k.value: v for k, v in yamlspec.items(self.path, node, what)}
        for key in got:
            if key not in required | optional:
                raise self.error(node, f"{what}: unknown key {key!r} (known: "
                                       f"{', '.join(sorted(required | optional))})")
        for key in sorted(required - set(got)):
            raise self.error(node, f"{what}: {key!r} is missing")
        return got

    def string(self, node: yaml.Node, what: str) -> str:
        return yamlspec.scalar(self.path, node, what, "string")

    def text(self, node: yaml.Node, what: str) -> str:
        """A block of prose: kept as written, trailing blank lines removed."""
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, f"{what} must be text")
        return node.value.rstrip() + "\n" if node.value.strip() else ""

    def seq(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, f"{what} must be a list")
        return list(node.value)

    def names(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        out = []
        for n in self.seq(node, what):
            v = self.string(n, what)
            if not _NAME.match(v):
                raise self.error(n, f"{what}: {v!r} is not a name")
            out.append(v)
        return tuple(out)


def load(path: Path = PLAN) -> Plan:
    """The plan at ``path``, checked (see the module docstring)."""
    r = _Reader(path)
    root = yamlspec.compose(path)
    top = r.map(root, "the plan", {"name", "prefix", "kconfig", "placement", "maintainers",
                                   "facets", "probes", "ioctl", "intree", "modes"})
    prefix = r.string(top["prefix"], "prefix")
    placements = {k.value: _placement(r, k.value, v, prefix)
                  for k, v in yamlspec.items(path, top["placement"], "placement")}
    facets: list[Facet] = []
    for node in r.seq(top["facets"], "facets"):
        f = _facet(r, node, [x.name for x in facets])
        facets.append(f)
    probes = r.map(top["probes"], "probes", {"titles"})
    titles = {k.value: r.string(v, f"probes.titles.{k.value}")
              for k, v in yamlspec.items(path, probes["titles"], "probes.titles")}
    ioctl = r.map(top["ioctl"], "ioctl", {"row_after"})
    maint = r.map(top["maintainers"], "maintainers", {"title", "status", "list"})
    plan_facets = tuple(facets)
    modes = {k.value: _mode(r, k.value, v, plan_facets, placements)
             for k, v in yamlspec.items(path, top["modes"], "modes")}
    return Plan(path=path, name=r.string(top["name"], "name"), prefix=prefix,
                kconfig=r.string(top["kconfig"], "kconfig"), placements=placements,
                maintainers={k: r.string(v, f"maintainers.{k}") for k, v in maint.items()},
                facets=plan_facets, probe_titles=titles,
                ioctl_row_after=r.string(ioctl["row_after"], "ioctl.row_after"),
                edits=tuple(_edit(r, n) for n in r.seq(top["intree"], "intree")),
                modes=modes)


def _placement(r: _Reader, name: str, node: yaml.Node, prefix: str) -> Placement:
    m = r.map(node, f"placement.{name}", {"dir", "hookups"},
              frozenset({"prefix", "maintainers", "ioctl_row", "files"}))
    hookups = []
    for h in r.seq(m["hookups"], f"placement.{name}.hookups"):
        hm = r.map(h, "a hook-up", {"file", "line"}, frozenset({"after", "before", "append"}))
        where = [k for k in ("after", "before", "append") if k in hm]
        if len(where) != 1:
            raise r.error(h, "a hook-up needs exactly one of after:, before: or append:")
        hookups.append(Hookup(file=r.string(hm["file"], "file"), line=r.string(hm["line"], "line"),
                              after=r.string(hm["after"], "after") if "after" in hm else None,
                              before=r.string(hm["before"], "before") if "before" in hm else None))
    over = {k.value: r.string(v, f"maintainers.{k.value}") for k, v in
            yamlspec.items(r.path, m["maintainers"], "maintainers")} if "maintainers" in m else {}
    files = {k.value: r.string(v, f"files.{k.value}") for k, v in
             yamlspec.items(r.path, m["files"], "files")} if "files" in m else {}
    ioctl = r.string(m["ioctl_row"], "ioctl_row") if "ioctl_row" in m else "true"
    if ioctl not in ("true", "false"):
        raise r.error(m["ioctl_row"], "ioctl_row must be true or false")
    return Placement(name=name, dir=r.string(m["dir"], "dir"),
                     prefix=r.string(m["prefix"], "prefix") if "prefix" in m else prefix,
                     hookups=tuple(hookups), maintainers=over, ioctl_row=ioctl == "true",
                     files=files)


def _facet(r: _Reader, node: yaml.Node, before: list[str]) -> Facet:
    m = r.map(node, "a facet", {"name", "title", "needs", "files", "summary"})
    name = r.string(m["name"], "name")
    if name in before:
        raise r.error(node, f"facet {name!r} given twice")
    needs = r.names(m["needs"], f"{name}.needs")
    for n in needs:
        if n not in before:
            raise r.error(m["needs"], f"facet {name!r} needs {n!r}, which is not a facet "
                                      f"listed before it")
    kinds = r.names(m["files"], f"{name}.files")
    for k in kinds:
        if k not in KINDS:
            raise r.error(m["files"], f"facet {name!r}: {k!r} is not one of {', '.join(KINDS)}")
    return Facet(name=name, title=r.string(m["title"], "title"), needs=needs, kinds=kinds,
                 summary=" ".join(r.text(m["summary"], "summary").split()))


def _mode(r: _Reader, name: str, node: yaml.Node, facets: tuple[Facet, ...],
          placements: dict[str, Placement]) -> Mode:
    m = r.map(node, f"modes.{name}", {"placement", "commits", "cover"})
    placement = r.string(m["placement"], "placement")
    if placement not in placements:
        raise r.error(m["placement"], f"mode {name}: no placement {placement!r} (known: "
                                      f"{', '.join(placements)})")
    known = {f.name: f for f in facets}
    done: list[str] = []
    subjects: set[str] = set()
    commits = []
    for c in r.seq(m["commits"], f"modes.{name}.commits"):
        cm = r.map(c, "a commit", {"facets", "subject", "body"})
        these = r.names(cm["facets"], "facets")
        for f in these:
            if f not in known:
                raise r.error(cm["facets"], f"mode {name}: no facet {f!r}")
            if f in done:
                raise r.error(cm["facets"], f"mode {name}: facet {f!r} is in two commits")
            missing = [n for n in known[f].needs if n not in done and n not in these]
            if missing:
                raise r.error(cm["facets"], f"mode {name}: facet {f!r} comes before "
                                            f"{', '.join(missing)}, which it needs")
        done.extend(these)
        subject = r.string(cm["subject"], "subject")
        full = f"{placements[placement].prefix}: {subject}"
        if len(full) > SUBJECT_MAX:
            raise r.error(cm["subject"], f"subject {full!r} is {len(full)} characters; "
                                         f"at most {SUBJECT_MAX}")
        if subject in subjects:
            raise r.error(cm["subject"], f"mode {name}: subject {subject!r} given twice")
        subjects.add(subject)
        commits.append(Commit(facets=these, subject=subject, body=r.text(cm["body"], "body")))
    left = [f.name for f in facets if f.name not in done]
    if left:
        raise r.error(m["commits"], f"mode {name}: facets {', '.join(left)} are in no commit")
    cover = r.map(m["cover"], "cover", {"title", "body"})
    return Mode(name=name, placement=placement, commits=tuple(commits),
                cover_title=r.string(cover["title"], "cover.title"),
                cover_body=r.text(cover["body"], "cover.body"))


def _edit(r: _Reader, node: yaml.Node) -> Edit:
    m = r.map(node, "an in-tree edit", {"file", "why"},
              frozenset({"since", "section", "replace", "with"}))
    if ("section" in m) == ("replace" in m):
        raise r.error(node, "an in-tree edit needs exactly one of section: or replace:")
    return Edit(file=r.string(m["file"], "file"), why=r.string(m["why"], "why"),
                since=r.string(m["since"], "since") if "since" in m else None,
                section=r.string(m["section"], "section") if "section" in m else None,
                replace=m["replace"].value if "replace" in m else None,
                with_=m["with"].value if "with" in m else "")


def wrap(body: str, width: int = BODY_WIDTH) -> str:
    """A commit body's paragraphs refilled to ``width`` columns (lists kept as written)."""
    out = []
    for para in body.strip().split("\n\n"):
        lines = para.splitlines()
        if any(ln.lstrip().startswith(("-", "*", "|")) or ln.startswith(" ") for ln in lines):
            out.append(para)
        else:
            out.append(textwrap.fill(" ".join(lines), width))
    return "\n\n".join(out) + "\n"
