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
import textwrap
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from kscribe.codegen.module import SYSCALL_MODULE
from kscribe.errors import KscribeError
from kscribe.sloc.count import physical_sloc
from kscribe.upstream import render, reroll
from kscribe.upstream.base import Base
from kscribe.upstream.ioctls import Block
from kscribe.upstream.mail import ARCHIVE_LINK, Message
from kscribe.upstream.plan import BODY_WIDTH, Mode, Plan, wrap
from kscribe.util import atomic, log
from kscribe.util.git import Identity, dated, git


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
    patch_id: str = ""             # git patch-id --stable: the same code, the same id
    since: str = ""                # against the previous version: unchanged, message, ...
    trailers: list[str] = field(default_factory=list)   # received, and kept in the commit
    dropped: list[str] = field(default_factory=list)    # received, dropped as it changed


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
    version: int = 1
    cover: str = ""                # the cover letter's file
    mail: list[Message] = field(default_factory=list)
    # "Changes in vN" of this version and of every earlier one, newest first
    changes: dict[str, list[str]] = field(default_factory=dict)
    range_diff: str = ""           # versus the previous version


def load(path: Path) -> Series:
    """The series a ``series.json`` describes; an error says what to run when there is
    none."""
    import json

    if not path.is_file():
        raise KscribeError(f"{path}: no series here (make one with `kscribe upstream MODE "
                           f"-o {path.parent}`)")
    try:
        raw = json.loads(path.read_text())
        raw["patches"] = [Patch(**p) for p in raw["patches"]]
        raw["mail"] = [Message(**{**m, "to": tuple(m["to"]), "cc": tuple(m["cc"])})
                       for m in raw.get("mail", [])]
        raw.pop("proof", None)
        return Series(**raw)
    except (ValueError, TypeError, KeyError) as e:
        raise KscribeError(f"{path}: not a series.json of this kscribe ({e}); make the "
                           f"series again with `kscribe upstream MODE -o {path.parent}`") from e


def moved(s: Series, old: Path, new: Path) -> Series:
    """``s`` with its files' paths under ``old`` taken to ``new``."""
    def to(f: str) -> str:
        return str(new / Path(f).relative_to(old)) if f else f
    for p in s.patches:
        p.file = to(p.file)
    s.mail = [replace(m, file=to(m.file)) for m in s.mail]
    s.cover = to(s.cover)
    return s


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
    """Source lines of a file: C as sloccount counts it (:mod:`kscribe.sloc.count`); in
    Kconfig, make and rst, the lines that are not blank and not only a comment."""
    if path.endswith((".c", ".h")):
        return physical_sloc(text.encode())
    n = 0
    for raw in text.splitlines():
        ln = raw.strip()
        if ln and not ln.startswith(("#", "..")):
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
         out: Path, moved_from: Block | None = None, previous: Series | None = None,
         given: dict[int, list[str]] | None = None, notes: list[str] | None = None) -> Series:
    """Commit the mode's series in the worktree ``tree`` (at the base), write its patches.

    ``abi`` is the ioctl block the tree registers, ``moved_from`` the out-of-tree tracer's
    when the series moves the ABI to a new block. With ``previous`` (the version before,
    as its ``series.json`` says) this is the next version: same change-id, compared with
    it, the trailers ``given`` to it kept where the code is the same, and the author's
    ``notes`` first in its "Changes in"."""
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
    cid = previous.change_id if previous else change_id(plan, mode_name, base, epoch, abi)
    rest = [f"kscribe_probe_{s}" for s in src.probes if s not in probes]
    if src.syscalls and not any("syscalls" in plan.facet(f).kinds for f in facets):
        rest.append(SYSCALL_MODULE)
    about: dict[str, object] = {"magic": abi.magic, "first": abi.first, "last": abi.last,
                                "version": abi_version}
    if moved_from is not None:
        about["moved_from"] = {"magic": moved_from.magic, "first": moved_from.first,
                               "last": moved_from.last, "version": abi_version - 1}
    patches = _patches(tree, base.commit)
    version, diff = 1, ""
    changes: dict[str, list[str]] = {}
    if previous is not None:
        version = previous.version + 1
        patches, changes, diff = _next_version(tree, base.commit, previous, patches,
                                               given or {}, notes or [], who)
    series = Series(mode=mode.name, placement=mode.placement,
                    base=base.tag or base.commit, base_commit=base.commit, change_id=cid,
                    tip=git(tree, "rev-parse", "HEAD"),
                    tip_tree=git(tree, "rev-parse", "HEAD^{tree}"), patches=patches,
                    sloc=_sizes(tree, facet_of), inputs=inputs, abi=about, out_of_tree=rest,
                    version=version, changes=changes, range_diff=diff)
    _format(plan, mode, base, tree, out, series, who, previous)
    return series


def _next_version(tree: Path, base_commit: str, previous: Series, patches: list[Patch],
                  given: dict[int, list[str]], notes: list[str],
                  who: Identity) -> tuple[list[Patch], dict[str, list[str]], str]:
    """The series committed in ``tree`` as the version after ``previous``: its patches with
    the trailers kept (the commits rewritten to carry them), its "Changes in" blocks, and
    the range-diff versus ``previous``."""
    version = previous.version + 1
    tip = git(tree, "rev-parse", "HEAD")
    old_tip = reroll.take_back(tree, base_commit, previous)
    old = _patches(tree, base_commit)
    for o, was in zip(old, previous.patches, strict=True):
        o.trailers = was.trailers
    c = reroll.compare(tree, old, patches, given)
    new_tip = reroll.retrail(tree, base_commit, [p.commit for p in patches], c.trailers,
                             f"Signed-off-by: {who.line}")
    if git(tree, "rev-parse", f"{new_tip}^{{tree}}") != git(tree, "rev-parse", f"{tip}^{{tree}}"):
        raise KscribeError(f"{tree}: adding the trailers changed the tree of v{version}")
    patches = _patches(tree, base_commit)
    for p in patches:
        p.since = c.since[p.number]
        p.trailers = c.trailers.get(p.number, [])
        p.dropped = c.dropped.get(p.number, [])
    link = ARCHIVE_LINK.format(previous.mail[0].message_id.strip("<>")) \
        if previous.mail else f"(the link of the posting of v{previous.version})"
    changes = {str(version): [*notes, *c.lines, f"Link to v{previous.version}: {link}"],
               **previous.changes}
    return patches, changes, reroll.range_diff(tree, base_commit, old_tip, new_tip)


def _patches(tree: Path, base_commit: str) -> list[Patch]:
    """The commits from ``base_commit`` to HEAD as patches (no file yet)."""
    patches = []
    commits = git(tree, "rev-list", "--reverse", f"{base_commit}..HEAD").split()
    for n, commit in enumerate(commits, start=1):
        stat = git(tree, "show", "--numstat", "--format=%s", commit).split("\n")
        rows = [r.split("\t") for r in stat[1:] if r.strip()]
        patches.append(Patch(number=n, subject=stat[0], commit=commit, file="",
                             files=[r[2] for r in rows],
                             added=sum(int(r[0]) for r in rows if r[0] != "-"),
                             removed=sum(int(r[1]) for r in rows if r[1] != "-"),
                             bytes=0, patch_id=reroll.patch_id(tree, commit)))
    return patches


def _sizes(tree: Path, facet_of: dict[str, str]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for path, facet in facet_of.items():
        sizes[facet] = sizes.get(facet, 0) + sloc(path, (tree / path).read_text())
    return sizes


def _format(plan: Plan, mode: Mode, base: Base, tree: Path, out: Path, series: Series,
            who: Identity, previous: Series | None) -> None:
    """Write the patches and the cover letter to ``out``; the versions before
    ``previous`` (included) move to ``out/v<N>/``."""
    with atomic.atomic_path(out, directory=True) as tmp:
        version = ["-v", str(series.version)] if series.version > 1 else []
        names = git(tree, "format-patch", "--cover-letter", f"--base={base.commit}",
                    "--no-signature", *version, "-o", str(tmp),
                    f"{base.commit}..{series.tip}").split("\n")
        # format-patch prints the files it wrote; the cover letter first
        files = [Path(n).name for n in names if n]
        for p, name in zip(series.patches, files[1:], strict=True):
            p.file = str(out / name)
            p.bytes = (tmp / name).stat().st_size
        series.cover = str(out / files[0])
        cover = tmp / files[0]
        # dated as the tip, not as the hour it was written: the same series is the same mail
        date = git(tree, "log", "-1", "--format=%aD", series.tip)
        text = re.sub(r"^Date: .*$", f"Date: {date}", cover.read_text(), count=1, flags=re.M)
        cover.write_text(_cover(text, plan, mode, series, base, who))
        if previous is not None:
            _archive(previous, out, tmp)


def _archive(previous: Series, out: Path, tmp: Path) -> None:
    """Keep the previous version (its patches, mail and series.json) as ``v<N>/`` of the
    new output, and the versions it kept."""
    import shutil

    for earlier in sorted(out.glob("v[0-9]*")):
        if earlier.is_dir():
            shutil.copytree(earlier, tmp / earlier.name)
    dest = tmp / f"v{previous.version}"
    dest.mkdir()
    for f in [Path(p.file) for p in previous.patches] + [Path(previous.cover)]:
        shutil.copy2(f, dest / f.name)
    if previous.mail:
        shutil.copytree(Path(previous.mail[0].file).parent, dest / "mail")
    kept = moved(previous, out, out / dest.name)
    atomic.write_json(dest / "series.json", asdict(kept))


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
    text = text.replace("*** BLURB HERE ***", wrap(blurb).rstrip() + _changes(s))
    if s.range_diff:
        text = re.sub(r"^(base-commit: )", lambda m: f"Range-diff versus v{s.version - 1}:\n"
                      f"{s.range_diff}\n---\n{m.group(1)}", text, count=1, flags=re.M)
    # b4 keeps the change-id below the base-commit line
    return re.sub(r"^(base-commit: \S+)$", rf"\1\nchange-id: {s.change_id}", text,
                  count=1, flags=re.M) + f"\nBest regards,\n-- \n{who.line}\n"


def _changes(s: Series) -> str:
    """b4's "Changes in vN:" blocks, newest first, each ending with the earlier link."""
    blocks = []
    for v, lines in sorted(s.changes.items(), key=lambda kv: -int(kv[0])):
        items = "\n".join(textwrap.fill(ln, BODY_WIDTH, initial_indent="- ",
                                         subsequent_indent="  ", break_long_words=False,
                                         break_on_hyphens=False) for ln in lines)
        blocks.append(f"\n\nChanges in v{v}:\n{items}")
    return "".join(blocks)



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
