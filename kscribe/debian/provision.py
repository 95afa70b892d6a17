"""Provision a resolved target: verified .deb files, extracted into one private prefix.

Layout under the cache (``~/.cache/kscribe``)::

    debs/<name>_<version>_<arch>.deb        verified against the lock's SHA256 on every use
    kernels/<target-slug>_<version>/
        prefix/usr/src/linux-headers-<abi>  the headers tree kbuild is pointed at (``kdir``)
        vmlinuz (or vmlinux)                the target's own kernel
        busybox                             the target arch's static busybox
        provision.json                      what was extracted from which package
        modules/<name>.ko                   modules of the kernel package the guest loads,
        modules/modules.json                extracted when a guest first boots (the package
                                            is read to its end: only when needed)

The prefix is made in a temporary folder and renamed into place when complete.
"""

from __future__ import annotations

import json
import lzma
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kscribe.config.settings import Settings
from kscribe.debian import debfile
from kscribe.debian.archive import Deb
from kscribe.debian.download import fetch
from kscribe.debian.lock import Resolved
from kscribe.errors import KscribeError
from kscribe.util import atomic, log, proc
from kscribe.util.digest import is_intact, sha256_file
from kscribe.util.locking import file_lock

# Where Debian kernel packages keep the kernel, and the name it gets in the cache.
KERNEL_PATHS = {
    "boot/vmlinuz-{abi}": "vmlinuz",
    "boot/vmlinux-{abi}": "vmlinux",
    "usr/lib/modules/{abi}/vmlinuz": "vmlinuz",
    "usr/lib/modules/{abi}/vmlinuz.unsigned": "vmlinuz",
    "usr/lib/modules/{abi}/vmlinux": "vmlinux",
}
BUSYBOX_PATHS = {"bin/busybox": "busybox", "usr/bin/busybox": "busybox"}
# Modules of the kernel package that the guest loads besides the tracer (loop: a block
# device for the state dump to list), by where they sit under the modules folder; Debian
# keeps them plain or xz-compressed (``CONFIG_MODULE_COMPRESS_XZ``), and busybox's insmod
# needs them plain.
GUEST_MODULES = {"loop": "kernel/drivers/block/loop.ko"}
MODULE_DIRS = ("lib/modules/{abi}", "usr/lib/modules/{abi}")
DECOMPRESS: dict[str, Callable[[bytes], bytes]] = {"": bytes, ".xz": lzma.decompress}


@dataclass(frozen=True)
class Provisioned:
    """Paths of a provisioned target."""

    root: Path
    kdir: Path
    kernel: Path
    busybox: Path


def deb_path(settings: Settings, deb: Deb) -> Path:
    """Where a package is cached."""
    version = deb.version.replace(":", "%3a")
    return settings.cache_dir / "debs" / f"{deb.name}_{version}_{deb.arch}.deb"


def fetch_deb(settings: Settings, deb: Deb) -> Path:
    """The verified local copy of ``deb``: cached if intact, downloaded again otherwise."""
    path = deb_path(settings, deb)
    if path.exists() and not is_intact(path, deb.sha256, deb.size):
        log.note(f"{path.name}: cached copy is corrupted (SHA256 mismatch), fetching it again")
        path.unlink()
    if not path.exists():
        fetch(deb.url, path, sha256=deb.sha256, size=deb.size, label=path.name)
    return path


def _fix_makefile(prefix: Path, final_prefix: Path, abi: str) -> None:
    """Point the flavour Makefile's ``/usr/src/...`` paths at ``final_prefix``.

    Debian's flavour headers Makefile is a stub that includes the ``-common`` Makefile by
    absolute path (and on 7.x sets ``KBUILD_OUTPUT`` likewise); every other link in the
    packages is relative and resolves inside the prefix.
    """
    mk = prefix / "usr/src" / f"linux-headers-{abi}" / "Makefile"
    text = mk.read_text()
    fixed = text.replace("/usr/src/", f"{final_prefix}/usr/src/")
    if fixed == text:
        raise KscribeError(f"{mk}: no /usr/src/ path to rewrite; unknown headers layout")
    mk.write_text(fixed)


def kernel_dir(settings: Settings, resolved: Resolved) -> Path:
    """The cache folder of a resolved target."""
    slug = resolved.target.replace("/", "_")
    return settings.cache_dir / "kernels" / f"{slug}_{resolved.version.replace(':', '_')}"


def headers_tree(settings: Settings, resolved: Resolved) -> Path:
    """The headers tree kbuild is pointed at, inside the cache folder of ``resolved``."""
    return kernel_dir(settings, resolved) / "prefix/usr/src" / f"linux-headers-{resolved.abi}"


def provision(settings: Settings, resolved: Resolved) -> Provisioned:
    """Download, verify and extract everything the target needs; reuse it when present."""
    root = kernel_dir(settings, resolved)
    with file_lock(root.with_name(root.name + ".flock")):
        if _info(root) is None or not _intact(root) or not _same_packages(root, resolved):
            _extract(settings, resolved, root)
    info = _info(root)
    assert info is not None
    return Provisioned(root=root, kdir=headers_tree(settings, resolved),
                       kernel=root / info["kernel"], busybox=root / "busybox")


def _info(root: Path) -> dict[str, Any] | None:
    """``provision.json`` of a cache folder; None when absent or unreadable."""
    try:
        info = json.loads((root / "provision.json").read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and "kernel" in info else None


def is_provisioned(settings: Settings, resolved: Resolved) -> bool:
    """True when the cache folder of ``resolved`` is complete (a cheap check: no hashing)."""
    return _info(kernel_dir(settings, resolved)) is not None


def _same_packages(root: Path, resolved: Resolved) -> bool:
    """True when the cache folder was extracted from exactly the packages ``resolved`` pins
    (a pin that gained a role, such as the modules package, is extracted again)."""
    had = (_info(root) or {}).get("packages", {})
    return {r: d.get("sha256") for r, d in had.items()} == \
        {r: d.sha256 for r, d in resolved.debs.items()}


def _intact(root: Path) -> bool:
    """True when the extracted kernel and busybox still have the hashes noted at extraction
    (a provision.json without hashes is not trusted)."""
    info = _info(root) or {}
    for name, sha in info.get("sha256", {}).items():
        if not is_intact(root / name, sha):
            log.note(f"{root.name}: cached {name} is corrupted, extracting again")
            return False
    return "sha256" in info


def _extract(settings: Settings, resolved: Resolved, root: Path) -> None:
    """Fetch the packages and extract them into a new ``root``, atomically."""
    abi = resolved.abi
    debs = {role: fetch_deb(settings, resolved.debs[role])
            for role in ("headers", "common", "kbuild", "image", "busybox")}
    with atomic.atomic_path(root, directory=True) as tmp:
        prefix = tmp / "prefix"
        for role in ("headers", "common", "kbuild"):
            debfile.extract_all(debs[role], prefix)
        _fix_makefile(prefix, root / "prefix", abi)
        kernels = {k.format(abi=abi): v for k, v in KERNEL_PATHS.items()}
        found = debfile.extract_each(debs["image"], kernels, tmp)
        kernel = next(iter(found.values()), None)
        if kernel is None:
            raise KscribeError(f"{resolved.debs['image'].name}: no kernel at any of "
                               f"{', '.join(kernels)}")
        if not debfile.extract_each(debs["busybox"], BUSYBOX_PATHS, tmp):
            raise KscribeError(f"{resolved.debs['busybox'].name}: no busybox at any of "
                               f"{', '.join(BUSYBOX_PATHS)}")
        (tmp / "busybox").chmod(0o755)
        atomic.write_json(tmp / "provision.json", {
            "target": resolved.target, "version": resolved.version, "abi": abi,
            "kernel": kernel,
            "sha256": {name: sha256_file(tmp / name) for name in (kernel, "busybox")},
            "packages": {r: {"name": d.name, "version": d.version, "sha256": d.sha256}
                         for r, d in resolved.debs.items()},
        })


def guest_modules(settings: Settings, resolved: Resolved) -> dict[str, Path]:
    """GUEST_MODULES of the kernel's package (name -> plain .ko), extracted on first use:
    finding them reads the whole package, which only a boot needs."""
    root = kernel_dir(settings, resolved)
    folder = root / "modules"
    with file_lock(root.with_name(root.name + ".flock")):
        info = _modules_info(folder)
        if info is None:
            deb = fetch_deb(settings, resolved.debs["modules"])
            with atomic.atomic_path(folder, directory=True) as tmp:
                found = debfile.extract_each(deb, _module_paths(resolved.abi), tmp)
                names = {Path(n).name.partition(".")[0]: _plain(tmp, n)
                         for n in found.values()}
                atomic.write_json(tmp / "modules.json", {
                    "package": resolved.debs["modules"].sha256, "modules": names,
                    "sha256": {f: sha256_file(tmp / f) for f in names.values()}})
            info = _modules_info(folder)
            assert info is not None
    return {m: folder / f for m, f in info["modules"].items()}


def module_closure(settings: Settings, resolved: Resolved, names: tuple[str, ...],
                   tag: str) -> list[Path]:
    """``names`` and every module they depend on (``depends=`` of their ``.modinfo``), from
    the kernel's modules package, plain, in an order ``insmod`` can load them; extracted
    on first use into ``modules-<tag>/`` of the target's cache folder."""
    root = kernel_dir(settings, resolved)
    folder = root / f"modules-{tag}"
    with file_lock(root.with_name(root.name + ".flock")):
        info = _modules_info(folder)
        if info is None or info.get("wanted") != list(names) or "order" not in info:
            deb = fetch_deb(settings, resolved.debs["modules"])
            where, builtin = _listing(deb, resolved.abi)
            with atomic.atomic_path(folder, directory=True) as tmp:
                order = _closure(deb, where, builtin, names, tmp)
                atomic.write_json(tmp / "modules.json", {
                    "package": resolved.debs["modules"].sha256, "wanted": list(names),
                    "order": [f"{m}.ko" for m in order],
                    "sha256": {f"{m}.ko": sha256_file(tmp / f"{m}.ko") for m in order}})
            info = _modules_info(folder)
            assert info is not None
    return [folder / f for f in info["order"]]


def module_indexes(settings: Settings, resolved: Resolved, names: tuple[str, ...]) -> Path:
    """The folder holding the files ``names`` of the kernel package's modules folder
    (``modules.builtin``...), extracted on first use into the target's cache folder."""
    root = kernel_dir(settings, resolved)
    folder = root / "module-indexes"
    with file_lock(root.with_name(root.name + ".flock")):
        info = _modules_info(folder)
        if info is None or sorted(info.get("sha256", {})) != sorted(names):
            deb = fetch_deb(settings, resolved.debs["modules"])
            wanted = {f"{d.format(abi=resolved.abi)}/{n}": n for d in MODULE_DIRS for n in names}
            with atomic.atomic_path(folder, directory=True) as tmp:
                found = set(debfile.extract_each(deb, wanted, tmp).values())
                missing = sorted(set(names) - found)
                if missing:
                    raise KscribeError(f"{deb.name}: no {', '.join(missing)} for "
                                       f"{resolved.abi}")
                atomic.write_json(tmp / "modules.json",
                                  {"sha256": {n: sha256_file(tmp / n) for n in names}})
    return folder


def _listing(deb: Path, abi: str) -> tuple[dict[str, str], set[str]]:
    """The modules of a kernel's modules package (name -> path in it), and the names of
    those built into the kernel (its ``modules.builtin``), in one pass over it."""
    where: dict[str, str] = {}
    builtin: set[str] = set()
    folders = tuple(d.format(abi=abi) for d in MODULE_DIRS)
    for member, tar in debfile.members(deb):
        path = member.name.removeprefix("./")
        if not path.startswith(folders):
            continue
        if re.search(r"\.ko(\.xz)?$", path):
            where[Path(path).name.partition(".ko")[0]] = path
        elif path.endswith("/modules.builtin") and member.isfile():
            data = tar.extractfile(member)
            assert data is not None
            builtin = {Path(line).name.partition(".ko")[0]
                       for line in data.read().decode().split()}
    return where, builtin


def _closure(deb: Path, where: dict[str, str], builtin: set[str], names: tuple[str, ...],
             dest: Path) -> list[str]:
    """Extract ``names`` and their dependencies from ``deb`` (module -> path in it) into
    ``dest``, a pass over the package per level of dependencies; the load order. Modules
    built into the kernel need no loading and are left out."""
    depends: dict[str, list[str]] = {}
    names = tuple(n for n in names if n not in builtin)
    todo = set(names)
    while todo:
        missing = sorted(n for n in todo if n not in where)
        if missing:
            raise KscribeError(f"{deb.name}: no module {', '.join(missing)} in the package, "
                               "nor built in: not configured in this kernel")
        found = debfile.extract_each(deb, {where[n]: Path(where[n]).name for n in todo}, dest)
        for path in found.values():
            module = _plain(dest, path).removesuffix(".ko")
            depends[module] = [d for d in modinfo_depends(dest / f"{module}.ko")
                               if d not in builtin]
        todo = {d for ds in depends.values() for d in ds} - set(depends)
    order: list[str] = []

    def visit(module: str) -> None:
        if module not in order:
            for d in depends[module]:
                visit(d)
            order.append(module)
    for name in names:
        visit(name)
    return order


def modinfo_depends(ko: Path) -> list[str]:
    """The modules ``ko`` needs loaded first: the ``depends=`` of its ``.modinfo``, as
    ``readelf`` dumps the section's strings."""
    dump = proc.run(["readelf", "-p", ".modinfo", ko],
                    why="to read which modules a kernel module needs").stdout
    found = re.search(r"^\s*\[\s*[0-9a-f]+\]\s+depends=(\S*)$", dump, re.M)
    return [d for d in found.group(1).split(",") if d] if found else []


def _modules_info(folder: Path) -> dict[str, Any] | None:
    """``modules.json`` of the guest modules' folder, when its files are intact."""
    try:
        info = json.loads((folder / "modules.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not all(is_intact(folder / f, sha) for f, sha in
                                             info.get("sha256", {}).items()):
        return None
    return info


def _module_paths(abi: str) -> dict[str, str]:
    """Where the modules package may hold each of GUEST_MODULES -> its name in the folder."""
    return {f"{d.format(abi=abi)}/{rel}{ext}": f"{Path(rel).name}{ext}"
            for rel in GUEST_MODULES.values() for d in MODULE_DIRS for ext in DECOMPRESS}


def _plain(folder: Path, name: str) -> str:
    """Decompress the module extracted as ``name`` under ``folder`` in place; its plain name."""
    stem, _, ext = name.partition(".ko")
    data = (folder / name).read_bytes()
    (folder / name).unlink()
    (folder / f"{stem}.ko").write_bytes(DECOMPRESS[ext](data))
    return f"{stem}.ko"
