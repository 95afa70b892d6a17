"""Version N+1 of a series: what changed since version N, and the trailers that survive.

The previous version is taken back from its own patch files (``git am`` onto the base, in the
series' worktree), so that ``git range-diff`` compares what reviewers saw with what they will
see. A patch is matched to its previous version by subject. Its code is the same when
``git patch-id --stable`` is: then the trailers received on it (``Reviewed-by:`` and the
others of :data:`TRAILERS`) are kept; a patch whose code changed drops them, as
submitting-patches.rst asks ("unless the patch changed substantially"). Received trailers
come from a file of ``NUMBER: Tag: Name <address>`` lines (0: the whole series) or from an
mbox of replies, matched to the patches by In-Reply-To; reviewers' notes on what changed
come from ``patches/changes.yaml``.
"""

from __future__ import annotations

import mailbox
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from kscribe.config import paths
from kscribe.errors import KscribeError
from kscribe.util import yamlspec
from kscribe.util.git import git

if TYPE_CHECKING:
    from kscribe.upstream.series import Patch, Series

CHANGES = paths.ROOT / "patches" / "changes.yaml"
# the trailers a reviewer gives (submitting-patches.rst), kept on a patch that did not change
TRAILERS = ("Reviewed-by", "Acked-by", "Tested-by", "Reported-by", "Suggested-by")
_TRAILER = re.compile(rf"^({'|'.join(TRAILERS)}): (\S.*<[^<>@\s]+@[^<>\s]+>)\s*$")


@dataclass
class Comparison:
    """What a new version is against the previous one, patch by patch."""

    since: dict[int, str] = field(default_factory=dict)       # number -> unchanged/...
    trailers: dict[int, list[str]] = field(default_factory=dict)
    dropped: dict[int, list[str]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)             # "Changes in vN" entries


def trailer_lines(text: str) -> list[str]:
    """The reviewers' trailers of a reply, not of what it quotes."""
    return [f"{m.group(1)}: {m.group(2).strip()}" for ln in text.splitlines()
            if (m := _TRAILER.match(ln.strip())) and not ln.startswith(">")]


def received(path: Path, previous: Series) -> dict[int, list[str]]:
    """The trailers given to ``previous``, per patch number (0: the whole series), from an
    mbox of replies (by In-Reply-To/References) or a file of ``N: Tag: who`` lines."""
    if not path.is_file():
        raise KscribeError(f"{path}: no such file of received trailers (an mbox of replies, "
                           f"or lines 'NUMBER: Reviewed-by: Name <address>')")
    text = path.read_text(errors="replace")
    out: dict[int, list[str]] = {}
    if text.startswith("From "):
        number = {m.message_id: m.number for m in previous.mail}
        for msg in mailbox.mbox(path):
            refs = [*str(msg.get("In-Reply-To", "")).split(),
                    *reversed(str(msg.get("References", "")).split())]
            to = next((number[r] for r in refs if r in number), None)
            if to is None:
                continue
            payload = None if msg.is_multipart() else msg.get_payload(decode=True)
            body = payload.decode(errors="replace") if isinstance(payload, bytes) else ""
            for t in trailer_lines(body):
                out.setdefault(to, []).append(t)
        return out
    for i, ln in enumerate(text.splitlines(), start=1):
        if not ln.strip() or ln.lstrip().startswith("#"):
            continue
        m = re.match(r"^\s*(\d+):\s*(.*)$", ln)
        got = trailer_lines(m.group(2)) if m else []
        if not m or not got or int(m.group(1)) > len(previous.patches):
            raise KscribeError(f"{path}:{i}: not 'NUMBER: Tag: Name <address>' with NUMBER "
                               f"0-{len(previous.patches)} and Tag one of {', '.join(TRAILERS)}")
        out.setdefault(int(m.group(1)), []).extend(got)
    return out


def notes(label: str, version: int, path: Path = CHANGES) -> list[str]:
    """What the plan's author says changed in ``version`` of the series ``label``."""
    if not path.is_file():
        return []
    root = yamlspec.compose(path)
    if root is None:
        return []
    for key, node in yamlspec.items(path, root, "the changes of each series"):
        if key.value != label:
            continue
        for vkey, entries in yamlspec.items(path, node, f"the versions of {label}"):
            if vkey.value.lstrip("v") != str(version):
                continue
            if not isinstance(entries, yaml.SequenceNode):
                raise yamlspec.error(path, entries, "list what changed, one entry a line")
            return [" ".join(yamlspec.scalar(path, e, "a change").split())
                    for e in entries.value]
    return []


def take_back(tree: Path, base_commit: str, previous: Series) -> str:
    """The previous version as commits on the base (``git am`` of its patch files, in the
    worktree ``tree``); the tip. The worktree is left at that tip."""
    git(tree, "checkout", "-q", "--detach", "--force", base_commit)
    for p in previous.patches:
        git(tree, "am", "-q", p.file)
    return git(tree, "rev-parse", "HEAD")


def patch_id(tree: Path, commit: str) -> str:
    """``git patch-id --stable`` of a commit: the same when the code is, whatever its text."""
    out = git(tree, "patch-id", "--stable", input=git(tree, "show", commit) + "\n")
    return out.split()[0] if out else ""


def _diff(tree: Path, commit: str, path: str) -> str:
    return "\n".join(ln for ln in git(tree, "diff", f"{commit}^", commit, "--", path)
                     .split("\n") if not ln.startswith("index "))


def compare(tree: Path, old: list[Patch], new: list[Patch],
            given: dict[int, list[str]]) -> Comparison:
    """Match ``new`` to ``old`` by subject; what changed, and the trailers each keeps
    (``given``: received on the old version, by old number)."""
    by_subject = {p.subject: p for p in old}
    c = Comparison()
    n = len(new)
    for p in new:
        was = by_subject.get(p.subject)
        name = f"{p.number}/{n} \"{p.subject}\""
        if was is None:
            c.since[p.number] = "new"
            c.lines.append(f"Patch {name} is new.")
            continue
        had = [*was.trailers, *given.get(0, []), *given.get(was.number, [])]
        had = list(dict.fromkeys(had))
        if was.patch_id == p.patch_id:
            same_text = git(tree, "log", "-1", "--format=%B", was.commit) == \
                git(tree, "log", "-1", "--format=%B", p.commit)
            c.since[p.number] = "unchanged" if same_text else "message"
            c.trailers[p.number] = had
            if not same_text:
                c.lines.append(f"Patch {name}: the commit message changed, not the code.")
            continue
        files = sorted(set(was.files) | set(p.files))
        changed = [f for f in files if _diff(tree, was.commit, f) != _diff(tree, p.commit, f)]
        c.since[p.number] = "changed"
        c.dropped[p.number] = had
        c.lines.append(f"Patch {name} changed: {', '.join(changed) or 'its diff'}"
                       + (f"; dropped {', '.join(had)} as it changed." if had else "."))
    gone = [p.subject for p in old if p.subject not in {q.subject for q in new}]
    c.lines += [f"Dropped the patch \"{s}\"." for s in gone]
    kept = sorted({t for ts in c.trailers.values() for t in ts})
    if kept:
        c.lines.append(f"Collected {', '.join(kept)} on the unchanged patches.")
    return c


def retrail(tree: Path, base_commit: str, commits: list[str], trailers: dict[int, list[str]],
            sign_off: str) -> str:
    """The same commits with the trailers of patch k (1-based) added above the user's
    Signed-off-by; the new tip (the trees and dates are the same)."""
    parent = base_commit
    for k, c in enumerate(commits, start=1):
        msg = git(tree, "log", "-1", "--format=%B", c).rstrip("\n") + "\n"
        add = [t for t in trailers.get(k, []) if t not in msg]
        if add:
            msg = msg.replace(f"\n{sign_off}\n", "\n" + "".join(f"{t}\n" for t in add)
                              + f"{sign_off}\n")
        dates = {"GIT_AUTHOR_DATE": git(tree, "log", "-1", "--format=%ad", "--date=raw", c),
                 "GIT_COMMITTER_DATE": git(tree, "log", "-1", "--format=%cd", "--date=raw", c)}
        parent = git(tree, "commit-tree", f"{c}^{{tree}}", "-p", parent, input=msg,
                     env=dates)
    git(tree, "checkout", "-q", "--detach", parent)
    return parent


def range_diff(tree: Path, base_commit: str, old_tip: str, new_tip: str) -> str:
    """``git range-diff`` of the two versions, as b4 puts it in the cover letter."""
    return git(tree, "range-diff", "--no-color", f"{base_commit}..{old_tip}",
               f"{base_commit}..{new_tip}")
