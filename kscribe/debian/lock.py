"""The lock file (``kscribe.lock``): every target pinned to exact packages.

The one reader and writer of the file. It is JSON, ``{"targets": {TARGET: entry}}``; a file
that is not valid JSON, or an entry that lacks a field, is an error naming the file (and
line or target) and saying how to repair it: ``kscribe resolve --refresh TARGET``, which
pins that target again without reading the damaged file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kscribe.debian.archive import Deb
from kscribe.errors import KscribeError
from kscribe.util import atomic, log
from kscribe.util.locking import file_lock

# What a target is pinned to, by role: "modules" is the package holding the kernel's
# modules (the image package itself up to 6.x; linux-modules-<abi> beside linux-binary-*).
ROLES = ("headers", "common", "kbuild", "image", "modules", "busybox")


@dataclass(frozen=True)
class Resolved:
    """A target pinned to packages: ``abi`` is the kernel's release (``uname -r``)."""

    target: str
    version: str
    abi: str
    suite: str
    debs: dict[str, Deb]

    def to_lock(self) -> dict[str, Any]:
        return {"version": self.version, "abi": self.abi, "suite": self.suite,
                "packages": {k: v.to_lock() for k, v in self.debs.items()}}

    @classmethod
    def from_lock(cls, target: str, d: dict[str, Any]) -> Resolved:
        return cls(target=target, version=d["version"], abi=d["abi"], suite=d["suite"],
                   debs={k: Deb.from_lock(v) for k, v in d["packages"].items()})


def _repair(path: Path, target: str = "TARGET") -> str:
    return f"run `kscribe resolve --refresh {target}` to pin it again, or delete {path.name}"


def read(path: Path) -> dict[str, dict[str, Any]]:
    """The entries of the lock file by target name (empty when there is no file)."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise KscribeError(f"{path}:{e.lineno}: not valid JSON ({e.msg}); "
                           f"{_repair(path)}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise KscribeError(f"{path}: cannot read the lock file ({e}); {_repair(path)}") from None
    targets = data.get("targets", {}) if isinstance(data, dict) else None
    if not isinstance(targets, dict):
        raise KscribeError(f"{path}: not a kscribe lock file (no \"targets\" object); "
                           f"{_repair(path)}")
    return targets


def pinned(path: Path, target: str) -> Resolved | None:
    """The pin of ``target``, None when the lock has none."""
    entry = read(path).get(target)
    if entry is None:
        return None
    if isinstance(entry, dict) and isinstance(entry.get("packages"), dict) and \
            set(entry["packages"]) != set(ROLES):
        log.note(f"{path}: the pin of {target} names other roles than "
                 f"{', '.join(ROLES)}; resolving it again")
        return None
    try:
        return Resolved.from_lock(target, entry)
    except (KeyError, TypeError, AttributeError) as e:
        raise KscribeError(f"{path}: the entry of {target} is damaged (missing {e}); "
                           f"{_repair(path, target)}") from None


def pin(path: Path, resolved: Resolved) -> None:
    """Write ``resolved`` into the lock file, keeping the other targets' entries.

    A damaged lock file is replaced by one that pins only this target (with a note): that
    is the repair its error message offers.
    """
    with file_lock(path.with_name(path.name + ".flock")):
        try:
            targets = read(path)  # another cell may have written meanwhile
        except KscribeError as e:
            log.note(f"{e}: replacing it with a lock of {resolved.target} only")
            targets = {}
        targets[resolved.target] = resolved.to_lock()
        atomic.write_json(path, {"targets": targets})
