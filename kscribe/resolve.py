"""Resolve a target to exact Debian packages and pin the result in a lock file.

For the newest version of ``linux-headers-<flavour>`` in the suite's archives this finds the
versioned headers package, its ``-common`` and ``linux-kbuild`` companions (the latter for the
build machine, amd64), the kernel image of exactly that version (``-unsigned`` when there is
one; on 7.x the ``linux-binary-*`` package that holds the kernel), and ``busybox-static``.
The lock file keeps the answer so later runs, even offline, use the same packages until
``--refresh``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from debian.debian_support import Version

from kscribe import atomic
from kscribe.archive import Archive, Deb, Index
from kscribe.errors import KscribeError
from kscribe.locking import file_lock
from kscribe.settings import Settings
from kscribe.tables import ArchiveRef
from kscribe.target import Target

BUILD_ARCH = "amd64"
ROLES = ("headers", "common", "kbuild", "image", "busybox")


@dataclass(frozen=True)
class Resolved:
    """A target pinned to packages: ``abi`` is the kernel's release (``uname -r``)."""

    target: str
    version: str
    abi: str
    suite: str
    debs: dict[str, Deb]

    def to_lock(self) -> dict:
        return {"version": self.version, "abi": self.abi, "suite": self.suite,
                "packages": {k: v.to_lock() for k, v in self.debs.items()}}

    @classmethod
    def from_lock(cls, target: str, d: dict) -> "Resolved":
        return cls(target=target, version=d["version"], abi=d["abi"], suite=d["suite"],
                   debs={k: Deb.from_lock(v) for k, v in d["packages"].items()})


def _one(deps: tuple[str, ...], prefix: str, suffix: str = "") -> str | None:
    return next((d for d in deps if d.startswith(prefix) and d.endswith(suffix)), None)


def _pick_image(index: Index, abi: str, version: str) -> Deb:
    """The package holding the kernel image of ``abi`` at exactly ``version``."""
    for name in (f"linux-image-{abi}-unsigned", f"linux-image-{abi}"):
        img = index.get(name, version)
        if img is None:
            continue
        binary = _one(img.depends, "linux-binary-")
        if binary is None:
            return img
        unsigned = index.get(binary.replace("linux-binary-", "linux-binary-unsigned-", 1),
                             version)
        found = unsigned or index.get(binary, version)
        if found:
            return found
    raise KscribeError(f"no kernel image package of {abi} at version {version} in the archive")


_ARCHIVES: dict[tuple[str, str], Archive] = {}


def _archive(settings: Settings, ref: ArchiveRef) -> Archive:
    """One Archive object per (mirror, suite) and process, so each index is read once."""
    key = (settings.mirror(ref.archive), ref.suite)
    if key not in _ARCHIVES:
        _ARCHIVES[key] = Archive(key[0], ref.suite, settings.keyring, settings.cache_dir)
    return _ARCHIVES[key]


def _newest(settings: Settings, refs, arch: str, name: str) -> tuple[Deb, Archive] | None:
    """The newest package ``name`` for ``arch`` over the archives ``refs``, and its archive.

    An archive whose index cannot be had (a mirror mid-sync) is skipped with a note.
    """
    best: tuple[Deb, Archive] | None = None
    for ref in refs:
        arc = _archive(settings, ref)
        try:
            deb = arc.index(arch).get(name)
        except KscribeError as e:
            print(f"  note: skipping {ref.suite}: {e}", file=sys.stderr)
            continue
        if deb and (best is None or Version(deb.version) > Version(best[0].version)):
            best = (deb, arc)
    return best


def resolve_online(target: Target, settings: Settings) -> Resolved:
    """Ask the archive which packages make up ``target`` now."""
    meta_name = f"linux-headers-{target.flavour}"
    best = _newest(settings, target.suite.archives, target.arch.name, meta_name)
    if best is None:
        raise KscribeError(f"{target}: no {meta_name} in {target.suite.name}'s archives "
                           f"({', '.join(r.suite for r in target.suite.archives)}); is "
                           f"{target.flavour!r} a flavour of {target.arch.name}?")
    meta, arc = best
    version = meta.version
    index = arc.index(target.arch.name)
    headers_name = _one(meta.depends, "linux-headers-")
    headers = index.get(headers_name, version) if headers_name else None
    if headers is None:
        raise KscribeError(f"{target}: {meta_name} {version} names no headers package")
    abi = headers.name.removeprefix("linux-headers-")
    common_name = _one(headers.depends, "linux-headers-", "-common")
    kbuild_name = _one(headers.depends, "linux-kbuild-")
    build_index = arc.index(BUILD_ARCH) if target.arch.name != BUILD_ARCH else index
    common = index.get(common_name, version) if common_name else None
    kbuild = build_index.get(kbuild_name, version) if kbuild_name else None
    if common is None or kbuild is None:
        raise KscribeError(f"{target}: {headers.name} {version}: its -common or linux-kbuild "
                           "package is missing from the archive")
    refs = (*target.suite.archives, ArchiveRef("debian", target.suite.codename))
    found = _newest(settings, refs, target.arch.name, "busybox-static")
    if found is None:
        raise KscribeError(f"{target}: no busybox-static in {target.suite.name}")
    busybox = found[0]
    return Resolved(target=target.name, version=version, abi=abi, suite=arc.suite,
                    debs={"headers": headers, "common": common, "kbuild": kbuild,
                          "image": _pick_image(index, abi, version), "busybox": busybox})


def _read_lock(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise KscribeError(f"{path}:{e.lineno}: not valid JSON ({e.msg}); delete it or run "
                           "with --refresh") from None


def resolve(target: Target, settings: Settings, refresh: bool = False) -> Resolved:
    """The pinned packages of ``target``: from the lock file, or resolved and pinned now."""
    lock = _read_lock(settings.lock_path)
    entry = lock.get("targets", {}).get(target.name)
    if entry and not refresh:
        return Resolved.from_lock(target.name, entry)
    resolved = resolve_online(target, settings)
    with file_lock(settings.lock_path.with_name(settings.lock_path.name + ".flock")):
        lock = _read_lock(settings.lock_path)  # another cell may have written meanwhile
        lock.setdefault("targets", {})[target.name] = resolved.to_lock()
        atomic.write_json(settings.lock_path, lock)
    return resolved
