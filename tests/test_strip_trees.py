"""kscribe strip and kscribe sloc on real out-of-tree trees that nobody here wrote.

Three Debian -dkms packages in different styles (vhba: one file, plain LINUX_VERSION_CODE
tests; evdi: backwards comparisons OR'd with -D flags its Makefile computes from the build
machine, decided by a rules file; openvpn-dco: RHEL and SUSE range macros with the tree's
own fallback definitions, a force-included compat header, a $(wildcard) header probe),
each stripped for the old and the newest kernel of our cells (bookworm 6.1 with the host's
gcc, trixie 6.12 in its toolchain chroot) and proven by building both trees against that
kernel's real headers: the same modules, the same .text, the same symbols. sloccount is
the oracle of every SLOC figure.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from kscribe.debian.dkms_source import dkms_tree
from kscribe.pipeline import strip_tree
from kscribe.sloc import facets

from .conftest import need_tool

pytestmark = pytest.mark.usefixtures("network")
HERE = Path(__file__).resolve().parent
TREES = {"vhba-dkms": None, "evdi-dkms": HERE / "strip/evdi.toml", "openvpn-dco-dkms": None}
KERNELS = ("bookworm/amd64", "trixie/amd64")


@pytest.fixture(scope="module", params=list(TREES))
def tree(request, settings):
    _, path = dkms_tree(settings, "trixie", request.param)
    return request.param, path


@pytest.fixture(scope="module", params=KERNELS)
def stripped(request, tree, settings, tmp_path_factory):
    if request.param != "bookworm/amd64":
        request.getfixturevalue("root")  # a toolchain chroot
    package, path = tree
    out = tmp_path_factory.mktemp("strip") / package
    report, verdict = strip_tree(path, out, settings, target=request.param,
                                 rules=TREES[package], verify=True)
    return package, path, out, report, verdict


def test_the_stripped_tree_builds_to_the_same_modules(stripped):
    _, _, _, report, verdict = stripped
    assert verdict is not None and verdict.ok, verdict.differences if verdict else None
    assert verdict.original.modules and \
        set(verdict.original.modules) == set(verdict.stripped.modules)
    total = report.total()
    assert total.removed > 0 and report.lines_removed > 0
    # the speed goal (under 5 s) is bench/strip.py's, not a test's: a test's time is the
    # machine's, shared with the other worker


def test_no_version_test_is_left(stripped):
    """What stays of LINUX_VERSION_CODE after a strip is only what the target cannot
    decide, and every such site is reported."""
    package, _, out, report, _ = stripped
    left = []
    for p in sorted(out.rglob("*.[ch]")):
        for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
            if re.match(r"\s*#\s*(el)?if.*(LINUX_VERSION_CODE|KERNEL_VERSION)", line):
                left.append(f"{p.relative_to(out)}:{n}")
    reported = {f"{f.rel}:{s.line}" for f in report.files for s in f.counts.undecided}
    assert set(left) <= reported, left
    if package != "openvpn-dco-dkms":
        assert not left


def test_sloc_equals_sloccounts_per_facet_before_and_after(stripped):
    need_tool("sloccount")
    _, path, out, _, _ = stripped
    for tree in (path, out):
        rows = facets.measure([tree], None)
        assert {r.facet: r.sloc[0] for r in rows} == _sloccount(tree)


def test_evdi_is_decided_whole_with_its_rules(settings, tmp_path):
    """Without the rules, evdi's distribution flags stay; with them nothing does."""
    _, path = dkms_tree(settings, "trixie", "evdi-dkms")
    bare, _ = strip_tree(path, tmp_path / "bare", settings, kernel="6.1.192",
                         distro="debian:6.1.0-57")
    ruled, _ = strip_tree(path, tmp_path / "ruled", settings, kernel="6.1.192",
                          distro="debian:6.1.0-57", rules=TREES["evdi-dkms"])
    assert bare.total().rewritten > 0 and "EL9" in bare.undecided_macros
    assert ruled.total().rewritten == 0 and "EL9" not in ruled.undecided_macros
    assert ruled.lines_removed > bare.lines_removed


def test_a_tree_that_does_not_build_is_refused_before_anything_is_written(
        settings, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "Makefile").write_text("obj-m += broken.o\n")
    (broken / "broken.c").write_text("#include <linux/module.h>\nint x = y;\n"
                                     "MODULE_LICENSE(\"GPL\");\n")
    with pytest.raises(Exception, match=r"the original tree does not build: .*broken\.c:2:"):
        strip_tree(broken, tmp_path / "out", settings, target="bookworm/amd64", verify=True)
    assert not (tmp_path / "out").exists()


def _sloccount(tree: Path) -> dict[str, int]:
    """sloccount's own ANSI C figures per file list (its facets), from --details."""
    done = subprocess.run(["sloccount", "--details", str(tree)], capture_output=True,
                          text=True, check=True)
    out: dict[str, int] = {}
    for line in done.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[1] == "ansic":
            group = parts[2] if parts[2] != tree.name else "."
            out[group] = out.get(group, 0) + int(parts[0])
    return out


def test_sloc_of_our_tracer_by_facet_equals_sloccounts(settings, tmp_path):
    """patches/facets.yaml over the build folder of bookworm/amd64: every facet's SLOC is
    sloccount's (--autogen: the probes and tables are generated)."""
    need_tool("sloccount")
    from kscribe.codegen.module import render_sources
    from kscribe.instrument.syscalls import tables
    from kscribe.kernel.tree import read_tree
    from kscribe.pipeline import prepare

    p = prepare("bookworm/amd64", settings)
    src = tmp_path / "src"
    render_sources(read_tree(p.provisioned.kdir), src, target=p.target.name,
                   arch=p.target.arch, syscalls=tables(p, settings))
    plan = facets.load(HERE.parent / "patches/facets.yaml")
    rows = {r.facet: r.sloc[0] for r in facets.measure([src], plan, autogen=True)}
    done = subprocess.run(["sloccount", "--autogen", "--details", str(src)],
                          capture_output=True, text=True, check=True)
    want = dict.fromkeys(rows, 0)
    for line in done.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[1] == "ansic":
            rel = str(Path(parts[3]).relative_to(src))
            facet = next((f.name for f in plan if f.matches(rel)), None)
            if facet:
                want[facet] += int(parts[0])
    assert rows == want and rows["core"] and rows["probes"] and rows["syscalls"]
