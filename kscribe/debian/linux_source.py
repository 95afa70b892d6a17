"""The target kernel's ``linux-source-<v>`` package: found, fetched, and its tarball read.

The package (arch: all, in every architecture's index) carries the whole tree as
``/usr/src/linux-source-<v>.tar.xz``; kscribe reads a few files of it (checkpatch) or scans
it once (syscall definitions). The tarball is decompressed by ``xz`` beside the reading, and
its exit status is checked: a truncated tarball is an error, never a silently short scan.
"""

from __future__ import annotations

import re
import tarfile
import threading
from collections.abc import Generator, Iterator
from pathlib import Path

from kscribe.config.settings import Settings
from kscribe.config.suites import ArchiveRef
from kscribe.debian import debfile
from kscribe.debian.archive import Deb, archive, mirror_name
from kscribe.debian.lock import Resolved
from kscribe.debian.provision import fetch_deb
from kscribe.errors import KscribeError
from kscribe.util import proc

_TARBALL = re.compile(r"^\./usr/src/linux-source-[\d.]+\.tar\.xz$")


def package(settings: Settings, resolved: Resolved) -> Deb:
    """The ``linux-source`` package of exactly the target's version, from its own index."""
    headers = resolved.debs["headers"]
    ref = ArchiveRef(mirror_name(settings, headers), resolved.suite)
    index = archive(settings, ref).index(headers.arch)
    found = next((d for name, debs in index.by_name.items() if name.startswith("linux-source-")
                  for d in debs if d.version == resolved.version), None)
    if found is None:
        raise KscribeError(f"no linux-source package of version {resolved.version} in "
                           f"{resolved.suite}: the archive no longer has this kernel's source")
    return found


def fetch(settings: Settings, resolved: Resolved) -> Path:
    """The verified local copy of the target's ``linux-source`` package."""
    return fetch_deb(settings, package(settings, resolved))


def _inner(deb: Path, tar: tarfile.TarFile, member: tarfile.TarInfo
           ) -> Iterator[tuple[str, tarfile.TarInfo, tarfile.TarFile]]:
    src = tar.extractfile(member)
    assert src is not None
    with proc.stream(["xz", "-T2", "-dc"], stdin=True, why="to read linux-source") as xz:
        def feed() -> None:
            try:
                while block := src.read(1 << 20):
                    xz.stdin.write(block)
            except (BrokenPipeError, ValueError):
                pass
            finally:
                xz.stdin.close()

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        done = False
        try:
            with tarfile.open(fileobj=xz.stdout, mode="r|") as inner:
                for m in inner:
                    yield m.name.split("/", 1)[-1], m, inner
            done = True
        except (tarfile.TarError, EOFError, OSError) as e:
            feeder.join()
            xz.finish()  # xz's own message says best why the stream ended
            done = True
            raise KscribeError(f"{deb.name}: its source tarball is damaged: {e}") from None
        finally:
            if not done:
                xz.stop()
            feeder.join()


def files(deb: Path
          ) -> Generator[tuple[str, tarfile.TarInfo, tarfile.TarFile], None, None]:
    """Each member of the source tarball of ``deb``: its path below the tree's top folder,
    the member, and the archive to read it from. Leaving the loop early is allowed."""
    for member, tar in debfile.members(deb):
        if _TARBALL.match(member.name):
            yield from _inner(deb, tar, member)
            return
    raise KscribeError(f"{deb.name}: no /usr/src/linux-source-*.tar.xz in the package")
