"""All C of the tracer, hand-written and generated, is clean under the kernel's checkpatch."""

import pytest

from kscribe.codegen.module import generated_sources, render_sources
from kscribe.config import paths
from kscribe.instrument.syscalls import tables
from kscribe.kernel.checkpatch import check, script
from kscribe.kernel.tree import read_tree
from kscribe.pipeline import prepare

pytestmark = pytest.mark.usefixtures("network")


@pytest.mark.parametrize("target", ["bullseye/amd64", "bookworm/amd64", "sid/amd64"])
def test_hand_written_c_is_clean(settings, target):
    """0/0/0 with the oldest, the default and the newest kernel's checkpatch: the newest
    flags APIs the older ones do not know (kzalloc_obj() in 7.x)."""
    tool = script(settings, prepare(target, settings).resolved)
    files = [*paths.KERNEL_MODULE.rglob("*.[ch]"), *(paths.ROOT / "tests/guest").glob("*.c")]
    assert len(files) >= 7
    for f in files:
        r = check(tool, f)
        assert (r.errors, r.warnings, r.checks) == (0, 0, 0), r.text


@pytest.mark.parametrize("target,with_syscalls", [
    ("bookworm/amd64", True), ("sid/arm64", True), ("bullseye/amd64", False)])
def test_generated_c_is_clean(settings, tmp_path, target, with_syscalls):
    """Each target's generated C, checked with that target's own checkpatch."""
    p = prepare(target, settings)
    tool = script(settings, p.resolved)
    render_sources(read_tree(p.provisioned.kdir), tmp_path, target=target,
                   arch=p.target.arch,
                   syscalls=tables(p, settings) if with_syscalls else None)
    generated = generated_sources(tmp_path)
    assert len(generated) >= 11 + with_syscalls
    for f in generated:
        r = check(tool, f)
        assert (r.errors, r.warnings, r.checks) == (0, 0, 0), r.text
