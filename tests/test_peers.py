"""The peers benchmark still works: one short guest run on bookworm/amd64 in which kscribe,
LTTng (Debian's lttng-modules built for the kernel, lttng-tools), perf and ftrace
(trace-cmd) each load and record every workload, and the figures are read back from the
shared root. The benchmark itself is bench/peers.py; its figures are not asserted here."""

import re

import pytest

from kscribe.errors import KscribeError
from kscribe.guest import rootfs
from kscribe.peers import figures
from kscribe.peers.guest import SMOKE, SYSCALLS_PER_CALL, TRACERS, WORKLOADS, orders, run

from .conftest import need_tool

pytestmark = pytest.mark.usefixtures("network", "root")


@pytest.fixture(scope="module")
def smoke(settings):
    need_tool("qemu-system-x86_64")
    need_tool("babeltrace2")
    need_tool("mmdebstrap")
    done = run("bookworm/amd64", settings, SMOKE)
    return done.verdict, done.results


def test_the_guest_runs_every_tracer_to_the_end(smoke):
    verdict, results = smoke
    assert verdict.ok, verdict.reasons
    assert int(figures.versions(results)["lttng-modules"].split(".")[0]) >= 2
    assert all(figures.versions(results)[t] for t in ("kscribe", "lttng-tools", "perf"))
    # the clock every tracer reads on hardware, not TCG's emulated HPET
    assert figures.versions(results)["clocksource"] == "tsc"


def test_every_tracer_records_every_workload(smoke):
    _, results = smoke
    runs = figures.read_results(results)
    for workload in WORKLOADS:
        calls = SMOKE.calls[workload]
        # a syscall is an entry and an exit; a round trip switches and wakes at least once
        least = 2 * calls * SYSCALLS_PER_CALL.get(workload, 1)
        for tracer in TRACERS:
            found = [r for r in runs if (r.workload, r.tracer) == (workload, tracer)]
            assert len(found) == SMOKE.rounds, (workload, tracer)
            r = found[0]
            assert r.calls == calls and r.ns_per_call, r.log
            assert r.events is not None and r.events >= least, (workload, tracer, r.events)
            assert r.bytes > 0 and (results / r.log.stem).is_dir(), r.log


def test_rates_and_losses_are_read_for_every_tracer(smoke):
    _, results = smoke
    rows = figures.table(figures.read_results(results), SMOKE.rate_seconds)
    assert [r.tracer for r in rows] == list(TRACERS)
    for r in rows:
        assert r.clean_rate > 0 or r.lossy, r
        assert all(v == v for v in r.per_syscall.values()), r  # not NaN: baselines ran
        assert r.per_event is not None and set(r.bytes_per_event) == set(WORKLOADS), r


def test_the_profile_sees_each_tracers_own_code(smoke):
    _, results = smoke
    # the tracer's own code among the kernel samples of its run
    own = {"kscribe": r"kscribe_\w+", "lttng": r"lttng_\w+",
           "ftrace": r"ftrace_syscall_\w+|trace_event_buffer_\w+"}
    for tracer, symbol in own.items():
        profile = (results / f"profile-{tracer}.txt").read_text()
        assert re.search(rf"^\s+\d+\.\d+%.*\[k\] (?:{symbol})$", profile, re.M), \
            (tracer, profile[-2000:])


def test_the_share_modules_load_in_dependency_order(smoke, settings):
    from kscribe.debian.provision import modinfo_depends, module_closure
    from kscribe.pipeline import prepare

    p = prepare("bookworm/amd64", settings)
    modules = module_closure(settings, p.resolved, rootfs.SHARE_MODULES, "9p")
    names = [m.stem for m in modules]
    assert set(rootfs.SHARE_MODULES) < set(names)
    for i, ko in enumerate(modules):  # each after what it needs, as insmod loads them
        assert set(modinfo_depends(ko)) <= set(names[:i]), ko.name


def test_a_run_whose_workload_did_not_finish_is_an_error_naming_its_log(tmp_path):
    log = tmp_path / "getppid-lttng-1.log"
    log.write_text("Error: Events: Kernel tracer not available\ntrace bytes: 0\n")
    with pytest.raises(KscribeError, match=r"getppid-lttng-1\.log: the workload did not "
                                           r"finish: trace bytes: 0"):
        figures.read_run(log)
    with pytest.raises(KscribeError, match="no run's log"):
        figures.read_results(tmp_path / "empty")


def test_the_clean_rate_is_the_median_of_each_ladder_rounds_highest(tmp_path):
    # kscribe's own summary lines, as kscribectl prints them; rung 480000 loses in round 2
    def run(rate: int, round_: int, calls: int, lost: int) -> None:
        (tmp_path / f"rate{rate}-kscribe-{round_}.log").write_text(
            f"LOOP rate={rate} calls={calls} cpus=2\n"
            f"kscribectl: {2 * calls - lost} events, {lost} lost, 2 CPUs, 1 bytes of streams "
            f"in /tmp/trace\ntrace bytes: 1\n")
    for round_, (low, high, lost) in enumerate([(300, 460, 0), (310, 470, 5), (290, 450, 0)],
                                               start=1):
        run(320000, round_, low * 1000, 0)
        run(480000, round_, high * 1000, lost)
    (row,) = figures.table(figures.read_results(tmp_path), 2)
    # the rounds' highest clean rates: 460,000, 310,000 (480000 lost) and 450,000
    assert row.clean_rate == 450_000
    assert row.lossy == [(470_000, 5)]


def test_the_rounds_are_a_williams_design():
    """Over as many rounds as runs, each run takes every place in a round once (no tracer
    always runs first after the baseline, or last, where a round's drift would favour it);
    where the runs are even in number, as the ladder's four tracers, each runs right after
    every other once (what a run leaves behind burdens each of the others alike)."""
    for runs in (("none", *TRACERS), TRACERS):
        rounds = orders(runs, len(runs))
        assert rounds[0][:2] == list(runs[:2]) and all(sorted(r) == sorted(runs)
                                                        for r in rounds)
        for name in runs:
            assert sorted(r.index(name) for r in rounds) == list(range(len(runs)))
        assert orders(runs, 1) == rounds[:1] and orders(runs, 7)[len(runs):] == \
            rounds[:7 - len(runs)]
    ladder = orders(TRACERS, len(TRACERS))
    follows = [(r[i], r[i + 1]) for r in ladder for i in range(len(r) - 1)]
    assert sorted(follows) == sorted((a, b) for a in TRACERS for b in TRACERS if a != b)
