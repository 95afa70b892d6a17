"""The source tree a ``*-dkms`` package installs, from Debian's archive.

A -dkms package carries its module's sources under ``/usr/src/<name>-<version>/``: the
tree dkms builds on a user's machine. The newest version in a suite is found in the
suite's signed indexes, downloaded and checked like every package, and unpacked once
into the cache.
"""

from __future__ import annotations

from pathlib import Path

from kscribe.config.arches import host_arch
from kscribe.config.settings import Settings
from kscribe.config.suites import get_suite
from kscribe.debian.archive import Deb
from kscribe.debian.debfile import extract_all
from kscribe.debian.provision import fetch_deb
from kscribe.debian.resolve import newest
from kscribe.errors import KscribeError
from kscribe.util import atomic


def dkms_tree(settings: Settings, suite: str, package: str) -> tuple[Deb, Path]:
    """The newest ``package`` (a -dkms package, Architecture: all) of ``suite`` and the
    folder of its sources."""
    # Architecture: all packages are listed in every architecture's index too
    found = newest(settings, get_suite(suite).archives, host_arch().name, package)
    if found is None:
        raise KscribeError(f"{package}: not in {suite}; give a -dkms package that the suite "
                           "has")
    deb = found[0]
    dest = settings.cache_dir / "dkms" / f"{deb.name}_{deb.version.replace(':', '%3a')}"
    if not dest.is_dir():
        path = fetch_deb(settings, deb)
        with atomic.atomic_path(dest, directory=True) as tmp:
            extract_all(path, tmp)
    trees = sorted(p for p in (dest / "usr/src").glob("*") if p.is_dir())
    if len(trees) != 1:
        raise KscribeError(f"{deb.name} {deb.version}: expected one folder in /usr/src, "
                           f"found {len(trees)}; is it a -dkms package?")
    return deb, trees[0]
