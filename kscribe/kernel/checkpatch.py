"""The kernel's own ``scripts/checkpatch.pl``, taken from the target kernel's source package.

Only three files are needed (the script, ``spelling.txt`` and ``const_structs.checkpatch``);
they are pulled out of ``linux-source-<v>`` of exactly the target's version and cached.
``checkpatch`` ends its report with ``total: N errors, M warnings, K checks, L lines checked``,
a stable format that is parsed here.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from kscribe.config.settings import Settings
from kscribe.debian import linux_source
from kscribe.debian.lock import Resolved
from kscribe.errors import KscribeError
from kscribe.util import atomic, proc

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
    deb = linux_source.fetch(settings, resolved)
    with atomic.atomic_path(folder, directory=True) as tmp:
        _extract(deb, tmp)
    return folder / FILES[0]


def _extract(deb: Path, dest: Path) -> None:
    """Pull FILES out of the source tarball inside the ``linux-source`` package."""
    found: set[str] = set()
    with contextlib.closing(linux_source.files(deb)) as members:
        for rel, m, tar in members:
            if rel in FILES and m.isfile():
                src = tar.extractfile(m)
                assert src is not None
                out = dest / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(src.read())
                found.add(rel)
                if len(found) == len(FILES):
                    break
    if len(found) != len(FILES):
        raise KscribeError(f"{deb.name}: missing {', '.join(sorted(set(FILES) - found))}")
    (dest / FILES[0]).chmod(0o755)


def check(checkpatch: Path, path: Path, strict: bool = True) -> Report:
    """Run ``checkpatch.pl --no-tree -f`` on one source file."""
    argv: list[str | Path] = ["perl", checkpatch, "--no-tree", "--show-types", "-f", path]
    if strict:
        argv.insert(2, "--strict")
    return _report(path, proc.run(argv, check=False, why="to run checkpatch.pl").stdout)


def check_patch(tree: Path, patch: Path) -> Report:
    """Run the tree's own ``scripts/checkpatch.pl --strict`` on a patch, from the tree's top
    (so that it checks SPDX tags, MAINTAINERS and commit references against the tree)."""
    argv: list[str | Path] = ["perl", "scripts/checkpatch.pl", "--strict", "--show-types",
                              patch]
    # its SPDX check runs scripts/spdxcheck.py with the python3 on PATH, which needs the
    # ply and git modules of Debian's python3-ply and python3-git: Debian's python3 first
    env = {**os.environ, "PATH": f"/usr/bin:{os.environ.get('PATH', '')}"}
    r = proc.run(argv, cwd=tree, env=env, check=False, why="to run checkpatch.pl")
    if "Traceback (most recent call last)" in r.stdout + r.stderr:
        raise KscribeError(f"checkpatch's SPDX check (scripts/spdxcheck.py) failed on {patch}: "
                           f"{proc.tail(r.stderr)}; run ./setup (python3-ply, python3-git)")
    return _report(patch, r.stdout)


def _report(path: Path, out: str) -> Report:
    m = _TOTAL.search(out)
    if m is None:
        raise KscribeError(f"checkpatch gave no total for {path}: {proc.tail(out)}")
    return Report(path=path, errors=int(m.group(1)), warnings=int(m.group(2)),
                  checks=int(m.group(3) or 0), text=out)


def findings(report: Report) -> list[tuple[str, str]]:
    """The (level, type) of each finding of a ``--show-types`` report, in order."""
    return re.findall(r"^(ERROR|WARNING|CHECK):(\w+):", report.text, re.M)
