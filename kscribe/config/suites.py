"""Debian suites whose kernels kscribe targets: ``kscribe/data/suites.toml``."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from kscribe.errors import KscribeError
from kscribe.util import tomldata

FILE = "suites.toml"


@dataclass(frozen=True)
class ArchiveRef:
    """A dists/ suite on one of the configured mirrors ("debian" or "security")."""

    archive: str
    suite: str


@dataclass(frozen=True)
class Suite:
    """One Debian suite whose kernels kscribe targets."""

    name: str
    codename: str
    archives: tuple[ArchiveRef, ...]
    arches: tuple[str, ...]


@functools.cache
def suites() -> dict[str, Suite]:
    """All suites of ``data/suites.toml`` by name."""
    out = {}
    for name, data in tomldata.load(FILE).items():
        row = tomldata.Row(FILE, name, data)
        refs = []
        for ref in row.rows("archives"):
            kind = ref.text("archive")
            if kind not in ("debian", "security"):
                raise ref.error("archive", f"{kind!r} is not 'debian' or 'security'")
            refs.append(ArchiveRef(kind, ref.text("suite")))
        out[name] = Suite(name=name, codename=row.text("codename"), archives=tuple(refs),
                          arches=row.strings("arches"))
    return out


def get_suite(name: str) -> Suite:
    """The suite called ``name``, or an error listing the known ones."""
    try:
        return suites()[name]
    except KeyError:
        raise KscribeError(
            f"unknown suite {name!r}: known suites are {', '.join(suites())}"
        ) from None
