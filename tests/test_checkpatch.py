"""All C of the tracer, hand-written and generated, is clean under the kernel's checkpatch."""

import pytest

from kscribe import paths
from kscribe.checkpatch import check, script
from kscribe.kconfig import read_tree
from kscribe.pipeline import prepare
from kscribe.render import generated_sources, render_sources

pytestmark = pytest.mark.usefixtures("network")


@pytest.mark.parametrize("target", ["bookworm/amd64", "bullseye/amd64", "sid/arm64"])
def test_checkpatch_strict_is_clean(settings, target, tmp_path):
    tool = script(settings, prepare("bookworm/amd64", settings).resolved)
    tree = read_tree(prepare(target, settings).provisioned.kdir)
    render_sources(tree, tmp_path)
    files = [*paths.KERNEL_MODULE.rglob("*.[ch]"), *generated_sources(tmp_path)]
    assert len(generated_sources(tmp_path)) >= 2
    for f in files:
        r = check(tool, f)
        assert (r.errors, r.warnings) == (0, 0), r.text
