"""``metadata.json`` of a build folder: what was built, how, from what, with which result.

Written when a build starts (``status: running``) and again when it ends (``ok`` or
``failed``), so a killed build still says what it was doing. The fields:

  target, arch, kernel_release, kdir   what was built for
  packages                             role -> "name version" of the Debian packages
  toolchain                            kind (host/chroot), cc, version, kernel_cc,
                                       packages, chroot
  make, reproducer                     the kbuild command line, and with its environment
  modules                              module names, in load order
  status                               running, failed or ok
  duration_s, warnings, errors         of the kbuild run
  artifacts                            file name -> {size, sha256} (ok builds only)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kscribe.errors import KscribeError
from kscribe.util import atomic

NAME = "metadata.json"
STATUSES = ("running", "failed", "ok")


def write(folder: Path, meta: dict[str, Any]) -> None:
    """Write ``meta`` as the folder's metadata.json (atomically)."""
    if meta.get("status") not in STATUSES:
        raise ValueError(f"metadata status {meta.get('status')!r}")
    atomic.write_json(folder / NAME, meta)


def read(folder: Path) -> dict[str, Any]:
    """The metadata of a build folder, or an error saying to build first."""
    path = folder / NAME
    if not path.is_file():
        raise KscribeError(f"{folder}: nothing built yet; run `kscribe build` first")
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise KscribeError(f"{path}: unreadable ({e}); build again") from None
    if not isinstance(meta, dict) or meta.get("status") not in STATUSES:
        raise KscribeError(f"{path}: not a kscribe build's metadata; build again")
    return meta


def built(folder: Path) -> dict[str, Any]:
    """The metadata of a successful build, or an error."""
    meta = read(folder)
    if meta["status"] != "ok":
        raise KscribeError(f"{folder / NAME}: the last build did not succeed")
    return meta


def modules(folder: Path) -> list[Path]:
    """The ``.ko`` files of the folder's last successful build, in load order."""
    return [folder / f"{m}.ko" for m in built(folder)["modules"]]


def intact(folder: Path) -> bool:
    """True when the last build succeeded and every artifact it lists is there, unchanged
    in size (a cheap check for up-to-date decisions)."""
    try:
        meta = built(folder)
    except KscribeError:
        return False
    arts = meta.get("artifacts", {})
    return bool(arts) and all((folder / n).is_file() and (folder / n).stat().st_size == a["size"]
                              for n, a in arts.items())
