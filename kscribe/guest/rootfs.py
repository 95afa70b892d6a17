"""A Debian root for a guest, shared with it over 9p: the programs a busybox initramfs lacks.

The root of a (suite, architecture) holds the packages asked for and what they depend on,
unpacked by ``mmdebstrap --variant=extract``: no maintainer script runs, so no emulator is
needed to make a foreign architecture's root, and without root ``mmdebstrap`` works in a
user namespace. It is cached as a tarball under ``roots/``; every run unpacks a fresh
copy, which QEMU shares with the guest (``-virtfs``). The guest's initramfs loads the 9p
modules (:data:`SHARE_MODULES` and what they need), mounts the share, runs ``ldconfig``
(nothing ran it at extraction) and changes root into it.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from pathlib import Path

from kscribe.config.arches import Arch
from kscribe.config.settings import Settings
from kscribe.config.suites import Suite
from kscribe.debian.sources import sources_list
from kscribe.errors import KscribeError
from kscribe.toolchain.chroot import unpack
from kscribe.util import atomic, log, proc
from kscribe.util.locking import file_lock

# the kernel modules that mount a virtio 9p share, besides what they depend on
SHARE_MODULES = ("9p", "9pnet_virtio", "virtio_pci")
# the share's tag, as QEMU names it and the guest mounts it
TAG = "kscribe-root"
# what every root has besides the packages asked for: ldconfig, modprobe and depmod
BASE = ("libc-bin", "kmod")


def tarball(settings: Settings, suite: Suite, arch: Arch, packages: tuple[str, ...]) -> Path:
    """The cached root of ``suite`` for ``arch`` with ``packages``, made on first use."""
    sources = sources_list(settings, suite)
    wanted = sorted({*BASE, *packages})
    key = hashlib.sha256("\n".join([suite.codename, arch.name, sources, *wanted]).encode()
                         ).hexdigest()[:12]
    path = settings.cache_dir / "roots" / f"{suite.name}-{arch.name}-{key}.tar.zst"
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(path.with_suffix(".flock")):
        if not path.is_file():
            _make(settings, suite, arch, sources, wanted, path)
    return path


def _make(settings: Settings, suite: Suite, arch: Arch, sources: str, packages: list[str],
          dest: Path) -> None:
    what = f"a {suite.name}/{arch.name} guest root"
    proc.require("mmdebstrap", why=f"to make {what}")
    proc.require("zstd", why=f"to cache {what}")
    log.progress(f"making {what} with {', '.join(packages)}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=".root.", dir=dest.parent) as tmp:
        listing, plain = Path(tmp) / "sources.list", Path(tmp) / "root.tar"
        listing.write_text(sources)
        made = proc.run(["mmdebstrap", "--variant=extract", f"--architectures={arch.name}",
                         f"--include={','.join(packages)}", f"--keyring={settings.keyring}",
                         suite.codename, plain, listing], check=False, why=f"to make {what}")
        if made.returncode != 0:
            raise KscribeError(f"mmdebstrap of {what} failed: "
                               f"{proc.tail(made.stdout + made.stderr)}")
        with atomic.atomic_path(dest) as out:
            proc.run(["zstd", "-q", "-f", "-T0", "-3", "-o", out, plain], why=f"to pack {what}")
    log.progress(f"{what} ready in {time.monotonic() - started:.0f} s "
                 f"({dest.stat().st_size / 1e6:.0f} MB)")


def fresh(settings: Settings, suite: Suite, arch: Arch, packages: tuple[str, ...],
          where: Path) -> Path:
    """A new copy of the root in ``where`` (emptied first); ``where``."""
    source = tarball(settings, suite, arch, packages)
    if where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True)
    unpack(source, where, f"a {suite.name}/{arch.name} guest root")
    return where


def virtfs(root: Path) -> list[str]:
    """QEMU's options that share ``root`` with the guest as :data:`TAG`, writable (the
    guest's results come back through it)."""
    return ["-virtfs", f"local,path={root},mount_tag={TAG},security_model=none,id={TAG}"]
