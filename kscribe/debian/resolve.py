"""Resolve a target to exact Debian packages and pin the result in a lock file.

For the newest version of ``linux-headers-<flavour>`` in the suite's archives this finds the
versioned headers package, its ``-common`` and ``linux-kbuild`` companions (the latter for the
build machine's architecture), the kernel image of exactly that version (``-unsigned`` when there is
one; on 7.x the ``linux-binary-*`` package that holds the kernel), the package of the kernel's
modules (the image package, or on 7.x ``linux-modules-<abi>``), and ``busybox-static``.
The lock file keeps the answer so later runs, even offline, use the same packages until
``--refresh``.
"""

from __future__ import annotations

from debian.debian_support import Version

from kscribe.config.arches import host_arch
from kscribe.config.settings import Settings
from kscribe.config.suites import ArchiveRef
from kscribe.config.target import Target
from kscribe.debian import lock
from kscribe.debian.archive import Archive, Deb, Index, archive
from kscribe.debian.lock import ROLES, Resolved
from kscribe.errors import KscribeError, ToolMissing
from kscribe.util import log


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


def _pick_modules(index: Index, image: Deb, abi: str, version: str) -> Deb:
    """The package holding the kernel's modules: the image package itself, or beside a
    ``linux-binary-*`` one (7.x) ``linux-modules-<abi>``."""
    if not image.name.startswith("linux-binary-"):
        return image
    modules = index.get(f"linux-modules-{abi}", version)
    if modules is None:
        raise KscribeError(f"no linux-modules-{abi} at version {version} in the archive")
    return modules


def newest(settings: Settings, refs: tuple[ArchiveRef, ...], arch: str, name: str
           ) -> tuple[Deb, Archive] | None:
    """The newest package ``name`` for ``arch`` over the archives ``refs``, and its archive.

    An archive whose index cannot be had (a mirror mid-sync) is skipped with a note.
    """
    best: tuple[Deb, Archive] | None = None
    for ref in refs:
        arc = archive(settings, ref)
        try:
            deb = arc.index(arch).get(name)
        except ToolMissing:
            raise
        except KscribeError as e:
            log.note(f"skipping {ref.suite}: {e}")
            continue
        if deb and (best is None or Version(deb.version) > Version(best[0].version)):
            best = (deb, arc)
    return best


def resolve_online(target: Target, settings: Settings) -> Resolved:
    """Ask the archive which packages make up ``target`` now."""
    meta_name = f"linux-headers-{target.flavour}"
    best = newest(settings, target.suite.archives, target.arch.name, meta_name)
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
    # kbuild's programs run on this machine: linux-kbuild of the host's architecture
    build_arch = host_arch().name
    build_index = arc.index(build_arch) if target.arch.name != build_arch else index
    common = index.get(common_name, version) if common_name else None
    kbuild = build_index.get(kbuild_name, version) if kbuild_name else None
    if common is None or kbuild is None:
        raise KscribeError(f"{target}: {headers.name} {version}: its -common or linux-kbuild "
                           "package is missing from the archive")
    refs = (*target.suite.archives, ArchiveRef("debian", target.suite.codename))
    found = newest(settings, refs, target.arch.name, "busybox-static")
    if found is None:
        raise KscribeError(f"{target}: no busybox-static in {target.suite.name}")
    busybox = found[0]
    image = _pick_image(index, abi, version)
    debs = {"headers": headers, "common": common, "kbuild": kbuild, "image": image,
            "modules": _pick_modules(index, image, abi, version), "busybox": busybox}
    assert tuple(debs) == ROLES
    return Resolved(target=target.name, version=version, abi=abi, suite=arc.suite, debs=debs)


def resolve(target: Target, settings: Settings, refresh: bool = False) -> Resolved:
    """The pinned packages of ``target``: from the lock file, or resolved and pinned now.

    With ``refresh`` the lock file is not read first, so a damaged one is repaired.
    """
    if not refresh:
        pinned = lock.pinned(settings.lock_path, target.name)
        if pinned is not None:
            return pinned
    resolved = resolve_online(target, settings)
    lock.pin(settings.lock_path, resolved)
    return resolved
