"""A user's machine: a fresh Debian root of a kernel's suite with that kernel's headers
installed by apt, to install packages in as a user would.

It is made once per (suite, kernel ABI): ``debootstrap --variant=minbase``, then apt with
the suite's archives (security included: the newest kernel of a stable suite is often
there) installs ``linux-headers-<abi>``, and the root is cached as a tarball. Every proof
unpacks a fresh copy, so nothing one proof installs is seen by the next; apt reaches the
archive from inside (the package's dependencies come from Debian), dpkg's services do not
start (``policy-rc.d``).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
from pathlib import Path

from kscribe.config.settings import Settings
from kscribe.config.suites import Suite
from kscribe.debian.sources import sources_list
from kscribe.errors import KscribeError
from kscribe.toolchain.chroot import command, make_tarball, unpack
from kscribe.util import atomic, log, proc
from kscribe.util.locking import file_lock

# what a minimal machine needs besides the headers: apt over HTTPS mirrors, and dpkg's
# tools that Debian's dkms-autopkgtest uses for a local repository
BASE = ("ca-certificates", "dpkg-dev", "kmod")
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}


class Machine:
    """A fresh root to install and build packages in, as root, with the network."""

    def __init__(self, root: Path, suite: Suite, abi: str) -> None:
        self.root = root
        self.suite = suite
        self.abi = abi

    @classmethod
    def fresh(cls, settings: Settings, suite: Suite, abi: str, where: Path) -> Machine:
        """A new copy, in ``where``, of the cached machine of ``suite`` with the headers of
        kernel ``abi`` (made first if it is not cached)."""
        sources = sources_list(settings, suite)
        key = hashlib.sha256("\n".join([suite.codename, abi, sources, *BASE]).encode()
                             ).hexdigest()[:12]
        tarball = settings.cache_dir / "machines" / f"{suite.name}-{abi}-{key}.tar.zst"
        tarball.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(tarball.with_suffix(".flock")):
            if not tarball.is_file():
                make_tarball(settings, suite.codename, list(BASE), tarball,
                             f"a {suite.name} machine with linux-headers-{abi}",
                             then=lambda root: _set_up(root, sources, abi))
        if where.exists():
            shutil.rmtree(where)
        where.mkdir(parents=True)
        unpack(tarball, where, f"a {suite.name} machine")
        m = cls(where, suite, abi)
        _network(where)
        m.run(["apt-get", "update", "-q"])
        return m

    def run(self, argv: list[str], check: bool = True, timeout: float = 1800
            ) -> subprocess.CompletedProcess:
        """Run ``argv`` inside; with ``check`` a failure is an error with its output's tail."""
        done = proc.run(command(self.root, argv, Path("/"), [], APT_ENV), check=False,
                        timeout=timeout, why="to run commands in a fresh machine")
        if check and done.returncode != 0:
            raise KscribeError(f"{self.suite.name} machine: `{' '.join(argv)}` exited "
                               f"{done.returncode}: {proc.tail(done.stdout + done.stderr)}")
        return done

    def timed(self, argv: list[str], check: bool = True) -> tuple[subprocess.CompletedProcess,
                                                                   float]:
        started = time.monotonic()
        done = self.run(argv, check=check)
        return done, time.monotonic() - started

    def put(self, path: Path, inside: str = "/tmp") -> str:
        """Copy a host file into the machine; its path inside."""
        dest = self.root / inside.lstrip("/") / path.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        return f"{inside.rstrip('/')}/{path.name}"

    def path(self, inside: str) -> Path:
        """The host path of a file inside."""
        return self.root / inside.lstrip("/")


def _network(root: Path) -> None:
    """What apt needs to reach the archive from inside: the host's resolver."""
    resolv = Path("/etc/resolv.conf")
    if resolv.is_file():
        dest = root / "etc/resolv.conf"
        dest.unlink(missing_ok=True)
        shutil.copyfile(resolv, dest)


def _set_up(root: Path, sources: str, abi: str) -> None:
    """Sources, no services, then the kernel's headers as apt installs them."""
    atomic.write_text(root / "etc/apt/sources.list", sources)
    atomic.write_text(root / "usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", mode=0o755)
    _network(root)
    for argv in (["apt-get", "update", "-q"],
                 ["apt-get", "install", "-y", "-q", "--no-install-recommends",
                  f"linux-headers-{abi}"]):
        done = proc.run(command(root, argv, Path("/"), [], APT_ENV), check=False,
                        why="to install a kernel's headers in a fresh machine")
        if done.returncode != 0:
            raise KscribeError(f"setting up the machine: `{' '.join(argv)}` exited "
                               f"{done.returncode}: {proc.tail(done.stdout + done.stderr)}")
    log.progress(f"linux-headers-{abi} installed")
