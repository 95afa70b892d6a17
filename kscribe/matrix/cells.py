"""A cell of the matrix as CI jobs and reports name it, and the files each step leaves."""

from __future__ import annotations

from dataclasses import dataclass

from kscribe.config.target import parse_target


def error_file(kind: str) -> str:
    """What ``kscribe build`` or ``kscribe boot`` (``kind``) leaves when it stops on an
    error (kscribe.matrix.results.attempt)."""
    return f"{kind}-error.json"


# what each step leaves of a cell in out/<slug>/: what its CI job keeps, and the report reads
BUILD_FILES = ("metadata.json", "build.log", "pin.json", error_file("build"))
BOOT_FILES = ("boot.json", "console.log", error_file("boot"))


@dataclass(frozen=True)
class Cell:
    """One target of the matrix, as the CI jobs name it."""

    target: str
    suite: str
    arch: str
    slug: str

    @classmethod
    def of(cls, name: str) -> Cell:
        t = parse_target(name)
        return cls(t.name, t.suite.name, t.arch.name, t.slug)

    def artifact(self, kind: str) -> str:
        """The artifact a ``kind`` (build, boot) job of this cell uploads: unique per cell."""
        return f"{kind}-{self.slug}"


def cells(names: tuple[str, ...]) -> list[Cell]:
    """The cells of matrix target names, in order."""
    return [Cell.of(n) for n in names]
