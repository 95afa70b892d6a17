"""The kernel's own ``scripts/checkpatch.pl``, taken from the target kernel's source package.

Only three files are needed (the script, ``spelling.txt`` and ``const_structs.checkpatch``);
they are pulled out of ``linux-source-<v>`` of exactly the target's version and cached.
``checkpatch`` ends its report with ``total: N errors, M warnings, K checks, L lines checked``,
a stable format that is parsed here.
"""

from __future__ import annotations

import re
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from kscribe import atomic
from kscribe.errors import KscribeError
from kscribe.hosttools import require
from kscribe.provision import fetch_deb
from kscribe.resolve import Resolved, _archive
from kscribe.settings import Settings
from kscribe.tables import ArchiveRef

FILES = ("scripts/checkpatch.pl", "scripts/spelling.txt", "scripts/const_structs.checkpatch")
_TOTAL = re.compile(r"^total: (\d+) errors, (\d+) warnings(?:, (\d+) checks)?, (\d+) lines "
                    r"checked", re.M)


@dataclass(frozen=True)
class Report:
    """One file's checkpatch result."""

    path: Path
    errors: int
    warnings: int
    checks: int
    text: str


def script(settings: Settings, resolved: Resolved) -> Path:
    """The cached ``checkpatch.pl`` of the kernel source matching ``resolved``."""
    folder = settings.cache_dir / "checkpatch" / resolved.version.replace(":", "_")
    if (folder / FILES[0]).is_file():
        return folder / FILES[0]
    arc = _archive(settings, ArchiveRef(_archive_name(settings, resolved), resolved.suite))
    index = arc.index("amd64")
    source = next((d for name, debs in index.by_name.items() if name.startswith("linux-source-")
                   for d in debs if d.version == resolved.version), None)
    if source is None:
        raise KscribeError(f"no linux-source package of version {resolved.version} in "
                           f"{resolved.suite}: cannot get checkpatch.pl")
    deb = fetch_deb(settings, source)
    with atomic.atomic_path(folder, directory=True) as tmp:
        _extract(deb, tmp)
    return folder / FILES[0]


def _archive_name(settings: Settings, resolved: Resolved) -> str:
    base = resolved.debs["headers"].base_url
    return next(k for k, v in settings.mirrors.items() if v == base)


def _extract(deb: Path, dest: Path) -> None:
    """Pull FILES out of the source tarball inside the ``linux-source`` package."""
    data = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    found: set[str] = set()
    with tarfile.open(fileobj=data.stdout, mode="r|") as outer:
        for member in outer:
            if not re.match(r"^\./usr/src/linux-source-[\d.]+\.tar\.xz$", member.name):
                continue
            with tarfile.open(fileobj=outer.extractfile(member), mode="r|xz") as inner:
                for m in inner:
                    rel = m.name.split("/", 1)[-1]
                    if rel in FILES and m.isfile():
                        out = dest / rel
                        out.parent.mkdir(parents=True, exist_ok=True)
                        out.write_bytes(inner.extractfile(m).read())
                        found.add(rel)
                        if len(found) == len(FILES):
                            break
            break
    data.kill()
    data.wait()
    if len(found) != len(FILES):
        raise KscribeError(f"{deb.name}: missing {', '.join(sorted(set(FILES) - found))}")
    (dest / FILES[0]).chmod(0o755)


def check(checkpatch: Path, path: Path, strict: bool = True) -> Report:
    """Run ``checkpatch.pl --no-tree -f`` on one source file."""
    require("perl", why="to run checkpatch.pl")
    argv = [str(checkpatch), "--no-tree", "--show-types", "-f", str(path)]
    if strict:
        argv.insert(1, "--strict")
    proc = subprocess.run(argv, capture_output=True, text=True)
    m = _TOTAL.search(proc.stdout)
    if m is None:
        raise KscribeError(f"checkpatch gave no total for {path}: {proc.stdout[-200:]}")
    return Report(path=path, errors=int(m.group(1)), warnings=int(m.group(2)),
                  checks=int(m.group(3) or 0), text=proc.stdout)
