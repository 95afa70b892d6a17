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
from kscribe.instrument.events.spec import project_specs
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
    """A commit of a mode as the plan gives it. ``probes`` limits the probe modules it adds
    to these subsystems; ``each`` (``probe``) makes it one commit per probe module left, its
    subject and body formatted with ``{probe}`` and ``{title}``."""

    facets: tuple[str, ...]
    subject: str
    body: str
    probes: tuple[str, ...] | None = None
    each: str | None = None


@dataclass(frozen=True)
class Mode:
    name: str
    placement: str
    commits: tuple[Commit, ...]
    cover_title: str
    cover_body: str
    out_of_tree: bool = False       # what no commit adds is built with make M= instead


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
class History:
    """History mode: this repository's paths that become in-tree code, where each prefix
    lands, and the texts of the merge and of the hook-up commit."""

    mode: str                              # the series whose final tree the tip is
    renames: tuple[tuple[str, str], ...]   # (this repository's prefix, the tree's)
    merge_subject: str
    merge_body: str
    hookup_subject: str
    hookup_body: str


@dataclass(frozen=True)
class Plan:
    path: Path
    name: str
    prefix: str
    placements: dict[str, Placement]
    maintainers: dict[str, str]
    facets: tuple[Facet, ...]
    probe_titles: dict[str, str]           # subsystem -> what its probe records (spec)
    ioctl_new_size: int             # --abi new: the size of the block to move to
    ioctl_new_magics: str           # and the codes to look for a free one in, in order
    edits: tuple[Edit, ...]
    modes: dict[str, Mode]
    history: History

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
    top = r.map(root, "the plan", {"name", "prefix", "placement", "maintainers", "facets",
                                   "ioctl", "intree", "modes", "history"})
    prefix = r.string(top["prefix"], "prefix")
    placements = {k.value: _placement(r, k.value, v, prefix)
                  for k, v in yamlspec.items(path, top["placement"], "placement")}
    facets: list[Facet] = []
    for node in r.seq(top["facets"], "facets"):
        f = _facet(r, node, [x.name for x in facets])
        facets.append(f)
    # what each probe records, as its spec (instrumentation/events/) says
    titles = {s.subsystem: s.title for s in project_specs()}
    ioctl = r.map(r.map(top["ioctl"], "ioctl", {"new"})["new"], "ioctl.new",
                  {"size", "magics"})
    maint = r.map(top["maintainers"], "maintainers", {"title", "status", "list"})
    plan_facets = tuple(facets)
    modes = {k.value: _mode(r, k.value, v, plan_facets, placements, titles)
             for k, v in yamlspec.items(path, top["modes"], "modes")}
    return Plan(path=path, name=r.string(top["name"], "name"), prefix=prefix,
                placements=placements,
                maintainers={k: r.string(v, f"maintainers.{k}") for k, v in maint.items()},
                facets=plan_facets, probe_titles=titles,
                ioctl_new_size=_block_size(r, ioctl["size"]),
                ioctl_new_magics=r.string(ioctl["magics"], "ioctl.new.magics"),
                edits=tuple(_edit(r, n) for n in r.seq(top["intree"], "intree")),
                modes=modes, history=_history(r, top["history"], modes, placements))


def _history(r: _Reader, node: yaml.Node, modes: dict[str, Mode],
             placements: dict[str, Placement]) -> History:
    h = r.map(node, "history", {"mode", "paths", "merge", "hookup"})
    mode = r.string(h["mode"], "history.mode")
    if mode not in modes:
        raise r.error(h["mode"], f"history.mode: no mode {mode!r} (modes: {', '.join(modes)})")
    folder = placements[modes[mode].placement].dir
    renames = []
    for n in r.seq(h["paths"], "history.paths"):
        m = r.map(n, "a path of history.paths", {"from", "to"})
        old, new = (r.string(m[k], f"history.paths {k}") for k in ("from", "to"))
        new = new.replace("{dir}", folder)
        if not old.endswith("/") or not new.endswith("/"):
            raise r.error(n, "history.paths: from and to are folders, ending in /")
        renames.append((old, new))
    texts = {k: r.map(h[k], f"history.{k}", {"subject", "body"}) for k in ("merge", "hookup")}
    return History(mode=mode, renames=tuple(renames),
                   merge_subject=r.string(texts["merge"]["subject"], "history.merge.subject"),
                   merge_body=r.text(texts["merge"]["body"], "history.merge.body"),
                   hookup_subject=r.string(texts["hookup"]["subject"],
                                           "history.hookup.subject"),
                   hookup_body=r.text(texts["hookup"]["body"], "history.hookup.body"))


def _block_size(r: _Reader, node: yaml.Node) -> int:
    text = yamlspec.scalar(r.path, node, "ioctl.new.size", "number")
    try:
        size = int(text, 0)
    except ValueError:
        size = 0
    if size < 1 or size > 0x100 or 0x100 % size:
        raise r.error(node, f"ioctl.new.size {text!r} must be a number dividing 256 "
                            "(16, 0x20, 64...)")
    return size


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
    ioctl = _flag(r, m["ioctl_row"], "ioctl_row") if "ioctl_row" in m else True
    return Placement(name=name, dir=r.string(m["dir"], "dir"),
                     prefix=r.string(m["prefix"], "prefix") if "prefix" in m else prefix,
                     hookups=tuple(hookups), maintainers=over, ioctl_row=ioctl,
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
          placements: dict[str, Placement], titles: dict[str, str]) -> Mode:
    m = r.map(node, f"modes.{name}", {"placement", "commits", "cover"},
              frozenset({"out_of_tree"}))
    placement = r.string(m["placement"], "placement")
    if placement not in placements:
        raise r.error(m["placement"], f"mode {name}: no placement {placement!r} (known: "
                                      f"{', '.join(placements)})")
    out_of_tree = _flag(r, m.get("out_of_tree"), "out_of_tree")
    known = {f.name: f for f in facets}
    done: list[str] = []          # facets complete
    started: set[str] = set()     # facets of probes with some of their modules added
    subjects: set[str] = set()
    commits = []
    for c in r.seq(m["commits"], f"modes.{name}.commits"):
        commit = _commit(r, name, c, known, done, started, titles,
                         placements[placement].prefix)
        if commit.subject in subjects:
            raise r.error(c, f"mode {name}: subject {commit.subject!r} given twice")
        subjects.add(commit.subject)
        commits.append(commit)
    left = [f.name for f in facets if f.name not in done and f.name not in started]
    if left and not out_of_tree:
        raise r.error(m["commits"], f"mode {name}: facets {', '.join(left)} are in no commit "
                                    "(or say out_of_tree: true)")
    some = sorted(started - set(done))
    if some and not out_of_tree:
        raise r.error(m["commits"], f"mode {name}: facets {', '.join(some)} add only the "
                                    "probes: named (or say out_of_tree: true)")
    cover = r.map(m["cover"], "cover", {"title", "body"})
    return Mode(name=name, placement=placement, commits=tuple(commits),
                cover_title=r.string(cover["title"], "cover.title"),
                cover_body=r.text(cover["body"], "cover.body"), out_of_tree=out_of_tree)


def _commit(r: _Reader, mode: str, c: yaml.Node, known: dict[str, Facet], done: list[str],
            started: set[str], titles: dict[str, str], prefix: str) -> Commit:
    """One commit of a mode; ``done`` and ``started`` (facets complete, facets of probes
    begun) are updated with it."""
    cm = r.map(c, "a commit", {"facets", "subject", "body"}, frozenset({"probes", "each"}))
    these = r.names(cm["facets"], "facets")
    for f in these:
        if f not in known:
            raise r.error(cm["facets"], f"mode {mode}: no facet {f!r}")
        if f in done:
            raise r.error(cm["facets"], f"mode {mode}: facet {f!r} is in two commits")
        missing = [n for n in known[f].needs
                   if n not in done and n not in these and n not in started]
        if missing:
            raise r.error(cm["facets"], f"mode {mode}: facet {f!r} comes before "
                                        f"{', '.join(missing)}, which it needs")
    if ("probes" in cm or "each" in cm) and (len(these) != 1
                                             or known[these[0]].kinds != ("probes",)):
        raise r.error(c, f"mode {mode}: probes: and each: need one facet of probes alone")
    if "probes" in cm and "each" in cm:
        raise r.error(c, f"mode {mode}: a commit takes probes: or each:, not both")
    each = r.string(cm["each"], "each") if "each" in cm else None
    if each not in (None, "probe"):
        raise r.error(cm["each"], f"each: {each!r}: the one known value is probe")
    probes = r.names(cm["probes"], "probes") if "probes" in cm else None
    for sub in probes or ():
        if sub not in titles:
            raise r.error(cm["probes"], f"no probe {sub!r} in instrumentation/events/")
    if probes is not None:
        started.update(these)
    else:
        done.extend(these)
    subject = r.string(cm["subject"], "subject")
    body = r.text(cm["body"], "body")
    longest = max(titles, key=lambda k: len(titles[k])) if titles else ""
    try:
        sample = subject.format(probe=longest, title=titles.get(longest, ""))
        body.format(probe=longest, title=titles.get(longest, ""))
    except (KeyError, IndexError, ValueError) as e:
        raise r.error(cm["subject"], f"subject or body: {{{e}}} is not a placeholder "
                                     "(known: {probe}, {title})") from None
    if each and sample == subject:
        raise r.error(cm["subject"], "a commit made for each probe needs {probe} or {title} "
                                     "in its subject")
    full = f"{prefix}: {sample}"
    if len(full) > SUBJECT_MAX:
        raise r.error(cm["subject"], f"subject {full!r} is {len(full)} characters; "
                                     f"at most {SUBJECT_MAX}")
    return Commit(facets=these, subject=subject, body=body, probes=probes, each=each)


def _flag(r: _Reader, node: yaml.Node | None, what: str) -> bool:
    if node is None:
        return False
    v = r.string(node, what)
    if v not in ("true", "false"):
        raise r.error(node, f"{what} must be true or false")
    return v == "true"


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
