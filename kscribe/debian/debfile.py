"""Reading Debian packages: their data archive streamed, one file taken, or all extracted.

Every package kscribe opens goes through ``dpkg-deb`` (:mod:`kscribe.util.proc`): a package
that is damaged is an error naming it and dpkg-deb's complaint, never a traceback.
"""

from __future__ import annotations

import contextlib
import shutil
import tarfile
from collections.abc import Generator
from pathlib import Path

from kscribe.errors import KscribeError
from kscribe.util import proc

WHY = "to read Debian packages"


def members(deb: Path
            ) -> Generator[tuple[tarfile.TarInfo, tarfile.TarFile], None, None]:
    """Each member of ``deb``'s data archive, in order, with the archive to read it from.

    Stopping early (leaving the loop) ends ``dpkg-deb`` without complaint; reading to the
    end checks that it succeeded.
    """
    with proc.stream(["dpkg-deb", "--fsys-tarfile", deb], why=WHY) as s:
        done = False
        try:
            with tarfile.open(fileobj=s.stdout, mode="r|*") as tar:
                for member in tar:
                    yield member, tar
            done = True
        except (tarfile.TarError, EOFError, OSError) as e:
            s.finish()  # dpkg-deb's own error explains a cut stream best
            done = True
            raise KscribeError(f"{deb}: damaged package data: {e}") from None
        finally:
            if not done:
                s.stop()


def extract_each(deb: Path, wanted: dict[str, str], dest: Path) -> dict[str, str]:
    """Extract every one of ``wanted`` (path in the package -> file name) that ``deb`` holds,
    the first in the archive where two paths give one name, in one pass over its data.

    Returns the paths found, each with the name it got under ``dest``.
    """
    found: dict[str, str] = {}
    with contextlib.closing(members(deb)) as items:
        for info, tar in items:
            path = info.name.removeprefix("./")
            name = wanted.get(path)
            if not name or not info.isfile() or name in found.values():
                continue
            src = tar.extractfile(info)
            assert src is not None
            with src, (dest / name).open("wb") as out:
                shutil.copyfileobj(src, out)
            found[path] = name
            if len(set(found.values())) == len(set(wanted.values())):
                break
    return found


def extract_all(deb: Path, dest: Path) -> None:
    """Unpack the whole of ``deb`` under ``dest`` (``dpkg-deb -x``)."""
    proc.run(["dpkg-deb", "-x", deb, dest], why=WHY)
