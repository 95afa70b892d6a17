"""A posting mode of the plan made into a git series on the base tree, and its patch files.

Each commit of the mode is the difference between two states of the tree
(:func:`kscribe.upstream.render.state`): the facets of the commits so far. The commits are
the user's (author and Signed-off-by from git's configuration), dated from the base commit so
that the same inputs make the same series. ``git format-patch`` writes the patches and a
cover letter in the form b4 reads (``change-id:`` and ``base-commit:`` below the ``---``),
with the series' size by facet and what it was generated from.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from kscribe.codegen.module import SYSCALL_MODULE
from kscribe.errors import KscribeError
from kscribe.upstream import render
from kscribe.upstream.base import Base
from kscribe.upstream.git import Identity, dated, git
from kscribe.upstream.ioctls import Block
from kscribe.upstream.plan import Mode, Plan, wrap
from kscribe.util import atomic, log


@dataclass
class Patch:
    """One patch of a series, as ``series.json`` describes it."""

    number: int
    subject: str
    commit: str
    file: str
    files: list[str]
    added: int
    removed: int
    bytes: int
    gates: dict[str, object] = field(default_factory=dict)


@dataclass
class Series:
    mode: str
    placement: str
    base: str
    base_commit: str
    change_id: str
    tip: str
    tip_tree: str          # the tree object of the tip: what git am must arrive at
    patches: list[Patch]
    sloc: dict[str, int]
    inputs: list[str]
    abi: dict[str, object]         # the ioctl block and ABI version of the tree
    out_of_tree: list[str]         # the modules no commit adds: built with make M=
    gates: dict[str, object] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One commit of a series: the facets it adds, the probe modules among them, its text."""

    facets: tuple[str, ...]
    probes: tuple[str, ...]
    subject: str
    body: str


def steps(plan: Plan, mode: Mode, available: tuple[str, ...]) -> list[Step]:
    """The mode's commits for a base kernel with the probe modules ``available``: a commit
    made ``each: probe`` becomes one per module not added before it."""
    added: list[str] = []
    out = []
    for c in mode.commits:
        probes = any("probes" in plan.facet(f).kinds for f in c.facets)
        if c.each:
            for sub in [s for s in available if s not in added]:
                title = plan.probe_titles[sub]
                out.append(Step(c.facets, (sub,), c.subject.format(probe=sub, title=title),
                                c.body.format(probe=sub, title=title)))
                added.append(sub)
            continue
        if c.probes is not None:
            lacking = [s for s in c.probes if s not in available]
            if lacking:
                raise KscribeError(f"{plan.path}: mode {mode.name}: the base kernel has no "
                                   f"probe module {', '.join(lacking)} to add in tree")
            subs = [s for s in c.probes if s not in added]
        else:
            subs = [s for s in available if s not in added] if probes else []
        added.extend(subs)
        out.append(Step(c.facets, tuple(subs), c.subject, c.body))
    return out


def _message(plan: Plan, mode: Mode, step: Step, who: Identity) -> str:
    prefix = plan.placements[mode.placement].prefix
    return f"{prefix}: {step.subject}\n\n{wrap(step.body)}\nSigned-off-by: {who.line}\n"


def sloc(path: str, text: str) -> int:
    """Source lines of a file: not blank and not only a comment (C, Kconfig, make, rst)."""
    n = 0
    in_comment = False
    for raw in text.splitlines():
        ln = raw.strip()
        if in_comment:
            in_comment = "*/" not in ln
            continue
        if not ln or ln.startswith(("//", "#", "..")) and not ln.startswith("#include") \
                and not ln.startswith(("#define", "#if", "#endif", "#else", "#elif")):
            continue
        if ln.startswith("/*"):
            in_comment = "*/" not in ln
            continue
        n += 1
    return n


def change_id(plan: Plan, mode: str, base: Base, epoch: int, abi: Block) -> str:
    """b4's change-id (``YYYYMMDD-<slug>-<12 hex>``), the same for every version of a series
    (a series of another ioctl block is another series)."""
    import time

    day = time.strftime("%Y%m%d", time.gmtime(epoch))
    digest = hashlib.sha256(f"{plan.name}/{mode}/{base.release}/{abi.magic}{abi.first:02x}"
                            .encode()).hexdigest()[:12]
    return f"{day}-{plan.name}-{mode}-{digest}"


def make(plan: Plan, mode_name: str, base: Base, tree: Path, src: render.Sources,
         who: Identity, abi: Block, abi_version: int, inputs: list[str],
         out: Path, moved_from: Block | None = None) -> Series:
    """Commit the mode's series in the worktree ``tree`` (at the base), write its patches.

    ``abi`` is the ioctl block the tree registers, ``moved_from`` the out-of-tree tracer's
    when the series moves the ABI to a new block."""
    mode = plan.modes[mode_name]
    placement = plan.placements[mode.placement]
    epoch = int(git(tree, "log", "-1", "--format=%ct", base.commit))

    def base_file(path: str) -> str:
        return git(base.repo, "show", f"{base.commit}:{path}") + "\n"

    facets: list[str] = []
    probes: list[str] = []
    facet_of: dict[str, str] = {}
    todo = steps(plan, mode, src.probes)
    for i, step in enumerate(todo):
        log.progress(f"commit {i + 1}/{len(todo)}: {step.subject}")
        facets.extend(f for f in step.facets if f not in facets)
        probes.extend(step.probes)
        st = render.state(plan, src, placement, facets, base_file, abi, tuple(probes))
        facet_of.update(st.facet_of)
        for path, text in st.files.items():
            atomic.write_text(tree / path, text)
        git(tree, "add", "--force", "--", *st.files)
        git(tree, "commit", "-q", "--no-verify", "-m", _message(plan, mode, step, who),
            env=dated(epoch + 60 * (i + 1)))
    cid = change_id(plan, mode_name, base, epoch, abi)
    rest = [f"kscribe_probe_{s}" for s in src.probes if s not in probes]
    if src.syscalls and not any("syscalls" in plan.facet(f).kinds for f in facets):
        rest.append(SYSCALL_MODULE)
    about: dict[str, object] = {"magic": abi.magic, "first": abi.first, "last": abi.last,
                                "version": abi_version}
    if moved_from is not None:
        about["moved_from"] = {"magic": moved_from.magic, "first": moved_from.first,
                               "last": moved_from.last, "version": abi_version - 1}
    return _format(plan, mode, base, tree, out, cid, facet_of, inputs, who, about, rest)


def _format(plan: Plan, mode: Mode, base: Base, tree: Path, out: Path, cid: str,
            facet_of: dict[str, str], inputs: list[str], who: Identity,
            abi: dict[str, object], rest: list[str]) -> Series:
    tip = git(tree, "rev-parse", "HEAD")
    with atomic.atomic_path(out, directory=True) as tmp:
        names = git(tree, "format-patch", "--cover-letter", f"--base={base.commit}",
                    "--no-signature", "-o", str(tmp), f"{base.commit}..{tip}").split("\n")
        # format-patch prints the files it wrote; the cover letter first
        files = [Path(n).name for n in names if n]
        commits = git(tree, "rev-list", "--reverse", f"{base.commit}..{tip}").split()
        sizes: dict[str, int] = {}
        for path, facet in facet_of.items():
            sizes[facet] = sizes.get(facet, 0) + sloc(path, (tree / path).read_text())
        patches = []
        for n, (name, commit) in enumerate(zip(files[1:], commits, strict=True), start=1):
            stat = git(tree, "show", "--numstat", "--format=%s", commit).split("\n")
            rows = [r.split("\t") for r in stat[1:] if r.strip()]
            patches.append(Patch(number=n, subject=stat[0], commit=commit, file=name,
                                 files=[r[2] for r in rows],
                                 added=sum(int(r[0]) for r in rows if r[0] != "-"),
                                 removed=sum(int(r[1]) for r in rows if r[1] != "-"),
                                 bytes=(tmp / name).stat().st_size))
        series = Series(mode=mode.name, placement=mode.placement,
                        base=base.tag or base.commit, base_commit=base.commit, change_id=cid,
                        tip=tip, tip_tree=git(tree, "rev-parse", f"{tip}^{{tree}}"),
                        patches=patches, sloc=sizes, inputs=inputs, abi=abi, out_of_tree=rest)
        cover = tmp / files[0]
        cover.write_text(_cover(cover.read_text(), plan, mode, series, base, who))
    for p in patches:
        p.file = str(out / p.file)
    return series


def _cover(text: str, plan: Plan, mode: Mode, s: Series, base: Base, who: Identity) -> str:
    """git's cover letter with the plan's title and text, the sizes and the disclosure."""
    width = max(len(f) for f in s.sloc)
    table = "\n".join(f"  {f:<{width}}  {n:6}" for f, n in s.sloc.items())
    blurb = (f"{mode.cover_body.rstrip()}\n\n"
             f"Source lines by facet (not blank, not comments):\n\n{table}\n"
             f"  {'total':<{width}}  {sum(s.sloc.values()):6}\n\n"
             f"{_rest(s)}{_moved(s, plan.placements[mode.placement].ioctl_row)}"
             f"The series was generated by kscribe from {', '.join(s.inputs)}, "
             f"on {base.origin}.")
    text = text.replace("*** SUBJECT HERE ***", f"{plan.placements[mode.placement].prefix}: "
                                                 f"{mode.cover_title}")
    text = text.replace("*** BLURB HERE ***", wrap(blurb).rstrip())
    # b4 keeps the change-id below the base-commit line
    return re.sub(r"^(base-commit: \S+)$", rf"\1\nchange-id: {s.change_id}", text,
                  count=1, flags=re.M) + f"\nBest regards,\n-- \n{who.line}\n"



def _rest(s: Series) -> str:
    """What the cover letter says of the modules that stay out of tree, if any."""
    if not s.out_of_tree:
        return ""
    return (f"These modules stay out of tree and build with make M= against the patched "
            f"tree: {', '.join(s.out_of_tree)}.\n\n")


def _moved(s: Series, registered: bool) -> str:
    """What the cover letter says of an ABI moved to a new ioctl block, if it was."""
    old = s.abi.get("moved_from")
    if not isinstance(old, dict):
        return ""
    where = ", registered in ioctl-number.rst," if registered else ""
    return (f"The ioctls use the block '{s.abi['magic']}' {s.abi['first']:#04x}-"
            f"{s.abi['last']:#04x}{where} as ABI version "
            f"{s.abi['version']}: tools built for the out-of-tree tracer's ABI "
            f"{old['version']} ('{old['magic']}' {old['first']:#04x}-{old['last']:#04x}) get "
            "ENOTTY and must be rebuilt against this header.\n\n")
