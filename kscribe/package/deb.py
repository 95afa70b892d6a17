"""Binary Debian packages made with ``dpkg-deb``, byte for byte the same each time.

One definition of a package's control file, its documentation (the DEP-5 copyright, the
changelog) and its maintainer scripts. Every file is owned by root, its mode is 0644 or
0755, its time is ``SOURCE_DATE_EPOCH``; ``dpkg-deb`` orders the members and dates the
archive by the same epoch, so two builds of the same input have the same sha256.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from kscribe import __version__
from kscribe.errors import KscribeError
from kscribe.util import atomic, proc
from kscribe.util.git import Identity

WHY = "to build Debian packages"
LICENSE = "GPL-2.0-only"


@dataclass(frozen=True)
class Control:
    """The fields of a binary package's ``DEBIAN/control``, in Debian's usual order."""

    package: str
    architecture: str
    maintainer: Identity
    summary: str
    description: str
    version: str = __version__
    section: str = "kernel"
    depends: str = ""
    provides: str = ""
    conflicts: str = ""

    def text(self, installed_kib: int) -> str:
        rows = [("Package", self.package), ("Version", self.version),
                ("Architecture", self.architecture), ("Maintainer", self.maintainer.line),
                ("Installed-Size", str(installed_kib)), ("Depends", self.depends),
                ("Provides", self.provides), ("Conflicts", self.conflicts),
                ("Section", self.section), ("Priority", "optional")]
        body = "\n".join(f" {ln}" if ln.strip() else " ." for ln in
                         self.description.strip().splitlines())
        return "".join(f"{k}: {v}\n" for k, v in rows if v) + \
            f"Description: {self.summary}\n{body}\n"

    @property
    def filename(self) -> str:
        return f"{self.package}_{self.version}_{self.architecture}.deb"


@dataclass
class Tree:
    """The files of a package, by their path on the installed system."""

    files: dict[str, bytes] = field(default_factory=dict)
    executables: set[str] = field(default_factory=set)

    def add(self, path: str, data: bytes, executable: bool = False) -> None:
        self.files[path.lstrip("/")] = data
        if executable:
            self.executables.add(path.lstrip("/"))


def epoch() -> int:
    """``SOURCE_DATE_EPOCH``, else the time of the checkout's last commit: what every date
    in a package is."""
    if os.environ.get("SOURCE_DATE_EPOCH", "").isdigit():
        return int(os.environ["SOURCE_DATE_EPOCH"])
    here = Path(__file__).resolve().parent
    done = proc.run(["git", "-C", str(here), "log", "-1", "--format=%ct"], check=False,
                    why="to date packages by the last commit")
    if done.returncode == 0 and done.stdout.strip().isdigit():
        return int(done.stdout.strip())
    raise KscribeError("set SOURCE_DATE_EPOCH: packages are dated by it (outside a git "
                       "checkout there is no last commit to date them by)")


def copyright_text(maintainer: Identity) -> str:
    """The machine-readable copyright file (DEP-5) of every kscribe package."""
    year = time.gmtime(epoch()).tm_year
    return ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
            "Upstream-Name: kscribe\n\n"
            f"Files: *\nCopyright: {year} the kscribe authors (see the project's history)\n"
            f"License: {LICENSE}\n\n"
            f"Files: debian/*\nCopyright: {year} {maintainer.line}\nLicense: {LICENSE}\n\n"
            f"License: {LICENSE}\n"
            " This program is free software; you can redistribute it and/or modify it under\n"
            " the terms of the GNU General Public License version 2 as published by the Free\n"
            " Software Foundation.\n .\n"
            " On Debian systems, the complete text of the GNU General Public License version\n"
            " 2 can be found in `/usr/share/common-licenses/GPL-2'.\n")


def changelog_text(source: str, version: str, maintainer: Identity, change: str) -> str:
    """A one-entry Debian changelog, dated by the epoch."""
    when = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(epoch()))
    return (f"{source} ({version}) unstable; urgency=medium\n\n  * {change}\n\n"
            f" -- {maintainer.line}  {when}\n")


def gzip_bytes(data: bytes) -> bytes:
    """``data`` gzipped with no name and no time in the header (reproducible)."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0) as z:
        z.write(data)
    return out.getvalue()


def docs(tree: Tree, package: str, maintainer: Identity, change: str) -> None:
    """Add ``/usr/share/doc/<package>/{copyright,changelog.gz}`` (a native package's
    changelog: kscribe's versions have no Debian revision)."""
    doc = f"usr/share/doc/{package}"
    tree.add(f"{doc}/copyright", copyright_text(maintainer).encode())
    tree.add(f"{doc}/changelog.gz",
             gzip_bytes(changelog_text(package, __version__, maintainer, change).encode()))


def build(control: Control, tree: Tree, out_dir: Path,
          scripts: dict[str, str] | None = None) -> Path:
    """The package of ``tree`` with ``control`` and maintainer ``scripts`` (postinst...),
    written into ``out_dir``; its path."""
    proc.require("dpkg-deb", why=WHY)
    stamp = epoch()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".deb.", dir=out_dir) as tmp:
        root = Path(tmp) / "root"
        (root / "DEBIAN").mkdir(parents=True)
        sums = []
        kib = 0
        for rel in sorted(tree.files):
            dest = root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(tree.files[rel])
            dest.chmod(0o755 if rel in tree.executables else 0o644)
            sums.append(f"{hashlib.md5(tree.files[rel]).hexdigest()}  {rel}\n")  # noqa: S324
            kib += (len(tree.files[rel]) + 1023) // 1024
        meta = {"control": control.text(kib), "md5sums": "".join(sums)}
        for name, body in (scripts or {}).items():
            meta[name] = body
        for name, body in meta.items():
            p = root / "DEBIAN" / name
            p.write_text(body)
            p.chmod(0o755 if name in ("postinst", "postrm", "preinst", "prerm") else 0o644)
        for p in [root, *root.rglob("*")]:
            if p.is_dir():
                p.chmod(0o755)
            os.utime(p, (stamp, stamp), follow_symlinks=False)
        built = Path(tmp) / control.filename
        env = {**os.environ, "SOURCE_DATE_EPOCH": str(stamp)}
        proc.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", root, built], env=env,
                 why=WHY)
        dest = out_dir / control.filename
        with atomic.atomic_path(dest) as t:
            shutil.copyfile(built, t)
    return dest


def maintainer_script(body: str) -> str:
    """A maintainer script: sh, -e, ``body``, and debhelper's convention of ending 0."""
    return f"#!/bin/sh\nset -e\n{body.rstrip()}\nexit 0\n"
