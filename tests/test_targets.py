"""Targets and the data tables: parsing, validation and the command line's errors."""

import subprocess
import sys

import pytest

from kscribe.config.arches import arches
from kscribe.config.suites import suites
from kscribe.config.target import all_targets, parse_target
from kscribe.errors import KscribeError


def test_every_suite_arch_is_in_the_arch_table():
    for s in suites().values():
        assert set(s.arches) <= set(arches()), s.name


def test_parse_default_and_explicit_flavour():
    t = parse_target("bookworm/amd64")
    assert (t.suite.name, t.arch.kbuild_arch, t.flavour, t.name) == (
        "bookworm", "x86", "amd64", "bookworm/amd64")
    t = parse_target("sid/arm64/rt-arm64")
    assert t.flavour == "rt-arm64" and t.name == "sid/arm64/rt-arm64"
    assert t.slug == "sid_arm64_rt-arm64"


@pytest.mark.parametrize("text,message", [
    ("bookwork/amd64", "unknown suite 'bookwork': known suites are bullseye, bookworm"),
    ("bookworm/amd65", "unknown architecture 'amd65'"),
    ("trixie/mips64el", "suite trixie ships no kernel for mips64el"),
    ("bookworm", "bad target 'bookworm': expected SUITE/ARCH"),
    ("a/b/c/d", "bad target"),
])
def test_bad_targets_name_the_bad_part(text, message):
    with pytest.raises(KscribeError, match=message.replace("(", r"\(")):
        parse_target(text)


def test_every_target_of_the_tables_is_known():
    names = {t.name for t in all_targets()}
    for cell in ("bullseye/amd64", "bookworm/armhf", "bookworm/i386", "bookworm/mips64el",
                 "bookworm/s390x", "trixie/riscv64", "sid/arm64", "bookworm-backports/amd64"):
        assert cell in names


def test_ci_matrix_file_is_read_and_checked(tmp_path):
    from kscribe.config import matrix

    m = matrix.load()
    assert "bookworm/amd64" in m.boot and set(m.boot) <= set(m.build)
    assert {"bullseye/amd64", "trixie/riscv64", "sid/arm64"} <= set(m.build)
    bad = tmp_path / "matrix.toml"
    bad.write_text('build = ["bookworm/amd64"]\nboot = ["bookworm/amd64", "sid/arm64"]\n')
    with pytest.raises(KscribeError, match="boot cells not built: sid/arm64"):
        matrix.load(bad)
    bad.write_text('build = ["bookworm/amd65"]\nboot = []\n')
    with pytest.raises(KscribeError, match=r"matrix.toml: build: unknown architecture 'amd65'"):
        matrix.load(bad)


@pytest.mark.parametrize("argv,needle", [
    (["build", "trixie/i386"], "suite trixie ships no kernel for i386"),
    (["boot", "nosuch/amd64"], "unknown suite 'nosuch'"),
    (["build", "--kdir", "/etc"], "/etc is not a prepared kernel tree: Makefile is missing"),
    (["build", "--kdir", "/nonexistent/tree"], "/nonexistent/tree: no such directory"),
    (["checkpatch", "bookworm/amd64"], "bookworm/amd64: no such file (name C files"),
])
def test_cli_errors_are_one_line_and_nonzero(argv, needle, env):
    proc = subprocess.run([sys.executable, "-m", "kscribe", *argv], capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 2
    assert proc.stderr.startswith("kscribe: error: ")
    assert needle in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("sub", ["targets", "resolve", "provision", "build", "boot", "run",
                                 "generate", "checkpatch"])
def test_every_subcommand_has_help(sub):
    proc = subprocess.run([sys.executable, "-m", "kscribe", sub, "--help"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "usage: kscribe " + sub in proc.stdout


def test_qemu_accel_override_replaces_only_the_accel_value():
    from pathlib import Path

    from kscribe.guest.qemu import qemu_argv

    amd64 = arches()["amd64"]
    default = qemu_argv(amd64, Path("vmlinuz"), Path("initrd"))
    multi = qemu_argv(amd64, Path("vmlinuz"), Path("initrd"), accel="tcg,thread=multi")
    at = default.index("-accel") + 1
    assert multi[at] == "tcg,thread=multi"
    assert multi[:at] + multi[at + 1:] == default[:at] + default[at + 1:]
