"""The peers benchmark's figures, read from what each run left in the results folder.

Every run of ``templates/guest/peers.sh.j2`` leaves ``<workload>-<tracer>-<round>.log``:
the workload's ``LOOP`` line, the tracer's own summary, and ``trace bytes: N``. What each
tracer says of its events and losses is read by one pattern per tracer (:data:`COUNTS`);
LTTng says nothing of its events, so they are counted in the trace (``babeltrace2``'s
counter) for the runs whose traces were kept.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from kscribe.errors import KscribeError
from kscribe.peers.guest import SYSCALLS_PER_CALL, TRACERS, WORKLOADS
from kscribe.util import proc

LOOP = re.compile(r"^LOOP (?:rate=\d+ )?calls=(\d+)(?: ns_per_call=(\d+))?(?: cpus=\d+)?$", re.M)
BYTES = re.compile(r"^trace bytes: (\d+)$", re.M)
RUN = re.compile(r"^(?P<workload>[a-z]+\d*)-(?P<tracer>[a-z]+)-(?P<round>\d+)\.log$")


@dataclass(frozen=True)
class Counts:
    """How a tracer's own output gives its events and losses: patterns whose first group
    is summed (None: the tracer does not say)."""

    events: str | None
    lost: tuple[str, ...]
    exact: str  # what the loss count means, for the table's notes


COUNTS = {
    "kscribe": Counts(r"^kscribectl: (\d+) events, \d+ lost",
                      (r"^kscribectl: \d+ events, (\d+) lost",),
                      "exact: events the ring buffer refused, counted per CPU"),
    "lttng": Counts(None, (r"Warning: (\d+) events were discarded",),
                    "exact: events the ring buffer refused (discard mode)"),
    "perf": Counts(r"\((\d+) samples\)", (r"PERF_RECORD_LOST lost (\d+)",),
                   "exact: the counts of perf's lost-samples records, summed"),
    "ftrace": Counts(r"^ftrace events: (\d+)", (r"^overrun: (\d+)", r"^dropped events: (\d+)"),
                     "exact: events overwritten or dropped, per CPU"),
}


@dataclass
class Run:
    """One traced (or untraced) run of a workload."""

    workload: str
    tracer: str
    round: int
    calls: int
    ns_per_call: int | None
    events: int | None
    lost: int | None
    bytes: int
    log: Path


def _sum(patterns: tuple[str, ...], text: str) -> int | None:
    found = [int(n) for p in patterns for n in re.findall(p, text, re.M)]
    return sum(found) if found else None


def read_run(log: Path) -> Run:
    """The figures of one run's log; an error naming the log when its loop did not run."""
    m = RUN.match(log.name)
    if m is None:
        raise KscribeError(f"{log}: not a run's log (<workload>-<tracer>-<round>.log)")
    text = log.read_text(errors="replace")
    loop, size = LOOP.search(text), BYTES.search(text)
    if loop is None or size is None:
        raise KscribeError(f"{log}: the workload did not finish: {proc.tail(text)}")
    tracer = m["tracer"]
    counts = COUNTS.get(tracer)
    events = _sum((counts.events,), text) if counts and counts.events else None
    lost = _sum(counts.lost, text) if counts else None
    if counts and lost is None and tracer in ("lttng", "perf"):
        lost = 0  # they only speak of losses when there are some
    return Run(m["workload"], tracer, int(m["round"]), int(loop[1]),
               int(loop[2]) if loop[2] else None, events, lost, int(size[1]), log)


def count_events(trace: Path) -> int:
    """The events of a CTF trace, as ``babeltrace2``'s counter sink counts them."""
    proc.require("babeltrace2", why="to count the events of LTTng's traces")
    done = proc.run(["babeltrace2", str(trace), "--component=sink.utils.counter"],
                    check=False, why="to count a trace's events")
    # the counter prints its counts every 10,000 messages too: the last counts are the total
    counts = re.findall(r"^\s*(\d+) Event messages$", done.stdout, re.M)
    if done.returncode != 0 or not counts:
        raise KscribeError(f"{trace}: babeltrace2 cannot count its events: "
                           f"{proc.tail(done.stdout + done.stderr)}")
    return int(counts[-1])


def read_results(folder: Path) -> list[Run]:
    """Every run in ``folder``; kept traces without an event count are counted."""
    runs = [read_run(log) for log in sorted(folder.glob("*.log"))]
    if not runs:
        raise KscribeError(f"{folder}: no run's log; the guest did not get to the workloads")
    for r in runs:
        trace = r.log.with_suffix("")
        if r.events is None and r.tracer != "none" and trace.is_dir():
            r.events = count_events(trace)
    return runs


@dataclass(frozen=True)
class Row:
    """One tracer's figures: overhead per traced syscall per syscall workload, per event of
    the scheduler workload, bytes per event, highest rate without loss."""

    tracer: str
    per_syscall: dict[str, float]
    per_event: float | None
    bytes_per_event: dict[str, float]  # per workload, from the traces kept (round 1)
    clean_rate: int  # the median over the ladder's rounds of each round's highest
    lossy: list[tuple[int, int]]  # (events/s, events lost) of the runs that lost some


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(runs: list[Run], rate_seconds: int) -> list[Row]:
    """Each tracer's row, medians over the rounds against the untraced runs' medians."""
    def ns(workload: str, tracer: str) -> float:
        return _median([r.ns_per_call for r in runs if r.workload == workload and
                        r.tracer == tracer and r.ns_per_call is not None])

    rows = []
    for tracer in TRACERS:
        mine = [r for r in runs if r.tracer == tracer]
        if not mine:
            continue
        per_syscall = {w: (ns(w, tracer) - ns(w, "none")) / n
                       for w, n in SYSCALLS_PER_CALL.items()}
        sched = [r for r in mine if WORKLOADS.get(r.workload, ("",))[0] == "sched"
                 and r.events]
        per_event = None
        if sched:
            events_per_call = _median([r.events / r.calls for r in sched if r.events])
            per_event = (ns(sched[0].workload, tracer) - ns(sched[0].workload, "none")) \
                / events_per_call
        bytes_per_event = {r.workload: r.bytes / r.events for r in mine
                           if r.workload in WORKLOADS and r.round == 1 and r.events}
        rated = [(r.round, 2 * r.calls // rate_seconds, r.lost) for r in mine
                 if r.workload.startswith("rate")]
        best: dict[int, int] = {}  # round -> its highest rate without loss
        for round_, e, lost in rated:
            best[round_] = max(best.get(round_, 0), 0 if lost else e)
        clean = int(_median(list(best.values()))) if best else 0
        lossy = sorted((e, lost or 0) for _, e, lost in rated if lost)
        rows.append(Row(tracer, per_syscall, per_event, bytes_per_event, clean, lossy))
    return rows


def versions(folder: Path) -> dict[str, str]:
    """What each tracer was, as the guest said (``versions.txt`` of the results)."""
    out = {}
    path = folder / "versions.txt"
    if path.is_file():
        for line in path.read_text().splitlines():
            name, _, version = line.partition(" ")
            out[name] = version.strip()
    return out
