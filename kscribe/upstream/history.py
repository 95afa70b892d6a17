"""History mode: this repository's own history merged into a kernel tree, as btrfs was.

The commits of the files that become in-tree code are rewritten with git-filter-repo so that
each prefix of the plan's ``history.paths`` lands in its kernel folder (the core and the
uapi header go to different ones), and everything else is left out. The rewritten history
is merged into the base with a two-parent merge of unrelated histories whose message says
why; one hook-up commit then adds what the history does not hold. What reviewers will ask
is reported, never mended: imported commits without a Signed-off-by (kscribe adds none for
anyone), the original commits that also changed files left out, and licenses the tree's
``LICENSES/`` lacks.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from kscribe.errors import KscribeError
from kscribe.util import log, proc
from kscribe.util.git import dated, git


@dataclass
class Report:
    """What the import is, and what reviewers will ask about it."""

    source: str
    source_head: str
    imported: int                            # commits of the rewritten history
    without_signoff: list[str] = field(default_factory=list)     # "abbrev subject"
    touching_outside: list[str] = field(default_factory=list)    # "abbrev: other paths"
    licenses: dict[str, list[str]] = field(default_factory=dict)  # id -> files
    missing_licenses: list[str] = field(default_factory=list)
    merge: str = ""
    parents: list[str] = field(default_factory=list)
    hookup: str = ""
    base_tag: str = ""                       # C2: the release tag the merge's first parent is
    confinement: list[str] = field(default_factory=list)          # C1: paths outside
    seconds: dict[str, float] = field(default_factory=dict)
    gates: dict[str, object] = field(default_factory=dict)


def checkout() -> Path:
    """This repository's git checkout: where kscribe runs from."""
    from kscribe.config import paths

    top = git(paths.PACKAGE.parent, "rev-parse", "--show-toplevel", check=False)
    if not top:
        raise KscribeError(f"{paths.PACKAGE.parent}: not a git checkout of kscribe; history "
                           f"mode imports the history of one (give --source PATH)")
    return Path(top)


def rewrite(source: Path, renames: tuple[tuple[str, str], ...], dest: Path) -> Path:
    """A fresh clone of ``source`` at ``dest`` with only the ``renames``' prefixes, each moved
    to its kernel folder by git-filter-repo (commits left empty are dropped)."""
    if git(source, "rev-parse", "--is-shallow-repository") == "true":
        raise KscribeError(f"{source}: a shallow clone holds part of the history; fetch the "
                           f"rest (`git -C {source} fetch --unshallow`) to import it")
    shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    git(dest.parent, "clone", "-q", "--no-local", "--single-branch", str(source), dest.name)
    argv = [proc.installed("git-filter-repo"), "--force", "--quiet", "--prune-empty", "always"]
    for old, _ in renames:
        argv += ["--path", old]
    for old, new in renames:
        argv += ["--path-rename", f"{old}:{new}"]
    log.progress(f"history: git filter-repo of {source} into {len(renames)} kernel paths")
    proc.run(argv, cwd=dest, why="to rewrite the tracer's history into the kernel's paths")
    return dest


def _log(repo: Path, *args: str) -> list[tuple[str, str, str]]:
    """(hash, subject, body) of the commits of ``git log ARGS``, oldest first."""
    out = git(repo, "log", "--reverse", "--format=%H%x1f%s%x1f%B%x1e", *args)
    return [tuple(c.strip("\n").split("\x1f", 2)) for c in out.split("\x1e")  # type: ignore
            if c.strip()]


def report(source: Path, rewritten: Path, renames: tuple[tuple[str, str], ...],
           base_repo: Path, base_commit: str) -> Report:
    """What the rewritten history is, and what reviewers will ask about it."""
    commits = _log(rewritten, "HEAD")
    r = Report(source=str(source), source_head=git(source, "rev-parse", "HEAD"),
               imported=len(commits))
    r.without_signoff = [f"{h[:12]} {s}" for h, s, body in commits
                         if not re.search(r"^Signed-off-by: ", body, re.M)]
    kept = tuple(old for old, _ in renames)
    for h, s, _ in _log(source, "HEAD"):
        files = git(source, "diff-tree", "--root", "--no-commit-id", "-r", "--name-only",
                    h).split("\n")
        if any(f.startswith(kept) for f in files):
            other = sorted(f for f in files if f and not f.startswith(kept))
            if other:
                r.touching_outside.append(f"{h[:12]} {s}: {len(other)} other files "
                                          f"({', '.join(other[:3])}{', ...' if other[4:] else ''})")
    known = carried_licenses(base_repo, base_commit)
    for path in git(rewritten, "ls-files").split("\n"):
        text = (rewritten / path).read_text(errors="replace")
        m = re.search(r"SPDX-License-Identifier:\s*(.+?)\s*(\*/)?$", text, re.M)
        spdx = m.group(1) if m else "NONE"
        for lic in re.findall(r"[A-Za-z0-9.+-]+", spdx):
            if lic in ("OR", "AND", "WITH"):
                continue
            r.licenses.setdefault(lic, []).append(path)
    r.missing_licenses = sorted(lic for lic in r.licenses if lic not in known)
    return r


def carried_licenses(repo: Path, commit: str) -> set[str]:
    """The SPDX identifiers the tree's ``LICENSES/`` carries (each file's
    ``Valid-License-Identifier:`` and ``SPDX-Exception-Identifier:`` lines)."""
    found: set[str] = set()
    for path in git(repo, "ls-tree", "-r", "--name-only", commit, "--", "LICENSES/").split():
        text = git(repo, "show", f"{commit}:{path}")
        found.update(re.findall(r"^(?:Valid-License-Identifier|SPDX-Exception-Identifier):"
                                r"\s*(\S+)", text, re.M))
    return found


def merge(tree: Path, rewritten: Path, subject: str, body: str, epoch: int) -> str:
    """Merge the rewritten history into the checkout ``tree`` (at the base): two parents,
    two root commits; the merge commit."""
    git(tree, "fetch", "-q", str(rewritten), "HEAD")
    git(tree, "merge", "-q", "--no-ff", "--allow-unrelated-histories", "--no-edit",
        "-m", subject, "-m", body.rstrip(), "FETCH_HEAD", env=dated(epoch))
    return git(tree, "rev-parse", "HEAD")


def confined(tree: Path, merge_commit: str, prefixes: tuple[str, ...]) -> list[str]:
    """C1: the paths that commits of the merged history touch outside ``prefixes``."""
    out = []
    for c in git(tree, "rev-list", f"{merge_commit}^1..{merge_commit}^2").split():
        for f in git(tree, "diff-tree", "--root", "--no-commit-id", "-r", "--name-only",
                     c).split("\n"):
            if f and not f.startswith(prefixes):
                out.append(f"{c[:12]}: {f}")
    return out


def hookup(tree: Path, files: dict[str, str], imported: list[str], message: str,
           epoch: int) -> str:
    """One commit that makes the tree hold ``files`` (path -> text), and of the files the
    history ``imported`` only those; the commit."""
    from kscribe.util import atomic

    for path, text in files.items():
        atomic.write_text(tree / path, text)
    stale = [p for p in imported if p not in files]
    if stale:
        git(tree, "rm", "-q", "--", *stale)
    git(tree, "add", "--force", "--", *files)
    git(tree, "commit", "-q", "--no-verify", "-m", message, env=dated(epoch))
    return git(tree, "rev-parse", "HEAD")


def bisect_first_parent(tree: Path, good: str, bad: str, script: str) -> tuple[str, list[str]]:
    """``git bisect --first-parent`` from ``good`` to ``bad`` with ``script`` (sh; exit 0
    good, 1-127 bad, 125 skip): the first bad commit and every commit the run tested."""
    ends = {git(tree, "rev-parse", good), git(tree, "rev-parse", bad)}
    git(tree, "bisect", "reset", check=False)
    git(tree, "bisect", "start", "--first-parent", bad, good)
    try:
        out = git(tree, "bisect", "run", "sh", "-c", script)
        m = re.search(r"^([0-9a-f]{40}) is the first bad commit$", out, re.M)
        if m is None:
            raise KscribeError(f"git bisect found no first bad commit: {proc.tail(out)}")
        tested = re.findall(r"^# (?:good|bad|skip): \[([0-9a-f]{40})\]",
                            git(tree, "bisect", "log"), re.M)
        return m.group(1), [c for c in tested if c not in ends]
    finally:
        git(tree, "bisect", "reset", check=False)


def request_pull(tree: Path, base_tag: str, url: str, branch: str) -> str:
    """The pull request text of ``branch`` (``git request-pull`` form), from ``base_tag``."""
    return git(tree, "request-pull", base_tag, url, branch)
