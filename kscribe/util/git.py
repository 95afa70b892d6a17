"""The one way kscribe runs git (kernel trees, the project's own history), and the user's
identity that commits and packages are made with.

Every call goes through :func:`kscribe.util.proc.run`, so a failing git command is one
line naming it. The author and committer of every commit kscribe makes are the user's own
(``git config user.name``/``user.email``): kscribe never makes one up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kscribe.errors import CommandFailed, KscribeError
from kscribe.util import proc

# commits kscribe makes are dated, so that a series is the same bytes when made again
DATE_ENV = ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE")


def git(repo: Path, *args: str, input: str | None = None,
        env: Mapping[str, str] | None = None, check: bool = True) -> str:
    """Run ``git -C repo ARGS``; return its stdout without the final newline."""
    import os

    full = {**os.environ, "LC_ALL": "C", **(env or {})}
    argv = ["git", "-C", str(repo), *args]
    r = proc.run(argv, input=input, env=full, check=False,
                 why="to make kernel patch series and packages")
    if check and r.returncode != 0:
        # git says some failures on stdout ("nothing to commit")
        raise CommandFailed(argv, f"exited {r.returncode}: "
                                  f"{proc.tail(r.stderr or r.stdout or '')}", r.returncode)
    return r.stdout.rstrip("\n")


@dataclass(frozen=True)
class Identity:
    """Who the user is to git: the author and Signed-off-by of the series."""

    name: str
    email: str

    @property
    def line(self) -> str:
        return f"{self.name} <{self.email}>"


def identity(repo: Path) -> Identity:
    """The user's git identity, as ``repo`` sees it; an error says how to set it."""
    values = {}
    for key in ("user.name", "user.email"):
        values[key] = git(repo, "config", "--get", key, check=False)
        if not values[key]:
            raise KscribeError(f"git has no {key}: set it with `git config --global {key} "
                               f"...`; kscribe signs patches and packages only with your "
                               "own identity")
    return Identity(values["user.name"], values["user.email"])


def dated(epoch: int) -> dict[str, str]:
    """The environment that dates a commit at ``epoch`` (UTC)."""
    return {k: f"@{epoch} +0000" for k in DATE_ENV}
