"""The kernel tree a series is made on: Debian's source of the target kernel, as git.

By default the base is the ``linux-source-<v>`` package of exactly the kernel the series is
proven in (verified through the signed index like every download), imported as one commit
of a cached bare repository and tagged ``debian/<version>``. The vanilla orig tarball would
be the purer base, but the archive's pool does not keep it for every version: for sid's
7.2.13-1 it is missing while the source package still lists it, and a tree of another
version builds modules whose structure layouts nobody checked against the booted kernel.
``--tree PATH`` takes any kernel git checkout instead, at its HEAD.

Every series is made in a fresh checkout of the base (:func:`worktree`).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from kscribe.config.settings import Settings
from kscribe.debian import linux_source
from kscribe.debian.lock import Resolved
from kscribe.errors import KscribeError
from kscribe.util import atomic, log, proc
from kscribe.util.git import dated, git, identity
from kscribe.util.locking import file_lock

# a kernel tree's top level has these (checkpatch refuses to run elsewhere)
_TREE_MARKS = ("MAINTAINERS", "Makefile", "scripts/checkpatch.pl", "kernel/trace")


@dataclass(frozen=True)
class Base:
    """A kernel tree to make series on: a git repository and the commit to start from."""

    repo: Path
    commit: str
    tag: str | None
    release: str          # the kernel version of the tree's Makefile, e.g. 7.2.13
    origin: str           # where the tree came from, for the cover letter


def _makefile_release(text: str) -> str:
    v = {k: re.search(rf"^{k} = (\S*)", text, re.M) for k in
         ("VERSION", "PATCHLEVEL", "SUBLEVEL")}
    if not all(v.values()):
        raise KscribeError("the tree's Makefile has no VERSION/PATCHLEVEL/SUBLEVEL lines")
    return ".".join(m.group(1) for m in v.values() if m)


def from_checkout(path: Path) -> Base:
    """``--tree PATH``: an existing kernel git checkout, at its HEAD."""
    missing = [m for m in _TREE_MARKS if not (path / m).exists()]
    if missing:
        raise KscribeError(f"{path}: not a kernel tree (no {', '.join(missing)}); give the "
                           f"top folder of a kernel git checkout")
    if not (path / ".git").exists():
        raise KscribeError(f"{path}: not a git checkout; series are made with git")
    commit = git(path, "rev-parse", "HEAD")
    tag = git(path, "describe", "--tags", "--exact-match", commit, check=False) or None
    return Base(repo=path, commit=commit, tag=tag,
                release=_makefile_release((path / "Makefile").read_text()),
                origin=f"the kernel tree {path} at {tag or commit[:12]}")


def debian_source(settings: Settings, resolved: Resolved) -> Base:
    """Debian's source of ``resolved``'s kernel as a cached bare repository (made once)."""
    deb_version = resolved.version
    repo = settings.cache_dir / "trees" / f"linux-{deb_version.replace(':', '_')}.git"
    tag = f"debian/{deb_version.replace(':', '%').replace('~', '_')}"
    with file_lock(repo.with_suffix(".flock")):
        if not (repo / "HEAD").is_file():
            _import(settings, resolved, repo, tag)
    commit = git(repo, "rev-parse", f"{tag}^{{commit}}")
    makefile = git(repo, "show", f"{commit}:Makefile")
    return Base(repo=repo, commit=commit, tag=tag, release=_makefile_release(makefile),
                origin=f"Debian's linux-source package {deb_version} (upstream "
                       f"{_makefile_release(makefile)} and Debian's patches)")


def _import(settings: Settings, resolved: Resolved, repo: Path, tag: str) -> None:
    deb = linux_source.fetch(settings, resolved)
    who = identity(settings.cache_dir)
    log.progress(f"base tree: importing {deb.name} into git (once; about a minute)")
    with atomic.atomic_path(repo, directory=True) as tmp:
        work = tmp / "work"
        work.mkdir()
        # the package holds the tree as /usr/src/linux-source-<v>.tar.xz
        unpack = ('dpkg-deb --fsys-tarfile "$1" | tar -xO --wildcards '
                  '"./usr/src/linux-source-*.tar.xz" | tar -xJ --strip-components=1 -C "$2"')
        proc.run(["bash", "-o", "pipefail", "-c", unpack, "import", str(deb), str(work)],
                 why="to unpack the kernel source")
        git(work, "init", "-q", "-b", "base")
        # Debian's .gitignore ignores the whole top level (its packaging keeps only
        # debian/ in git): every file of the tarball is source, so all are added
        git(work, "add", "-A", "--force")
        # dated as the package dates its files, so that the base commit is reproducible
        epoch = int((work / "Makefile").stat().st_mtime)
        git(work, "commit", "-q", "--no-verify", "-m",
            f"Linux {_makefile_release((work / 'Makefile').read_text())} as Debian's "
            f"{deb.name} ships it", env={**dated(epoch), "GIT_AUTHOR_NAME": who.name,
                                         "GIT_AUTHOR_EMAIL": who.email})
        git(work, "tag", tag)
        shutil.move(str(work / ".git"), str(tmp / "repo.git"))
        shutil.rmtree(work)
        git(tmp / "repo.git", "config", "core.bare", "true")
        for entry in (tmp / "repo.git").iterdir():
            shutil.move(str(entry), str(tmp / entry.name))
        (tmp / "repo.git").rmdir()


def worktree(base: Base, dest: Path) -> Path:
    """A clean checkout of ``base`` at ``dest``, detached at the base commit.

    It is a ``git clone --shared`` of the base repository (its objects are borrowed, not
    copied), not a ``git worktree``: the tree's own scripts (checkpatch's spdxcheck.py,
    through GitPython) refuse the worktrees of a bare repository. A checkout left at
    ``dest`` by an earlier run is reset and cleaned, far quicker than checking out 90,000
    files again.
    """
    alternates = dest / ".git" / "objects" / "info" / "alternates"
    if alternates.is_file() and Path(alternates.read_text().strip()).resolve() == \
            (base.repo / "objects").resolve():
        git(dest, "am", "--abort", check=False)
        git(dest, "checkout", "-q", "--detach", "--force", base.commit)
        git(dest, "clean", "-q", "-fdx")
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    git(dest.parent, "clone", "-q", "--shared", "--no-checkout", str(base.repo), dest.name)
    git(dest, "checkout", "-q", "--detach", base.commit)
    return dest
