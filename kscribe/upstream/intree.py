"""The build gate: the tracer built in its kernel tree after every patch of a series.

The tree is configured as the Debian kernel it stands for: that kernel's ``.config``,
``Module.symvers`` and BTF ``vmlinux`` from its headers package are copied into the tree
root (no ``vmlinux`` is built), and the release is forced with ``KERNELRELEASE=`` so that
the modules load in that kernel. Then, at each commit, every symbol of the tracer's Kconfig
is set to ``m``, then ``y``, then ``n``: ``m`` builds the modules with ``make W=1 M=<dir>``
after ``modules_prepare`` (``M=`` reads ``auto.conf``, which only a prepare rewrites); ``y``
builds the folder's objects into the kernel; ``n`` must build nothing and fail nothing.
Any compiler or kbuild warning fails the gate, as does a symbol whose module is missing.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from kscribe.config.arches import Arch
from kscribe.kernel.diagnostics import count_diagnostics
from kscribe.toolchain.select import Toolchain
from kscribe.upstream.gates import GateFailed, exports, undefined_symbols
from kscribe.upstream.series import Series
from kscribe.util import atomic, log, proc
from kscribe.util.git import git

# what a kernel source tree needs beyond an external-module build: kconfig's lexer and
# parser, objtool's libelf, sign-file's libssl, bc for timeconst.h, python3 for the BTF tools
SOURCE_TREE_PACKAGES = ("flex", "bison", "bc", "libelf-dev", "libssl-dev", "python3")
# copied from the Debian kernel's headers into the tree root
KERNEL_FILES = (".config", "Module.symvers", "vmlinux")
VALUES = ("m", "y", "n")


@dataclass
class Tree:
    """A kernel tree and how to run its kbuild as one Debian kernel."""

    path: Path
    headers: Path                 # the Debian kernel's headers folder (its kbuild dir)
    arch: Arch
    toolchain: Toolchain
    release: str                  # the Debian kernel's uname -r

    def make(self, *args: str) -> tuple[int, str]:
        tc = self.toolchain
        argv = ["make", "-j2", f"ARCH={self.arch.kbuild_arch}", f"CC={tc.cc}",
                f"HOSTCC={tc.cc}", f"KERNELRELEASE={self.release}", *args]
        if tc.cross_compile:
            argv.insert(3, f"CROSS_COMPILE={tc.cross_compile}")
        r = tc.run(argv, self.path, {"LC_ALL": "C"})
        return r.returncode, r.stdout + r.stderr


def symbols(tree: Path, folder: str) -> list[str]:
    """The config symbols of ``folder``'s Kconfig, in order (none before it exists)."""
    kconfig = tree / folder / "Kconfig"
    return re.findall(r"^config (\w+)$", kconfig.read_text(), re.M) if kconfig.is_file() else []


def modules_of(tree: Path, folder: str, symbol_list: list[str]) -> dict[str, str]:
    """symbol -> module name, from the folder's Makefile (``obj-$(CONFIG_X) += name.o``)."""
    make = (tree / folder / "Makefile").read_text()
    found = dict(re.findall(r"^obj-\$\(CONFIG_(\w+)\) \+= (\w+)\.o$", make, re.M))
    return {s: found[s] for s in symbol_list if s in found}


def orphans(tree: Path, folder: str) -> list[str]:
    """The C files of ``folder`` that its Makefile builds into nothing (``obj-`` or a
    module's ``-y`` list): code a patch adds must be active at that patch."""
    make = (tree / folder / "Makefile").read_text() if (tree / folder / "Makefile").is_file() \
        else ""
    objects = set(re.findall(r"(\w+)\.o\b", make))
    return sorted(c.name for c in (tree / folder).glob("*.c")
                  if c.stem not in objects and not c.name.endswith(".mod.c"))  # kbuild's own


def _configure(t: Tree, syms: list[str], value: str) -> None:
    for name in KERNEL_FILES:
        if (t.headers / name).is_file():
            shutil.copyfile(t.headers / name, t.path / name)
    flag = {"m": "--module", "y": "--enable", "n": "--disable"}[value]
    args = [a for s in syms for a in (flag, s)]
    proc.run(["bash", "scripts/config", "--file", ".config", *args], cwd=t.path,
             why="to set the tracer's options")


def _step(t: Tree, label: str, *args: str) -> str:
    rc, out = t.make(*args)
    warnings, errors, first = count_diagnostics(out)
    if rc or warnings or errors:
        what = first[0] if first else ("warnings" if warnings else proc.tail(out))
        raise GateFailed(f"{label}: make {' '.join(args)}: exit {rc}, {warnings} warnings: "
                         f"{what}", out)
    return out


def build_commit(t: Tree, folder: str, label: str) -> dict[str, object]:
    """Build the tracer as m, y and n at the tree's current commit; what each gave."""
    syms = symbols(t.path, folder)
    result: dict[str, object] = {}
    if not syms:
        return {"skipped": f"no {folder}/Kconfig yet"}
    mods = modules_of(t.path, folder, syms)
    lost = orphans(t.path, folder)
    if lost:
        raise GateFailed(f"{label}: {', '.join(lost)} in {folder} built by no Makefile line")
    for value in VALUES:
        started = time.monotonic()
        _configure(t, syms, value)
        _step(t, f"{label}, ={value}", "olddefconfig")
        config = (t.path / ".config").read_text()
        for s in syms:
            want = f"CONFIG_{s}={value}" if value != "n" else f"# CONFIG_{s} is not set"
            if value != "n" and want not in config:
                raise GateFailed(f"{label}, ={value}: olddefconfig did not keep CONFIG_{s}="
                                 f"{value} (an unmet dependency?)", config)
        shutil.rmtree(t.path / folder / ".tmp_versions", ignore_errors=True)
        git(t.path, "clean", "-q", "-fdX", "--", folder)
        if value == "m":
            _step(t, f"{label}, =m", "modules_prepare")
            _step(t, f"{label}, =m", "W=1", f"M={folder}", "modules")
            missing = [m for m in mods.values() if not (t.path / folder / f"{m}.ko").is_file()]
            if missing:
                raise GateFailed(f"{label}, =m: no {', '.join(missing)}.ko was built")
            result["m"] = sorted(mods.values())
        else:
            _step(t, f"{label}, ={value}", "W=1", f"{folder}/")
            built = sorted(p.name for p in (t.path / folder).glob("*.o")
                           if not p.name.endswith(".mod.o"))
            if value == "n" and built:
                raise GateFailed(f"{label}, =n: objects built with the tracer off: {built}")
            if value == "y" and not built:
                raise GateFailed(f"{label}, =y: nothing built into the kernel")
            result[value] = built
        result[f"{value}_s"] = round(time.monotonic() - started, 1)
    return result


SELFTEST = "tools/testing/selftests/kscribe/kscribe_test.c"
UAPI_HEADER = "usr/include/linux/kscribe.h"


@dataclass(frozen=True)
class Outputs:
    """What the gate keeps of the tip for the proof."""

    modules: Path          # every module of the tip: in-tree, then out of tree
    include: Path          # the uapi header as installed, for rebuilding the tracer's tools
    selftest: Path         # the tree's selftest, built static

    @classmethod
    def of(cls, folder: Path) -> Outputs:
        """Where a series' (or a history's) folder keeps them, for ``upstream_proof``."""
        return cls(modules=folder / "modules", include=folder / "include",
                   selftest=folder / "kscribe_test")


def gate(t: Tree, series: Series, folder: str, out: Outputs,
         outoftree: Path | None = None) -> None:
    """Build every commit of the series (bisectable) with no undefined Kconfig symbol; at the
    tip, check the exports and the uapi header, build what stays out of tree against the
    tree, and keep the modules, the installed header and the selftest."""
    for p in series.patches:
        git(t.path, "checkout", "-q", "--detach", "--force", p.commit)
        label = f"patch {p.number} ({p.subject})"
        log.progress(f"build gate: patch {p.number}/{len(series.patches)}: Kconfig symbols, "
                     "then =m, =y and =n")
        undefined = undefined_symbols(t.path, series.base_commit)
        p.gates["kconfig_symbols"] = undefined
        if undefined:
            raise GateFailed(f"{label}: Kconfig symbols used and not defined: "
                             f"{'; '.join(undefined)}")
        p.gates["build"] = build_commit(t, folder, label)
    tip(t, folder, series.gates, out, outoftree)


def tip(t: Tree, folder: str, gates: dict[str, object], out: Outputs,
        outoftree: Path | None = None) -> None:
    """At the tree's current commit (the tip): build the tracer as =m, check its exports and
    the uapi header, build ``outoftree`` (the modules that stay out of tree) against it, and
    keep the modules, the installed header and the selftest; what each gave into ``gates``."""
    log.progress("build gate: the tip as =m, its exports, the uapi header test")
    _configure(t, symbols(t.path, folder), "m")
    _step(t, "tip, =m", "olddefconfig")
    _step(t, "tip, =m", "modules_prepare")
    _step(t, "tip, =m", "W=1", f"M={folder}", "modules")
    kos = sorted((t.path / folder).glob("*.ko"))
    gates["exports"] = exports(t.path / folder / "Module.symvers",
                               {ko.stem: _imports(t, ko) for ko in kos})
    gates["uapi"] = uapi_test(t)
    if outoftree is not None:
        log.progress("build gate: the modules out of tree, against it")
        gates["out_of_tree"] = build_outside(t, folder, outoftree)
        kos += sorted(outoftree.glob("*.ko"))
    with atomic.atomic_path(out.modules, directory=True) as tmp:
        for ko in kos:
            shutil.copy2(ko, tmp / ko.name)
    # where the tracer's tools include it from: <uapi/linux/kscribe.h>
    atomic.write_text(out.include / "uapi" / "linux" / "kscribe.h",
                      (t.path / UAPI_HEADER).read_text())
    if (t.path / SELFTEST).is_file():
        selftest(t.path, out.selftest)


def _imports(t: Tree, ko: Path) -> set[str]:
    """The symbols a module takes from others (``nm -u``)."""
    r = t.toolchain.run(["nm", "--undefined-only", "--format=just-symbols", str(ko)], t.path)
    if r.returncode:
        raise GateFailed(f"nm {ko.name}: {proc.tail(r.stderr)}", r.stderr)
    return set(r.stdout.split())


def uapi_test(t: Tree) -> dict[str, object]:
    """``make headers`` (scripts/headers_install.sh refuses a header without the syscall note
    or with CONFIG_ in it), then the kernel's own header test (CONFIG_UAPI_HEADER_TEST:
    every exported header compiled alone as C90, twice for its include guard, and C++, and
    checked by headers_check.pl)."""
    started = time.monotonic()
    _step(t, "tip", "headers")
    proc.run(["bash", "scripts/config", "--file", ".config", "--enable", "HEADERS_INSTALL",
              "--enable", "UAPI_HEADER_TEST"], cwd=t.path, why="to enable the uapi header test")
    _step(t, "tip", "olddefconfig")
    if "CONFIG_UAPI_HEADER_TEST=y" not in (t.path / ".config").read_text():
        raise GateFailed("tip: CONFIG_UAPI_HEADER_TEST cannot be enabled in this tree")
    _step(t, "tip, uapi header test", "usr/")
    stamp = t.path / UAPI_HEADER.replace(".h", ".hdrtest")
    if not stamp.is_file():
        raise GateFailed(f"tip: the uapi header test did not test {UAPI_HEADER}")
    tested = len(list((t.path / "usr" / "include").rglob("*.hdrtest")))
    return {"headers_tested": tested, "s": round(time.monotonic() - started, 1)}


def build_outside(t: Tree, folder: str, src: Path) -> dict[str, object]:
    """The modules that stay out of tree (``src``, with its Kbuild), built with ``make M=``
    against the tree, with the symbols the in-tree core exports."""
    started = time.monotonic()
    _step(t, "out of tree", "W=1", f"M={src}",
          f"KBUILD_EXTRA_SYMBOLS={t.path / folder / 'Module.symvers'}", "modules")
    built = sorted(p.name for p in src.glob("*.ko"))
    wanted = re.findall(r"^obj-m \+= (\w+)\.o$", (src / "Kbuild").read_text(), re.M)
    missing = [m for m in wanted if f"{m}.ko" not in built]
    if missing:
        raise GateFailed(f"out of tree: no {', '.join(missing)}.ko was built")
    return {"modules": built, "s": round(time.monotonic() - started, 1)}


def selftest(tree: Path, dest: Path) -> Path:
    """The tree's selftest of the tracer, built static for the guest against the tree's own
    installed uapi headers (``make headers`` in the tree), with the host's compiler."""
    src = tree / SELFTEST
    headers = tree / "usr" / "include"
    if not (headers / "linux" / "kscribe.h").is_file():
        raise GateFailed(f"{tree}: make headers left no usr/include/linux/kscribe.h")
    with atomic.atomic_path(dest) as tmp:
        proc.run(["gcc", "-static", "-O2", "-Wall", "-Werror", "-isystem", headers,
                  "-o", tmp, src], why="to build the selftest for the guest")
        tmp.chmod(0o755)
    return dest
