"""A gzip-compressed ``newc`` cpio archive, written in Python: no root, no host cpio.

The guest's initramfs needs a device node (``/dev/console``) that only root could create on
disk, so the archive is written directly. Entries carry fixed owners and times, so the same
inputs always give the same bytes.
"""

from __future__ import annotations

import gzip
import io
import stat
from dataclasses import dataclass
from pathlib import Path

from kscribe.util import atomic


@dataclass(frozen=True)
class Entry:
    """One archive member: a folder, regular file, symlink or character device."""

    path: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def folder(path: str) -> Entry:
    return Entry(path, stat.S_IFDIR | 0o755)


def file(path: str, data: bytes, perm: int = 0o644) -> Entry:
    return Entry(path, stat.S_IFREG | perm, data)


def symlink(path: str, target: str) -> Entry:
    return Entry(path, stat.S_IFLNK | 0o777, target.encode())


def chardev(path: str, major: int, minor: int, perm: int = 0o600) -> Entry:
    return Entry(path, stat.S_IFCHR | perm, rdev=(major, minor))


def _pad(n: int) -> bytes:
    return b"\0" * (-n % 4)


def cpio_newc(entries: list[Entry]) -> bytes:
    """The uncompressed newc archive of ``entries`` (parents must come before children)."""
    out = io.BytesIO()
    for ino, e in enumerate([*entries, Entry("TRAILER!!!", 0)], start=1):
        name = e.path.lstrip("/").encode() + b"\0"
        fields = [ino if e.path != "TRAILER!!!" else 0, e.mode, 0, 0,
                  2 if stat.S_ISDIR(e.mode) else 1, 0, len(e.data), 0, 0, *e.rdev,
                  len(name), 0]
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        out.write(header + name + _pad(len(header) + len(name)))
        out.write(e.data + _pad(len(e.data)))
    return out.getvalue()


def write(dest: Path, entries: list[Entry]) -> None:
    """Write ``entries`` as a reproducible ``.cpio.gz`` to ``dest`` atomically."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(cpio_newc(entries))
    atomic.write_bytes(dest, buf.getvalue())


def make(dest: Path, busybox: Path, modules: list[Path], programs: dict[str, Path],
         init: str, kernel_modules: dict[str, Path] | None = None) -> None:
    """Write a guest's initramfs to ``dest``: busybox, ``programs`` in /bin, the modules in
    /lib/kscribe, the kernel's own ``kernel_modules`` (name -> .ko) in /lib/modules, and
    ``init`` (the rendered /init script)."""
    entries = [folder(d) for d in ("bin", "dev", "etc", "lib", "lib/kscribe", "lib/modules",
                                   "proc", "sys", "tmp", "root")]
    entries += [
        chardev("dev/console", 5, 1),
        chardev("dev/null", 1, 3, 0o666),
        file("init", init.encode(), 0o755),
        file("bin/busybox", busybox.read_bytes(), 0o755),
        file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                           b"nobody:x:65534:65534:nobody:/:/bin/sh\n"),
        file("etc/group", b"root:x:0:\nnogroup:x:65534:\n"),
    ]
    entries += [file(f"bin/{name}", path.read_bytes(), 0o755)
                for name, path in sorted(programs.items())]
    entries += [file(f"lib/kscribe/{m.name}", m.read_bytes()) for m in modules]
    entries += [file(f"lib/modules/{name}.ko", path.read_bytes())
                for name, path in sorted((kernel_modules or {}).items())]
    write(dest, entries)
