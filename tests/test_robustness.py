"""The tracer under stress in a booted kernel (bookworm/amd64, 2 CPUs), judged from the
console, with getppid() spinning on every CPU throughout: 50 load/record/unload cycles,
10,000 random ioctls, a tiny buffer (losses exact, trace readable), pausing and resuming
events while recording, unloading while recording; no kernel warning anywhere."""

import pytest

from kscribe.guest import stress as robustness
from kscribe.pipeline import build_target, stress_target

from .conftest import need_tool

pytestmark = pytest.mark.usefixtures("network")
CI_CYCLES = 10


@pytest.fixture(scope="module")
def stressed(settings):
    need_tool("qemu-system-x86_64")
    need_tool("babeltrace2")
    build_target("bookworm/amd64", settings)
    # 10 of a full run's 50 cycles (`kscribe stress` runs 50): each costs about 8 s of TCG
    return stress_target("bookworm/amd64", settings, cycles=CI_CYCLES)


def test_every_check_passes_without_kernel_warnings(stressed):
    verdict, _ = stressed
    assert verdict.ok, verdict.reasons


def test_tiny_buffer_losses_are_exact_and_in_the_trace(stressed, settings):
    _, trace = stressed
    assert trace is not None
    console = (trace.parent / "console.log").read_text()
    report = robustness.report(console)
    tiny = report.losses[:2]
    assert sum(lost for *_, lost in tiny) > 0
    assert all(discarded == lost for _, _, discarded, _, lost in tiny)
    assert (trace / "metadata").is_file() and (trace / "stream_0").is_file()


def test_judge_sees_a_failed_check():
    console = ("KSCRIBE-BEGIN 6.1\nKSCRIBE-CHECK cycles 49/50\n"
               "[    1.0] WARNING: CPU: 0 PID: 1 at kernel/x.c:1\nKSCRIBE-END\n")
    v = robustness.judge(console, cpus=2)
    assert not v.ok
    assert any("check cycles: 49/50" in r for r in v.reasons)
    assert any(r.startswith("kernel: ") for r in v.reasons)


def test_judge_wants_the_load_on_every_cpu_and_reports_step_times():
    console = ("KSCRIBE-BEGIN 6.1\nKSCRIBE-AT start 2.0\nKSCRIBE-CHECK load-cpus 1/2\n"
               "KSCRIBE-AT load-cpus 3.5\nKSCRIBE-CHECK cycles 50/50\n"
               "KSCRIBE-AT cycles 63.5\nKSCRIBE-END\n")
    v = robustness.judge(console, cpus=2)
    assert any("load was not seen on every CPU (1/2)" in r for r in v.reasons)
    assert robustness.report(console).lines()[:2] == ["load-cpus: 1/2 (1.5 s)",
                                                     "cycles: 50/50 (60.0 s)"]


def test_a_benchmark_run_must_finish_without_kernel_problems():
    from kscribe.guest.console import judge_finished

    assert judge_finished("KSCRIBE-BEGIN 6.1\nKSCRIBE-END\n").ok
    hung = judge_finished("KSCRIBE-BEGIN 6.1\n[ 28.5] watchdog: BUG: soft lockup - CPU#0\n")
    assert not hung.ok
    assert hung.reasons[0].startswith("the run did not finish")
    assert "soft lockup" in hung.reasons[1]


def test_a_payload_that_spells_oops_is_no_kernel_problem():
    """A trace's base64 once held "...8OopsEOU..." and failed a sid/arm64 trace cell."""
    from kscribe.guest.console import judge_finished

    payload = "KSCRIBE-TRACE-BEGIN\nH4sIAAAAAAAAA+EJWQ8OopsEOUTd\nKMX0Hm==\nKSCRIBE-TRACE-END\n"
    assert judge_finished(f"KSCRIBE-BEGIN 7.2\n{payload}KSCRIBE-END\n").ok
    oops = judge_finished(f"KSCRIBE-BEGIN 7.2\n{payload}[ 3.1] Oops: 0000 [#1]\nKSCRIBE-END\n")
    assert oops.reasons == ["kernel: [ 3.1] Oops: 0000 [#1]"]


def test_boot_judge_wants_a_private_trace():
    """The boot test's trace-safety checks: 0700/0600, unsafe directories refused."""
    from kscribe.guest.boot import judge

    begin = "KSCRIBE-BEGIN 6.1\n"
    missing = judge(begin + "KSCRIBE-END\n").reasons
    assert "trace directory/files not 700/600 but None" in missing
    assert any("unsafe directory /tmp/shared (rc None)" in r for r in missing)
    good = begin + "".join(f"KSCRIBE-CHECK {k} {v}\n" for k, v in (
        ("trace-modes", "700/600"), ("unsafe-dir-shared", "1"), ("unsafe-dir-theirs", "1"),
        ("unsafe-dir-link", "1"), ("victim-files", "0"))) + "KSCRIBE-END\n"
    assert not [r for r in judge(good).reasons if "unsafe" in r or "700/600" in r
                or "symbolic link" in r]
    leaked = good.replace("unsafe-dir-link 1", "unsafe-dir-link 0").replace(
        "victim-files 0", "victim-files 2")
    reasons = judge(leaked).reasons
    assert any("unsafe directory /tmp/link (rc 0)" in r for r in reasons)
    assert any("wrote through a symbolic link (2 files" in r for r in reasons)


def test_boot_judge_wants_every_context_and_every_bad_filter_refused():
    """The contexts abi.yaml declares must be offered with their types; a bad filter that
    kscribectl accepted, or refused without saying why, fails the boot."""
    from kscribe.guest import contexts, filters

    offered = {f"context-{n}": f"{t}/{'not' if n.startswith('perf_') else 'available'}"
               for n, t in contexts.declared().items()}
    said = "\n".join([f"kscribectl: unknown context '{contexts.UNKNOWN}': ...",
                      "kscribectl: context 'perf_cpu_cycles' is not available: ..."])
    good = {**offered, "context-unknown-rc": "1", "context-perf-rc": "1"}
    assert contexts.problems(good, said) == []
    assert contexts.problems({**good, "context-tid": "u32/available"}, said) == [
        "context tid: type u32, abi.yaml says s32"]
    assert contexts.problems({**good, "context-perf-rc": "0"}, said)
    loaded = "KSCRIBE-RC 0 insmod /lib/kscribe/kscribe_probe_syscalls.ko\n"
    refusals = "".join(f"kscribectl: -f '{b.expr}': {b.says} ...\n" for b in filters.BAD)
    rcs = {f"filter-{b.name}-rc": "1" for b in filters.BAD}
    assert filters.problems(rcs, loaded + refusals) == []
    assert filters.problems({**rcs, "filter-syntax-rc": "0"}, loaded + refusals)
    assert len(filters.problems(rcs, loaded)) == len(filters.BAD)


def test_judge_wants_the_cycles_asked_for():
    console = "KSCRIBE-BEGIN 6.1\nKSCRIBE-CHECK cycles 10/10\nKSCRIBE-END\n"
    assert not any("cycles" in r for r in robustness.judge(console, 2, cycles=10).reasons)
    assert any("check cycles: 10/10, expected 50/50" in r
               for r in robustness.judge(console, 2).reasons)
