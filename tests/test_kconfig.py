"""The tracer's one Kconfig: rendered from the specs, and evaluated by kconfiglib against a
target's real .config to choose the probe modules of an out-of-tree build."""

import pytest

from kscribe.codegen import kconfig
from kscribe.codegen.module import render_sources
from kscribe.config import paths
from kscribe.errors import KscribeError
from kscribe.instrument.events.spec import load_all
from kscribe.kernel.tree import read_tree
from kscribe.pipeline import prepare

SPECS = load_all(paths.INSTRUMENTATION / "events")


def _config(settings, target="bookworm/amd64"):
    return read_tree(prepare(target, settings).provisioned.kdir).config


def test_every_probe_is_an_option_that_depends_on_what_its_spec_requires():
    text = kconfig.render(kconfig.options(SPECS, syscalls=True))
    assert text.startswith("# SPDX-License-Identifier: GPL-2.0-only\n\nconfig KSCRIBE\n"
                           "\ttristate ")
    for s in SPECS:
        entry = text.split(f"config KSCRIBE_PROBE_{s.subsystem.upper()}\n", 1)[1]
        entry = entry.split("\nconfig ", 1)[0]
        assert f'\ttristate "kscribe probe: {s.title}"\n' in entry
        assert f"\tdepends on {' && '.join(['KSCRIBE', *s.requires])}\n" in entry
        assert f"called kscribe_probe_{s.subsystem}." in " ".join(entry.split())
    assert "depends on KSCRIBE && HAVE_SYSCALL_TRACEPOINTS\n" in text


def test_a_debian_config_allows_every_probe(settings):
    text = kconfig.render(kconfig.options(SPECS, syscalls=True))
    chosen = kconfig.choose(text, _config(settings))
    assert set(chosen.values()) == {"m"} and len(chosen) == len(SPECS) + 2


def test_a_config_without_a_requirement_leaves_its_probe_out(settings, tmp_path):
    config = {k: v for k, v in _config(settings).items() if k != "CONFIG_BLOCK"}
    config["CONFIG_HAVE_SYSCALL_TRACEPOINTS"] = "n"
    text = kconfig.render(kconfig.options(SPECS, syscalls=True))
    chosen = kconfig.choose(text, config)
    assert chosen["KSCRIBE_PROBE_BLOCK"] == chosen["KSCRIBE_PROBE_SYSCALLS"] == "n"
    assert chosen["KSCRIBE_PROBE_SCHED"] == "m"
    # no tracepoints, no tracer: every option is n
    assert set(kconfig.choose(text, {**config, "CONFIG_TRACEPOINTS": "n"}).values()) == {"n"}


def test_the_build_folder_holds_exactly_the_chosen_modules(settings, tmp_path, capfd):
    tree = read_tree(prepare("bookworm/amd64", settings).provisioned.kdir)
    del tree.config["CONFIG_NET"]
    modules = render_sources(tree, tmp_path)
    assert "kscribe_probe_net" not in modules and "kscribe_probe_sched" in modules
    assert not (tmp_path / "kscribe_probe_net.c").exists()
    assert "net: left out, KSCRIBE_PROBE_NET cannot be m with the target's .config " \
           "(depends on KSCRIBE && NET)" in capfd.readouterr().err
    del tree.config["CONFIG_TRACEPOINTS"]
    with pytest.raises(KscribeError, match="the tracer cannot be built for this kernel"):
        render_sources(tree, tmp_path / "none")


def test_a_kconfig_mistake_is_one_error():
    with pytest.raises(KscribeError) as e:
        kconfig.choose("config KSCRIBE\n\ttristate \"x\"\n\tdepends on (A\n", {})
    assert "\n" not in str(e.value)
