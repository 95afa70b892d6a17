"""The syscall descriptor tables of real targets: what the interpreter is told to record."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kscribe.codegen.syscalls import descriptors
from kscribe.errors import KscribeError
from kscribe.instrument.syscalls import tables
from kscribe.kernel.tree import read_tree
from kscribe.pipeline import prepare

pytestmark = pytest.mark.usefixtures("network")


def _lists(target: str, settings) -> tuple[dict, dict]:
    p = prepare(target, settings)
    ctx = descriptors(tables(p, settings), p.target.arch,
                      read_tree(p.provisioned.kdir).word_bits)
    args = {lst["symbol"]: lst["args"] for lst in ctx["lists"]}
    native = {row.name: args[row.args] for row in ctx["abis"][0]["rows"]}
    return args, native


def test_sleeps_record_the_time_left_only_on_eintr(settings):
    _, native = _lists("bookworm/amd64", settings)
    for name in ("nanosleep", "clock_nanosleep"):
        rmtp = next(a for a in native[name] if a.name == "rmtp")
        assert (rmtp.kind, rmtp.when, rmtp.exit_if) == ("STRUCT", "exit", "eintr")
    tp = next(a for a in native["clock_gettime"] if a.name == "tp")
    assert (tp.when, tp.exit_if) == ("exit", "")


def test_mips_reads_nothing_through_a3_at_exit(settings):
    """a3 holds the error flag at sys_exit on mips: nothing recorded at exit is read via it."""
    lists, native = _lists("bookworm/mips64el", settings)
    rmtp = native["clock_nanosleep"][3]
    assert (rmtp.name, rmtp.when) == ("rmtp", "never")
    for args in lists.values():
        for i, a in enumerate(args):
            via = {i} | ({a.count_arg} if a.kind == "ARRAY" and a.count != "RET" else set())
            if a.kind != "VALUE" and 3 in via:
                assert a.when in ("entry", "never"), (a, args)
    _, amd64 = _lists("bookworm/amd64", settings)
    assert amd64["clock_nanosleep"][3].when == "exit"


def test_a_compat_abi_without_a_dispatch_test_is_refused(settings):
    """An ABI the probe could not tell from the native one must not be half-generated."""
    p = prepare("bookworm/amd64", settings)
    abis = tuple(replace(a, dispatch_when="") if a.name == "ia32" else a
                 for a in p.target.arch.syscalls.abis)
    arch = replace(p.target.arch, syscalls=replace(p.target.arch.syscalls, abis=abis))
    with pytest.raises(KscribeError, match=r"amd64.toml: ABI ia32 .* no dispatch_when"):
        descriptors(tables(p, settings), arch, 64)
