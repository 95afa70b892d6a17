"""Targets: ``SUITE/ARCH[/FLAVOUR]`` names of real Debian kernels, checked against the tables."""

from __future__ import annotations

from dataclasses import dataclass

from kscribe.config.arches import Arch, get_arch
from kscribe.config.suites import Suite, get_suite, suites
from kscribe.errors import KscribeError

DEFAULT_TARGET = "bookworm/amd64"  # what `doit`, the benchmarks and checkpatch default to


@dataclass(frozen=True)
class Target:
    """A Debian kernel named by suite, architecture and flavour (the arch's default if None)."""

    suite: Suite
    arch: Arch
    flavour: str

    @property
    def name(self) -> str:
        """``suite/arch`` for the default flavour, ``suite/arch/flavour`` otherwise."""
        base = f"{self.suite.name}/{self.arch.name}"
        return base if self.flavour == self.arch.flavour else f"{base}/{self.flavour}"

    @property
    def slug(self) -> str:
        """The name as one path component, for output folders."""
        return self.name.replace("/", "_")

    def __str__(self) -> str:
        return self.name


def parse_target(text: str) -> Target:
    """Parse ``SUITE/ARCH[/FLAVOUR]``; errors name the bad part and the valid choices."""
    parts = text.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise KscribeError(f"bad target {text!r}: expected SUITE/ARCH or SUITE/ARCH/FLAVOUR, "
                           "e.g. bookworm/amd64")
    suite = get_suite(parts[0])
    arch = get_arch(parts[1])
    if arch.name not in suite.arches:
        raise KscribeError(f"suite {suite.name} ships no kernel for {arch.name}: its "
                           f"architectures are {', '.join(suite.arches)}")
    return Target(suite=suite, arch=arch, flavour=parts[2] if len(parts) == 3 else arch.flavour)


def all_targets() -> list[Target]:
    """Every (suite, arch) of the tables with the default flavour."""
    return [parse_target(f"{s.name}/{a}") for s in suites().values() for a in s.arches]
