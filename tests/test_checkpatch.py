"""All C of the tracer, hand-written and generated, is clean under the kernel's checkpatch."""

import re

import pytest

from kscribe.codegen.module import generated_sources, render_sources
from kscribe.config import paths
from kscribe.instrument.syscalls import tables
from kscribe.kernel.checkpatch import check, script
from kscribe.kernel.tree import read_tree
from kscribe.pipeline import prepare

pytestmark = pytest.mark.usefixtures("network")


def test_hand_written_c_is_clean(settings):
    tool = script(settings, prepare("bookworm/amd64", settings).resolved)
    files = [*paths.KERNEL_MODULE.rglob("*.[ch]"), *(paths.ROOT / "tests/guest").glob("*.c")]
    assert len(files) >= 7
    for f in files:
        r = check(tool, f)
        assert (r.errors, r.warnings, r.checks) == (0, 0, 0), r.text


# What the newest kernel's checkpatch asks of code that older supported kernels cannot
# follow: kzalloc_obj() (7.x) for kzalloc(sizeof(*p)). The out-of-tree source keeps the
# portable form (kernel_module/DESIGN.md); an in-tree rendering uses the new API.
NEWER_APIS = {"ALLOC_WITH_SIZEOF"}


def test_hand_written_c_is_clean_with_the_newest_checkpatch(settings):
    """sid's checkpatch flags APIs that bookworm's does not: only the portable forms remain."""
    tool = script(settings, prepare("sid/amd64", settings).resolved)
    files = [*paths.KERNEL_MODULE.rglob("*.[ch]"), *(paths.ROOT / "tests/guest").glob("*.c")]
    flagged = {}
    for f in files:
        r = check(tool, f)
        assert r.errors == r.checks == 0, r.text
        kinds = set(re.findall(r"^WARNING:(\w+):", r.text, re.M))
        assert len(re.findall(r"^WARNING:", r.text, re.M)) == r.warnings
        assert kinds <= NEWER_APIS, r.text
        flagged.update({f.name: r.warnings} if r.warnings else {})
    assert set(flagged) <= {"kscribe_core.c"}, flagged


@pytest.mark.parametrize("target,with_syscalls", [
    ("bookworm/amd64", True), ("sid/arm64", True), ("bullseye/amd64", False)])
def test_generated_c_is_clean(settings, tmp_path, target, with_syscalls):
    tool = script(settings, prepare("bookworm/amd64", settings).resolved)
    p = prepare(target, settings)
    render_sources(read_tree(p.provisioned.kdir), tmp_path, target=target,
                   arch=p.target.arch,
                   syscalls=tables(p, settings) if with_syscalls else None)
    generated = generated_sources(tmp_path)
    assert len(generated) >= 11 + with_syscalls
    for f in generated:
        r = check(tool, f)
        assert (r.errors, r.warnings, r.checks) == (0, 0, 0), r.text
