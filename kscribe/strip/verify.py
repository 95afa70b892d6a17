"""The proof of a strip: the original and the stripped tree build to the same code.

Both trees are built as dkms would build them on the user's machine: the ``MAKE`` of the
tree's ``dkms.conf`` (sourced by bash with dkms's variables, a leading ``make`` given
``-jN KERNELRELEASE=``), else ``make -C <kernel> M=<tree>``; a rules file may say otherwise.
Then, per module: the same set of ``.ko``, the same size of ``.text`` and the same
symbols (``readelf``), or the differences, each named.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kscribe.errors import KscribeError
from kscribe.kernel.diagnostics import count_diagnostics
from kscribe.util import atomic, proc

WHY = "to compare the modules of the original and the stripped tree"
# what sourcing dkms.conf prints: one variable a line
_DKMS_PRINT = ('printf "MAKE=%s\\n" "${MAKE[0]:-$MAKE}"; '
               'printf "NAME=%s\\n" "${BUILT_MODULE_NAME[@]}"; '
               'printf "LOCATION=%s\\n" "${BUILT_MODULE_LOCATION[@]}"')


@dataclass(frozen=True)
class Module:
    """One built module: its ``.text`` size and its symbols (name, type, binding)."""

    text: int
    symbols: frozenset[tuple[str, str, str]]


@dataclass
class Build:
    tree: Path
    command: str
    log: Path
    modules: dict[str, Module] = field(default_factory=dict)    # rel path -> module


@dataclass
class Verdict:
    original: Build
    stripped: Build
    differences: list[str]

    @property
    def ok(self) -> bool:
        return not self.differences


# runs an argv in a folder with extra environment (the target's toolchain)
Runner = Callable[[list[str], Path, dict[str, str]], subprocess.CompletedProcess]


def make_command(tree: Path, kdir: Path, release: str, override: str | None) -> str:
    """The shell command that builds ``tree`` against ``kdir`` as dkms would."""
    jobs = os.cpu_count() or 1
    if override:
        return override.format(kdir=kdir, tree=tree, release=release, jobs=jobs)
    conf = tree / "dkms.conf"
    command = ""
    if conf.is_file():
        env = {"kernelver": release, "kernel_source_dir": str(kdir), "dkms_tree": "/dkms",
               "arch": "", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        script = f"cd {shlex.quote(str(tree))} && . ./dkms.conf >/dev/null && {_DKMS_PRINT}"
        done = proc.run(["bash", "-c", script], env=env, check=False, why=WHY)
        if done.returncode != 0:
            raise KscribeError(f"{conf}: bash cannot source it: {proc.tail(done.stderr)}")
        found = re.search(r"^MAKE=(.*)$", done.stdout, re.M)
        command = found[1].strip() if found else ""
        if command:
            # the build folder dkms makes: <dkms_tree>/<name>/<version>/build
            command = re.sub(r"/dkms/[^/\s]*/[^/\s]*/build", str(tree), command)
    if not command:
        command = f"make -C {shlex.quote(str(kdir))} M={shlex.quote(str(tree))}"
    if command.startswith("make "):
        command = f"make -j{jobs} KERNELRELEASE={release} " + command[len("make "):]
    return command


def build(tree: Path, command: str, run: Runner, env: dict[str, str], label: str) -> Build:
    """Build ``tree`` with ``command``; an error naming the first error line if it fails."""
    for stale in tree.rglob("*.ko"):
        stale.unlink()
    done = run(["sh", "-c", command], tree, {**env, "PWD": str(tree)})
    text = done.stdout + done.stderr
    log = tree.parent / f"{tree.name}.build.log"
    atomic.write_text(log, f"$ {command}\n{text}")
    kos = sorted(tree.rglob("*.ko"))
    if done.returncode != 0 or not kos:
        _, _, first = count_diagnostics(text)
        first = [f for f in first if not f.startswith("make")] or first
        cause = first[0] if first else (proc.tail(text) if done.returncode else "no .ko built")
        raise KscribeError(f"the {label} tree does not build: {cause} (log: {log})")
    b = Build(tree, command, log)
    for ko in kos:
        b.modules[str(ko.relative_to(tree))] = read_module(ko)
    return b


def read_module(ko: Path) -> Module:
    """The ``.text`` size and the symbols of a module, as readelf shows them."""
    sections = proc.run(["readelf", "-SW", ko], why=WHY).stdout
    size = 0
    for m in re.finditer(r"\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)", sections):
        if m[1] == ".text":
            size = int(m[2], 16)
    symbols = set()
    for line in proc.run(["readelf", "-sW", ko], why=WHY).stdout.splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[0].endswith(":") and parts[3] not in ("FILE", "SECTION"):
            symbols.add((parts[7], parts[3], parts[4]))
    return Module(size, frozenset(symbols))


def compare(a: Build, b: Build) -> list[str]:
    """The differences between two builds' modules, one line each."""
    out = []
    for rel in sorted(set(a.modules) ^ set(b.modules)):
        out.append(f"{rel}: built from the {'original' if rel in a.modules else 'stripped'} "
                   "tree only")
    for rel in sorted(set(a.modules) & set(b.modules)):
        x, y = a.modules[rel], b.modules[rel]
        if x.text != y.text:
            out.append(f"{rel}: .text is {x.text} bytes, stripped {y.text}")
        gone = sorted(s[0] for s in x.symbols - y.symbols)
        new = sorted(s[0] for s in y.symbols - x.symbols)
        if gone or new:
            out.append(f"{rel}: symbols differ (only in the original: "
                       f"{', '.join(gone[:5]) or '-'}; only stripped: {', '.join(new[:5]) or '-'})")
    return out


def copy_tree(src: Path, dest: Path) -> Path:
    """A fresh copy of ``src`` at ``dest`` to build in (the tree itself stays clean)."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest, symlinks=True)
    return dest
