"""Architectures and suites: the data tables in ``kscribe/data``, loaded and checked.

Everything that differs between architectures or Debian suites lives in those TOML tables so
that adding one is a data change; this module only gives them types and error messages.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources

from kscribe.errors import KscribeError


@dataclass(frozen=True)
class Arch:
    """One Debian architecture: how to build for it and how to boot it."""

    name: str
    kbuild_arch: str
    triplet: str
    package_suffix: str
    flavour: str
    qemu_binary: str
    qemu_package: str
    qemu_args: tuple[str, ...]
    console: str


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


def _load(name: str) -> dict:
    text = resources.files("kscribe.data").joinpath(name).read_text()
    return tomllib.loads(text)


@functools.cache
def arches() -> dict[str, Arch]:
    """All architectures of ``data/arches.toml`` by Debian name."""
    return {
        name: Arch(name=name, **{**row, "qemu_args": tuple(row["qemu_args"])})
        for name, row in _load("arches.toml").items()
    }


@functools.cache
def suites() -> dict[str, Suite]:
    """All suites of ``data/suites.toml`` by name."""
    out = {}
    for name, row in _load("suites.toml").items():
        out[name] = Suite(
            name=name,
            codename=row["codename"],
            archives=tuple(ArchiveRef(**a) for a in row["archives"]),
            arches=tuple(row["arches"]),
        )
    return out


def get_suite(name: str) -> Suite:
    """The suite called ``name``, or an error listing the known ones."""
    try:
        return suites()[name]
    except KeyError:
        raise KscribeError(
            f"unknown suite {name!r}: known suites are {', '.join(suites())}"
        ) from None


def get_arch(name: str) -> Arch:
    """The architecture called ``name``, or an error listing the known ones."""
    try:
        return arches()[name]
    except KeyError:
        raise KscribeError(
            f"unknown architecture {name!r}: known architectures are {', '.join(arches())}"
        ) from None
