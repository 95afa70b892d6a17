"""Toolchain chroots: a ``debootstrap --variant=minbase`` of a kernel's own suite.

A kernel is built by its suite's gcc, and its ``linux-kbuild`` programs need that suite's
glibc; so a kernel whose suite is not the host's is built inside a chroot of that suite. The
chroot is made once and cached as a ``.tar.zst`` (the durable artifact) plus an extracted copy
to run in. Commands run in a private mount namespace: as root with ``unshare -m``, otherwise
with ``unshare -Urm`` (a user namespace) where the kernel allows it.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kscribe.config.settings import Settings
from kscribe.errors import KscribeError
from kscribe.util import atomic, log, proc
from kscribe.util.hosttools import require
from kscribe.util.locking import file_lock

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Chroot:
    """A minbase chroot of ``codename`` holding ``packages``, cached under the cache folder."""

    def __init__(self, settings: Settings, codename: str, packages: list[str]) -> None:
        self.settings = settings
        self.codename = codename
        self.packages = sorted(set(packages))
        self.mirror = settings.mirror("debian")
        key = hashlib.sha256(
            "\n".join([codename, self.mirror, *self.packages]).encode()).hexdigest()[:12]
        self.name = f"{codename}-{key}"
        base = settings.cache_dir / "chroots"
        self.tarball = base / f"{self.name}.tar.zst"
        self.root = base / self.name

    def ensure(self) -> None:
        """Make the chroot if it is not cached, then extract it if it is not extracted."""
        if (self.root / ".kscribe-ready").is_file():
            return
        with file_lock(self.tarball.with_suffix(".flock")):
            if (self.root / ".kscribe-ready").is_file():
                return  # another process made it while we waited
            if not self.tarball.is_file():
                self._create()
            with atomic.atomic_path(self.root, directory=True) as tmp:
                # /dev is bound from the host at run time: its nodes need not (and, as
                # non-root, cannot) be unpacked
                unpack(self.tarball, tmp)
                (tmp / ".kscribe-ready").write_text(" ".join(self.packages) + "\n")

    def _create(self) -> None:
        make_tarball(self.settings, self.codename, self.packages, self.tarball,
                     f"the {self.codename} toolchain chroot")

    def command(self, argv: list[str], cwd: Path, binds: list[Path],
                env: dict[str, str] | None = None) -> list[str]:
        """The host command line that runs ``argv`` in the chroot with ``binds`` visible."""
        return command(self.root, argv, cwd, binds, env)


def command(root: Path, argv: list[str], cwd: Path, binds: list[Path],
            env: dict[str, str] | None = None) -> list[str]:
    """The host command line that runs ``argv`` in the chroot ``root``, in a private mount
    namespace with /dev and /proc, and ``binds`` visible.

    Each bound folder appears at the same path inside, so paths in Makefiles and
    dependency files mean the same thing on both sides.
    """
    r = shlex.quote(str(root))
    lines = ["set -e"]
    for b in binds:
        q = shlex.quote(str(b))
        lines.append(f"mkdir -p {r}{q} && mount --bind {q} {r}{q}")
    lines.append(f"mount --rbind /dev {r}/dev")
    lines.append(f"mount -t proc proc {r}/proc 2>/dev/null || true")
    envs = " ".join(shlex.quote(f"{k}={v}") for k, v in
                    {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8",
                     **(env or {})}.items())
    inner = f"cd {shlex.quote(str(cwd))} && exec " + shlex.join(argv)
    lines.append(f"exec chroot {r} env -i {envs} sh -c {shlex.quote(inner)}")
    script = "\n".join(lines)
    require("unshare", why="to run a toolchain chroot")
    if os.geteuid() == 0:
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]
    return ["unshare", "-Urm", "sh", "-c", script]


def make_tarball(settings: Settings, codename: str, packages: list[str], tarball: Path,
                 what: str, then: Callable[[Path], None] | None = None) -> None:
    """``debootstrap --variant=minbase`` of ``codename`` with ``packages``, then ``then(root)``
    (more set-up in the new root), packed into ``tarball`` without apt's caches."""
    if os.geteuid() != 0:
        raise KscribeError(f"making {what} needs root (debootstrap); run once as root, or "
                           "use a host toolchain")
    require("debootstrap", why=f"to make {what}")
    require("zstd", why=f"to cache {what}")
    log.progress(f"making {what} with {', '.join(packages)}")
    started = time.monotonic()
    tarball.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{tarball.name}.", suffix=".bootstrap",
                                dir=tarball.parent))
    try:
        made = proc.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(packages)}",
             f"--keyring={settings.keyring}", codename, tmp, settings.mirror("debian")],
            check=False, why=f"to make {what}")
        if made.returncode != 0:
            logfile = tarball.with_suffix(".debootstrap.log")
            atomic.write_text(logfile, made.stdout + made.stderr)
            raise KscribeError(f"debootstrap of {codename} failed: "
                               f"{proc.tail(made.stdout + made.stderr)} (log: {logfile})")
        if then is not None:
            then(tmp)
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for f in (tmp / junk).rglob("*"):
                if f.is_file() or f.is_symlink():
                    f.unlink()
        with atomic.atomic_path(tarball) as tar_tmp:
            proc.run(["tar", "-I", "zstd -q -T0 -3", "-C", tmp, "--numeric-owner",
                      "-cf", tar_tmp, "."], why=f"to pack {what}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    took = time.monotonic() - started
    log.progress(f"{what} ready in {took:.0f} s ({tarball.stat().st_size / 1e6:.0f} MB)")


def unpack(tarball: Path, dest: Path, what: str = "a toolchain chroot") -> None:
    """Unpack a chroot's tarball into ``dest`` (/dev is bound at run time, not unpacked)."""
    require("zstd", why=f"to unpack {what}")
    proc.run(["tar", "--zstd", "-x", "--numeric-owner", "--exclude=./dev/*", "-f", tarball,
              "-C", dest], why=f"to unpack {what}")
