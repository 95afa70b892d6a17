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

from kscribe.upstream import render
from kscribe.upstream.base import Base
from kscribe.upstream.git import Identity, dated, git
from kscribe.upstream.plan import Mode, Plan, wrap
from kscribe.util import atomic


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
    gates: dict[str, object] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _message(plan: Plan, mode: Mode, i: int, who: Identity) -> str:
    c = mode.commits[i]
    prefix = plan.placements[mode.placement].prefix
    return f"{prefix}: {c.subject}\n\n{wrap(c.body)}\nSigned-off-by: {who.line}\n"


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


def change_id(plan: Plan, mode: str, base: Base, epoch: int) -> str:
    """b4's change-id (``YYYYMMDD-<slug>-<12 hex>``), the same for every version of a series."""
    import time

    day = time.strftime("%Y%m%d", time.gmtime(epoch))
    digest = hashlib.sha256(f"{plan.name}/{mode}/{base.release}".encode()).hexdigest()[:12]
    return f"{day}-{plan.name}-{mode}-{digest}"


def make(plan: Plan, mode_name: str, base: Base, tree: Path, src: render.Sources,
         who: Identity, abi: tuple[str, int, int], inputs: list[str],
         out: Path) -> Series:
    """Commit the mode's series in the worktree ``tree`` (at the base), write its patches."""
    mode = plan.modes[mode_name]
    placement = plan.placements[mode.placement]
    epoch = int(git(tree, "log", "-1", "--format=%ct", base.commit))

    def base_file(path: str) -> str:
        return git(base.repo, "show", f"{base.commit}:{path}") + "\n"

    facets: list[str] = []
    facet_of: dict[str, str] = {}
    for i, c in enumerate(mode.commits):
        facets.extend(c.facets)
        st = render.state(plan, src, placement, facets, base_file, abi)
        facet_of.update(st.facet_of)
        for path, text in st.files.items():
            atomic.write_text(tree / path, text)
        git(tree, "add", "--force", "--", *st.files)
        git(tree, "commit", "-q", "--no-verify", "-m", _message(plan, mode, i, who),
            env=dated(epoch + 60 * (i + 1)))
    cid = change_id(plan, mode_name, base, epoch)
    return _format(plan, mode, base, tree, out, cid, facet_of, inputs, who)


def _format(plan: Plan, mode: Mode, base: Base, tree: Path, out: Path, cid: str,
            facet_of: dict[str, str], inputs: list[str], who: Identity) -> Series:
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
                        patches=patches, sloc=sizes, inputs=inputs)
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
             f"The series was generated by kscribe from {', '.join(s.inputs)}, "
             f"on {base.origin}.")
    text = text.replace("*** SUBJECT HERE ***", f"{plan.placements[mode.placement].prefix}: "
                                                 f"{mode.cover_title}")
    text = text.replace("*** BLURB HERE ***", wrap(blurb).rstrip())
    # b4 keeps the change-id below the base-commit line
    return re.sub(r"^(base-commit: \S+)$", rf"\1\nchange-id: {s.change_id}", text,
                  count=1, flags=re.M) + f"\nBest regards,\n-- \n{who.line}\n"

