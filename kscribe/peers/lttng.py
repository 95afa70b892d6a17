"""LTTng's kernel tracer as a Debian user gets it: the suite's ``lttng-modules-dkms`` sources
built for the target's kernel by the target's toolchain, as dkms would build them.

A stable update of a suite's kernel sometimes changes an API that the packaged
lttng-modules predates, and its build fails. The fixes in ``kscribe/data/lttng-fixes.toml``
are applied then, each only to the versions it names and only when the kernel's own headers
show the change; the build says which it applied.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from kscribe.config.settings import Settings
from kscribe.debian.dkms_source import dkms_tree
from kscribe.errors import KscribeError
from kscribe.kernel.tree import KernelTree, read_tree
from kscribe.pipeline import Prepared, build_as_dkms
from kscribe.util import atomic, log, proc, tomldata

PACKAGE = "lttng-modules-dkms"
FIXES = "lttng-fixes.toml"


@dataclass(frozen=True)
class Fix:
    """One minimal fix of lttng-modules for a kernel API change."""

    name: str
    versions: tuple[str, ...]
    file: str
    matches: str
    patch: str

    def needed(self, version: str, tree: KernelTree) -> bool:
        """True for a version it names, on a kernel whose headers show the change."""
        if version not in self.versions:
            return False
        for base in (tree.path, tree.srctree):
            header = base / self.file
            if header.is_file():
                return re.search(self.matches, header.read_text(errors="replace")) is not None
        return False


def fixes() -> list[Fix]:
    """The fixes of ``kscribe/data/lttng-fixes.toml``."""
    out = []
    for row in tomldata.Row(FIXES, "", tomldata.load(FIXES)).rows("fix"):
        when = row.row("when")
        out.append(Fix(row.text("name"), row.strings("versions"), when.text("file"),
                       when.text("matches"), row.text("patch")))
    return out


@dataclass(frozen=True)
class Built:
    """lttng-modules built for one kernel."""

    version: str       # the Debian package's
    fixes: list[str]   # the names of the fixes applied
    modules: list[Path]


def build(settings: Settings, p: Prepared, folder: Path) -> Built:
    """The suite's lttng-modules built for ``p``'s kernel under ``folder`` (once per
    package, kernel and set of fixes)."""
    deb, tree = dkms_tree(settings, p.target.suite.name, PACKAGE)
    upstream = tree.name.removeprefix("lttng-modules-")
    kernel = read_tree(p.provisioned.kdir)
    needed = [f for f in fixes() if f.needed(upstream, kernel)]
    work, stamp = folder / "lttng-modules", folder / "lttng-modules.json"
    key = {"package": f"{deb.name} {deb.version}", "sha256": deb.sha256,
           "kernel": p.resolved.version, "abi": p.resolved.abi,
           "fixes": [f.name for f in needed]}
    try:
        done = json.loads(stamp.read_text())
    except (OSError, ValueError):
        done = {}
    if done.get("key") != key or not all((work / m).is_file() for m in done["modules"]):
        source = folder / "lttng-modules-source"
        if source.exists():
            shutil.rmtree(source)
        shutil.copytree(tree, source, symlinks=True)
        for fix in needed:
            _apply(fix, source)
        built = build_as_dkms(settings, p, source, work, "lttng-modules")
        done = {"key": key, "modules": sorted(built.modules)}
        atomic.write_json(stamp, done)
    applied = f", with fixes: {'; '.join(key['fixes'])}" if needed else ""
    log.progress(f"{PACKAGE} {deb.version}: {len(done['modules'])} modules for "
                 f"{p.resolved.abi}{applied}")
    return Built(deb.version, list(key["fixes"]), [work / m for m in done["modules"]])


def _apply(fix: Fix, source: Path) -> None:
    patch = resources.files("kscribe.data").joinpath("lttng-fixes").joinpath(fix.patch)
    done = proc.run(["patch", "-p1", "--forward", "--batch", "--quiet"], cwd=source,
                    input=patch.read_text(), check=False, why="to apply a fix to lttng-modules")
    if done.returncode != 0:
        raise KscribeError(f"kscribe/data/lttng-fixes/{fix.patch} ({fix.name}) does not apply "
                           f"to {source.name}: {proc.tail(done.stdout + done.stderr)}")
