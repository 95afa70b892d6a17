"""End to end in booted kernels: record the guest workload, read the trace with babeltrace2.

The workload (tests/guest/workload.c) prints what it did; the trace must say the same: the
file it opened, the bytes it wrote, the fork it made. Cells: an old kernel natively
(bookworm/amd64), the newest (sid/arm64, chroot toolchain, cross) and riscv64 (trixie).
"""

from __future__ import annotations

import fnmatch
import re
import shutil

import pytest

from kscribe.codegen.syscalls import descriptors, fields
from kscribe.config.target import parse_target
from kscribe.errors import KscribeError
from kscribe.guest import filters
from kscribe.guest.console import MARK, checks, started
from kscribe.guest.trace import babeltrace, extract, parse
from kscribe.instrument.syscalls import tables
from kscribe.kernel.tree import read_tree
from kscribe.pipeline import build_target, prepare, syscall_formats, trace_target

from .conftest import need_tool

pytestmark = pytest.mark.usefixtures("network")
CELLS = {"bookworm/amd64": "qemu-system-x86_64", "sid/arm64": "qemu-system-aarch64",
         "trixie/riscv64": "qemu-system-riscv64"}


@pytest.fixture(scope="module", params=list(CELLS))
def traced(request, settings):
    need_tool(CELLS[request.param])
    need_tool("babeltrace2")
    if request.param != "bookworm/amd64":
        request.getfixturevalue("root")  # chroot toolchains
    build_target(request.param, settings)
    res = trace_target(request.param, settings)
    console = (res.trace.parent / "trace-boot/console.log").read_text()
    printed = dict(re.findall(r"^WORKLOAD (\w+)=(\S+)", console, re.M))
    fork = re.search(r"^WORKLOAD fork parent=(\d+) child=(\d+)", console, re.M)
    return request.param, res, console, printed, fork


def test_openat_carries_the_file_name(traced):
    _, res, _, printed, _ = traced
    opens = [e for e in res.events if e.name == "syscall_entry_openat"
             and e.fields.get("filename") == printed["file"]]
    assert len(opens) == 1, printed
    assert opens[0].fields["dfd"] == -100  # AT_FDCWD


def test_long_paths_are_read_whole_to_a_page_end_and_cut_at_the_bound(traced):
    """A path read in several pieces whose NUL is the last byte of a page before an
    unmapped one is recorded whole; one longer than a recorded string, its first 255 bytes."""
    _, res, _, printed, _ = traced
    names = [e.fields.get("filename") for e in res.events if e.name == "syscall_entry_openat"]
    edge, longer = printed["edge_path"], printed["long_path"]
    assert len(edge) == 150 and names.count(edge) == 1
    assert len(longer) == 300 and names.count(longer[:255]) == 1


def test_write_carries_the_count(traced):
    _, res, _, printed, _ = traced
    writes = [e for e in res.events if e.name == "syscall_entry_write"
              and e.fields.get("count") == int(printed["write"])]
    assert writes
    exits = [e for e in res.events if e.name == "syscall_exit_write"
             and e.fields.get("ret") == int(printed["write"])]
    assert exits


def test_fork_links_the_printed_pids(traced):
    _, res, _, _, fork = traced
    forks = [e for e in res.events if e.name == "sched_process_fork"
             and e.fields["parent_pid"] == int(fork[1]) and e.fields["child_pid"] == int(fork[2])]
    assert len(forks) == 1
    execs = [e for e in res.events if e.name == "sched_process_exec"
             and e.fields["tid"] == int(fork[2])]
    assert execs and execs[0].fields["filename"] == "/bin/true"


def test_sleep_and_send_are_decoded(traced):
    _, res, _, printed, _ = traced
    sleeps = [e for e in res.events if e.name in ("syscall_entry_nanosleep",
                                                 "syscall_entry_clock_nanosleep")
              and e.fields["rqtp"] == {"tv_sec": 0, "tv_nsec": int(printed["sleep_ns"])}]
    assert sleeps
    sends = [e for e in res.events if e.name == "syscall_entry_sendto"
             and e.fields["len"] == int(printed["send"])]
    assert sends


def test_exit_data_only_where_the_kernel_wrote_it(traced):
    """A failed getsockname records no address; a sleep that was not interrupted no rmtp."""
    _, res, _, printed, _ = traced
    failed = [e for e in res.events if e.name == "syscall_exit_getsockname"
              and e.fields["ret"] == int(printed["getsockname"])]
    assert failed and all(e.fields["usockaddr"] == [] for e in failed), failed
    slept = [e for e in res.events if e.name in ("syscall_exit_nanosleep",
                                                "syscall_exit_clock_nanosleep")
             and e.fields["ret"] == 0]
    assert slept and all(e.fields["rmtp"] == {"tv_sec": 0, "tv_nsec": 0} for e in slept)


def test_kernel_addresses_follow_kptr_restrict(traced, tmp_path):
    """Root sees kernel addresses (as in /proc/kallsyms); with kptr_restrict 2 nobody does."""
    _, res, console, _, _ = traced
    kinds = ("kmalloc", "kfree", "kmem_cache_free")
    shown = [e for e in res.events if e.name in kinds]
    assert shown and all(e.fields["call_site"] for e in shown)
    hidden_trace = extract(console, tmp_path / "kptr", tag="KPTR")
    hidden = [e for e in parse(babeltrace(hidden_trace)) if e.name in kinds]
    assert hidden and all(e.fields["call_site"] == e.fields["ptr"] == 0 for e in hidden)
    for trace, said in ((res.trace, "shown"), (hidden_trace, "hidden")):
        assert f'kscribe_kernel_addresses = "{said}";' in (trace / "metadata").read_text()


def _faultable(console: str) -> bool:
    """Syscall tracepoints may fault (6.13+): a probe can fault a string in."""
    major, minor = (int(n) for n in re.match(r"(\d+)\.(\d+)", started(console) or "").groups())
    return (major, minor) >= (6, 13)


def test_user_strings_are_text_or_marked_not_resident(traced):
    """Never a silent "": a string the task had not faulted in is marked, and counted.

    ("" itself is data: glibc's fstat() is newfstatat(fd, "", AT_EMPTY_PATH).)
    """
    _, res, console, _, _ = traced
    strings = [(e, k) for e in res.events if "syscall_" in e.name
               for k in e.fields if f"{k}_state" in e.fields]
    assert len(strings) >= 5
    missing = sum(e.fields[k] is None for e, k in strings)
    # what kscribectl printed for the traced recording: the lines before its exit status
    rc = re.search(rf"^{MARK.rc} \d+ kscribectl record .*-o /tmp/trace ", console, re.M)
    assert rc
    output = console[console.rfind(MARK.rc, 0, rc.start()):rc.start()]
    counted = sum(int(n) for n in re.findall(
        r"^kscribectl: cpu\d+: (\d+) user strings not resident", output, re.M))
    assert missing == counted
    # the workload's child execs /bin/true without having touched that string's page
    execs = [e.fields["filename"] for e in res.events if e.name == "syscall_entry_execve"]
    assert execs[-1] == "/bin/true" or (execs[-1] is None and not _faultable(console)), execs


def _workload_events(res, printed):
    """The workload's own events: its pid's, once it runs the workload (its exec done)."""
    mine = [e for e in res.events if e.context.get("pid") == int(printed["pid"])]
    start = next(i for i, e in enumerate(mine) if e.context["procname"] == printed["procname"])
    return mine[start:]


def test_every_workload_syscall_carries_who_made_it(traced):
    """Each syscall event of the workload names the thread, process, parent and user that
    the workload printed, its namespaces, and that it ran in task context."""
    _, res, _, printed, _ = traced
    syscalls = [e for e in _workload_events(res, printed) if e.name.startswith("syscall_")]
    assert len(syscalls) >= 30, len(syscalls)
    keys = ("tid", "pid", "ppid", "prio", "uid", "euid", "gid",
            "pid_ns", "mnt_ns", "net_ns", "cgroup_ns")
    want = {k: int(printed[k]) for k in keys} | {"procname": printed["procname"],
                                                  "irq_state": 0}
    wrong = [e for e in syscalls if {k: e.context.get(k) for k in want} != want]
    assert not wrong, (want, wrong[:2])
    # the events the other tests pick by their fields are among them
    opened = [e for e in res.events if e.name == "syscall_entry_openat"
              and e.fields.get("filename") == printed["file"]]
    assert opened and all(e in syscalls for e in opened)


def test_contexts_tell_interrupts_from_tasks(traced):
    """irq_state: softirq handlers run in softirq context, hardirq handlers in hardirq."""
    _, res, _, _, _ = traced
    states = {(e.name, e.context["irq_state"]) for e in res.events
              if e.name in ("softirq_entry", "irq_handler_entry")}
    assert ("softirq_entry", 1) in states, states
    assert all(state == {"softirq_entry": 1, "irq_handler_entry": 2}[name]
               for name, state in states), states


def test_a_plain_record_answers_who(traced, tmp_path):
    """Without -c, every event carries kscribectl's default contexts: tid, pid, procname."""
    _, _, console, _, _ = traced
    events = parse(babeltrace(extract(console, tmp_path / "kptr", tag="KPTR")))
    assert events and all(list(e.context) == ["tid", "pid", "procname"] for e in events)
    assert any(e.context["procname"] == "ls" for e in events)


def _uninterrupted(counts: list[int]) -> list[int]:
    """The counts of the events no interrupt came into between their reservation and their
    contexts: an event that an interrupt's events follow in the buffer reads its counter
    after theirs, so its count is the one above the next."""
    return [c for c, after in zip(counts, [*counts[1:], counts[-1]], strict=True) if c <= after]


def test_cycle_counter_counts_where_the_cpu_has_one(traced, tmp_path):
    """perf_cpu_cycles, where the guest CPU has a PMU (arm64, riscv64 under TCG), grows on
    each CPU, in the buffer's order but for the events an interrupt came into (a few); where
    it has none (x86 under TCG) the boot test saw it refused."""
    _, _, console, _, _ = traced
    if "context-perf_cpu_cycles u64/available" not in console:
        assert MARK.payload_begin("PERF") not in console
        return
    events = parse(babeltrace(extract(console, tmp_path / "perf", tag="PERF")))
    assert events and all(list(e.context) == ["tid", "perf_cpu_cycles"] for e in events)
    for cpu in {e.cpu for e in events}:
        counts = [e.context["perf_cpu_cycles"] for e in events if e.cpu == cpu]
        kept = _uninterrupted(counts)
        assert kept == sorted(kept) and counts[-1] > counts[0], (cpu, counts[:5])
        assert len(counts) - len(kept) <= len(counts) // 20, (cpu, counts)


def test_an_interrupted_event_is_the_only_count_out_of_order():
    """An event an interrupt came into (nested ones too) is dropped from the check, and only
    that event: counts below one that came before it still show."""
    assert _uninterrupted([1, 5, 2, 3, 6]) == [1, 2, 3, 6]
    assert _uninterrupted([1, 9, 8, 2, 3]) == [1, 2, 3]
    assert _uninterrupted([1, 2, 2, 3]) == [1, 2, 2, 3]
    assert _uninterrupted([3, 4, 1, 2]) == [3, 1, 2]


def _filtered(console, tmp_path, name):
    """A filtered recording of the workload, and what kscribectl said about it."""
    events = parse(babeltrace(extract(console, tmp_path / name, tag=name)))
    rc = re.search(rf"^{MARK.rc} (\d+) kscribectl record .*-o /tmp/{name.lower()} ", console,
                   re.M)
    assert rc and rc[1] == "0"
    said = console[console.rfind(MARK.rc, 0, rc.start()):rc.start()]
    return events, said


def test_a_filter_records_exactly_the_matching_events(traced, tmp_path):
    """The kernel records the openat and write events its filters let through: as many as
    the unfiltered trace has once filtered on the host; the rest are counted as filtered,
    not lost, and the exits (which lack the fields filtered on) are left out."""
    _, res, console, _, _ = traced
    events, said = _filtered(console, tmp_path, "FILTER")
    host = [e for e in res.events if (
        e.name == "syscall_entry_openat" and fnmatch.fnmatchcase(
            e.fields.get("filename") or "", "/tmp/kscribe-*") and e.context["tid"] != 1) or (
        e.name == "syscall_entry_write" and 4000 <= e.fields["count"] < 5000
        and e.context["procname"] == filters.PROCNAME)]
    assert host and sorted(e.name for e in events) == sorted(e.name for e in host)
    assert [e.fields for e in events] == [e.fields for e in host]
    filtered = int(re.search(r"^kscribectl: (\d+) events filtered out$", said, re.M)[1])
    assert filtered > 0 and re.search(r"^kscribectl: \d+ events, 0 lost", said, re.M)
    assert re.search(r"-f 'filename == .*': \d+ events of 'syscalls:openat' are not recorded: "
                     r"no field or context 'filename' in \w*syscall_exit_openat", said)


def test_a_filter_on_the_process_name_keeps_its_syscalls(traced, tmp_path):
    """procname == "kscribe-workloa" keeps every syscall event of the workload, and no other:
    the same ones, call for call, as the unfiltered trace's."""
    _, res, console, _, _ = traced
    events, _ = _filtered(console, tmp_path, "WHO")
    want = filters.PROCNAME
    host = [e.name for e in res.events
            if e.name.startswith("syscall_") and e.context["procname"] == want]
    assert len(host) >= 30 and all(e.context["procname"] == want for e in events)
    assert sorted(e.name for e in events) == sorted(host)


def test_the_state_dump_names_the_workload_its_parent_and_its_open_file(traced):
    """Two dumps: kscribectl's at the start, and the one the workload asked for while its
    file was open. The second names the workload (ids, name, namespaces as it printed them),
    its parent kscribectl, the file at the descriptor it printed; both list the CPUs, the
    loop device the guest bound to a file (number and size as sysfs gives them), the
    loopback interface of each network namespace, interrupt handlers, and end with what
    they cost."""
    _, res, console, printed, _ = traced
    assert printed["statedump_rc"] == "0"
    ends = [e.fields for e in res.events if e.name == "statedump_end"]
    assert len(ends) == 2 and [e.name for e in res.events].count("statedump_start") == 2
    assert all(0 < e["longest_ns"] <= e["duration_ns"] and e["threads"] and e["fds"]
               for e in ends)
    threads = {e.fields["tid"]: e.fields for e in res.events if e.name == "statedump_thread"}
    me = threads[int(printed["tid"])]
    keys = ("pid", "ppid", "prio", "pid_ns", "mnt_ns", "net_ns", "cgroup_ns")
    assert {k: me[k] for k in keys} == {k: int(printed[k]) for k in keys}
    assert me["procname"] == printed["procname"]
    assert threads[int(printed["ppid"])]["procname"] == "kscribectl"
    files = {(e.fields["pid"], e.fields["fd"]): e.fields["path"] for e in res.events
             if e.name == "statedump_fd"}
    assert files[int(printed["pid"]), int(printed["statedump_fd"])] == printed["file"]
    assert "/dev/kscribe" in {p for (pid, _), p in files.items() if pid == int(printed["ppid"])}
    cpus = [e.fields["cpu"] for e in res.events if e.name == "statedump_cpu"]
    assert sorted(cpus) == sorted(2 * sorted({e.cpu for e in res.events}))
    assert any(e.fields["name"] for e in res.events if e.name == "statedump_irq")
    guest = checks(console)
    bdevs = [(e.fields["name"], f"{e.fields['major']}:{e.fields['minor']}/"
              f"{e.fields['sectors']}") for e in res.events if e.name == "statedump_blockdev"]
    assert bdevs.count(("loop0", guest["blockdev-loop0"])) == 2, bdevs
    assert guest["blockdev-loop0"].endswith("/3072")
    netifs = [(e.fields["name"], e.fields["net_ns"]) for e in res.events
              if e.name == "statedump_netif"]
    other = int(guest["netns-other"])
    assert other != int(printed["net_ns"])
    assert netifs.count(("lo", int(printed["net_ns"]))) == netifs.count(("lo", other)) == 2


def test_a_ctf2_trace_reads_as_its_ctf18_twin(traced, tmp_path, settings):
    """kscribectl --ctf 2 writes CTF 2 metadata (JSON fragments) for the same streams; a
    reader of CTF 2 (babeltrace2 2.1, trixie's) reads every event, and the workload's syscalls
    come out as in the CTF 1.8 trace, field by field where the run does not change them."""
    _, res, console, printed, _ = traced
    trace = extract(console, tmp_path / "ctf2", tag="CTF2")
    assert (trace / "metadata").read_bytes().startswith(b"\x1e{\"type\":\"preamble\"")
    events = parse(babeltrace(trace, ctf2_settings=settings))
    assert len(events) > 1000 and all(list(e.context) == ["tid", "pid", "procname"]
                                      for e in events)

    def workload(evs):
        return [e for e in evs if e.name.startswith("syscall_")
                and e.context.get("procname") == filters.PROCNAME]
    assert sorted(e.name for e in workload(events)) == sorted(e.name for e in workload(res.events))
    same = {"syscall_entry_openat": ("dfd", "filename", "flags", "mode"),
            "syscall_entry_write": ("fd", "count"),
            "syscall_exit_getsockname": ("ret", "usockaddr"),
            "syscall_entry_nanosleep": ("rqtp",), "syscall_entry_clock_nanosleep": ("rqtp",)}
    for name, keys in same.items():
        assert [[e.fields[k] for k in keys] for e in workload(events) if e.name == name] == \
            [[e.fields[k] for k in keys] for e in workload(res.events) if e.name == name], name
    # text arrays, enumerations and the state dump's strings read as in CTF 1.8
    kinds = {e.name: e.fields for e in events}
    assert isinstance(kinds["sched_switch"]["prev_comm"], str)
    assert kinds["softirq_entry"]["vec"] in ("TIMER", "RCU", "SCHED", "NET_RX", "TASKLET",
                                             "HRTIMER", "BLOCK", "NET_TX", "IRQ_POLL", "HI")
    assert any(e.fields["path"] == printed["file"] for e in events if e.name == "statedump_fd")


def test_both_readers_agree(traced):
    """babeltrace 1.5, an independent CTF reader, reads the same events and values."""
    _, res, _, _, _ = traced
    need_tool("babeltrace")
    other = parse(babeltrace(res.trace, "babeltrace"))
    assert len(other) == len(res.events)

    def order(e):  # events of the same instant on two CPUs come in either order
        return e.ts, e.cpu, e.name, repr(e.fields), repr(e.context)
    differ = [(a, b) for a, b in zip(sorted(res.events, key=order), sorted(other, key=order),
                                     strict=True) if a != b]
    assert not differ, differ[:3]


def test_socketcall_and_ipc_are_decoded(traced, tmp_path):
    """The 32-bit workload's send() (socketcall) and semget() (ipc) are recorded as sendto
    and semget with their fields, on a kernel with a 32-bit compat ABI."""
    target, _, console, _, _ = traced
    arch = parse_target(target).arch
    if not arch.compat_guest:  # no 32-bit compat ABI, no 32-bit workload
        assert MARK.payload_begin("COMPAT") not in console
        return
    printed = dict(re.findall(r"^WORKLOAD32 (\w+)=(\S+)", console, re.M))
    events = parse(babeltrace(extract(console, tmp_path / "compat", tag="COMPAT")))
    # the ABI that amd64 kernels run i386 programs in
    prefix = next(a.event_prefix for a in arch.syscalls.abis if a.name == "ia32")
    sends = [e for e in events if e.name == f"{prefix}_syscall_entry_sendto"
             and e.fields["len"] == int(printed["send"])]
    assert sends and sends[0].fields["addr"] == [], events[-20:]
    gets = [e for e in events if e.name == f"{prefix}_syscall_entry_semget"
            and (e.fields["key"], e.fields["nsems"], e.fields["semflg"]) == (0, 1, 0o600)]
    got = [e for e in events if e.name == f"{prefix}_syscall_exit_semget"
           and e.fields["ret"] == int(printed["ipc_semget"])]
    assert gets and got
    assert not [e for e in events if e.name.endswith(("_socketcall", "_ipc"))]


def _cpus(target: str) -> int:
    return parse_target(target).arch.qemu.cpus


def test_syscall_events_are_described_as_their_descriptors_say(traced, settings):
    """The kernel's CTF description of every syscall event is the tables' (codegen.syscalls)."""
    target, res, _, _, _ = traced
    p = prepare(target, settings)
    word = read_tree(p.provisioned.kdir).word_bits
    ctx = descriptors(tables(p, settings), p.target.arch, word)
    args = {lst["symbol"]: lst["args"] for lst in ctx["lists"]}
    expected = {}
    for abi in ctx["abis"]:
        for row in abi["rows"]:
            for exit_ in (False, True):
                name = f"{abi['prefix']}syscall_{'exit' if exit_ else 'entry'}_{row.name}"
                expected[name] = fields(args[row.args], exit_, word, ctx["types"])
    metadata = (res.trace / "metadata").read_text()
    # the integer classes, declared once, spelt out again where the fields name them
    classes = dict(re.findall(r"^typealias (integer \{[^}]*\}) := (int_\d+);$", metadata,
                              re.M))
    spelt = {alias: spec for spec, alias in classes.items()}
    metadata = re.sub(r"\bint_\d+\b", lambda m: spelt.get(m[0], m[0]),
                      metadata[metadata.index("\nevent {"):])
    described = {name: body.splitlines() for name, body in re.findall(
        r'^\tname = "(\w*syscall_(?:entry|exit)_\w+)";\n(?:\t.*\n)*?\tfields := struct \{\n'
        r"((?:(?!\t\};).*\n)*)\t\};", metadata, re.M)}
    assert len(described) == ctx["events"] == len(expected) > 500
    wrong = [name for name in expected if described.get(name) != expected[name]]
    assert not wrong, (wrong[:5], [described.get(n) for n in wrong[:1]], expected[wrong[0]]
                       if wrong else None)


def test_trace_and_clock_are_named_and_carry_uuids(traced):
    """The clock is the ring buffer's, said so, with the boot's uuid; the trace has its own."""
    _, res, console, _, _ = traced
    metadata = (res.trace / "metadata").read_text()
    uuid = r'uuid = "([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})";'
    trace = re.search(r"^trace \{[^}]*?" + uuid, metadata, re.M | re.S)
    clock = re.search(r'^clock \{\n\tname = "trace_clock_local";\n\t' + uuid, metadata, re.M)
    assert trace and clock, metadata[:1500]
    assert clock.group(1) == checks(console)["boot-id"] != trace.group(1)
    assert "not CLOCK_MONOTONIC" in metadata


def test_sched_switch_on_every_cpu(traced):
    target, res, _, _, _ = traced
    assert {e.cpu for e in res.events if e.name == "sched_switch"} == set(range(_cpus(target)))


def test_no_event_lost_and_counts_agree(traced):
    target, _, console, _, _ = traced
    lines = re.findall(r"^kscribectl: cpu(\d+): (\d+) events, (\d+) discarded "
                       r"\(kernel: (\d+) written, (\d+) lost\)$", console, re.M)
    cpus = _cpus(target)
    trace_lines = lines[-cpus:]  # the workload's recording comes last
    assert len(trace_lines) == cpus
    for _cpu, events, discarded, written, lost in trace_lines:
        assert discarded == lost == "0" and events == written


def test_timestamps_never_go_backwards_within_a_stream(traced, tmp_path):
    target, res, _, _, _ = traced
    streams = sorted(p.name for p in res.trace.iterdir() if p.name.startswith("stream_"))
    assert len(streams) == _cpus(target)
    for stream in streams:
        one = tmp_path / stream
        one.mkdir()
        shutil.copy(res.trace / "metadata", one / "metadata")
        shutil.copy(res.trace / stream, one / stream)
        stamps = [e.ts for e in parse(babeltrace(one))]
        assert stamps and stamps == sorted(stamps), stream


def test_each_integer_class_is_declared_once(traced):
    """The events name their integer classes by typealias; each class is spelt once."""
    _, res, _, _, _ = traced
    text = (res.trace / "metadata").read_text()
    assert "integer {" not in text[text.index("\nevent {"):]
    classes = re.findall(r"^typealias (integer \{[^}]*\}) := int_\d+;$", text, re.M)
    assert classes and len(classes) == len(set(classes))


def test_a_trace_of_many_events_has_the_16_bit_event_id(traced):
    _, res, _, _, _ = traced
    header = (res.trace / "metadata").read_text().split("event.header := struct {")[1]
    assert re.search(r"enum : integer \{ size = 16; align = 8;", header), header[:200]
    assert "{ compact = 0 ... 65534, extended = 65535 } id;" in header


@pytest.mark.parametrize("tag, seconds", [("GAP", 5), ("GAP2", 0.5)])
def test_a_gap_longer_than_the_compact_timestamp_is_decoded(traced, tmp_path, settings, tag,
                                                            seconds):
    """A trace of a few events has the compact header, their ids from 0 in a 5-bit field;
    an event more than 2^27 ns after the previous one of its stream carries the whole
    timestamp (the extended header): a sleep on one CPU lasts as long in the trace, in CTF
    1.8 (5 s, past the 16-bit header's 2^32 ns too) and in CTF 2 (0.5 s)."""
    _, _, console, _, _ = traced
    trace = extract(console, tmp_path / tag.lower(), tag=tag)
    metadata = (trace / "metadata").read_text()
    if tag == "GAP":
        assert re.search(r"enum : integer \{ size = 5; align = 1;", metadata)
        ids = [int(i) for i in re.findall(r'^event \{\n\tname = "\w+";\n\tid = (\d+);$',
                                          metadata, re.M)]
    else:
        ids = [int(i) for i in re.findall(r'"type":"event-record-class"[^\x1e]*?"id":(\d+)',
                                          metadata)]
        assert '"length":5,' in metadata and '"alignment":1,' in metadata
    assert 2 <= len(ids) <= 31 and ids == list(range(len(ids))), ids
    events = parse(babeltrace(trace, ctf2_settings=settings if tag == "GAP2" else None))
    sleeps = [e for e in events if e.name.endswith("nanosleep") and e.fields.get("rqtp")
              == {"tv_sec": int(seconds), "tv_nsec": int(seconds % 1 * 1e9)}]
    assert len(sleeps) == 1, [e.name for e in events]
    tid = sleeps[0].context["tid"]
    exits = [e for e in events if e.name == sleeps[0].name.replace("entry", "exit")
             and e.context["tid"] == tid]
    assert len(exits) == 1 and exits[0].cpu == sleeps[0].cpu == 0
    assert seconds * 1e9 <= exits[0].ts - sleeps[0].ts < (seconds + 1) * 1e9, \
        exits[0].ts - sleeps[0].ts


def test_truncated_or_corrupted_stream_is_a_clear_error(traced, tmp_path):
    _, res, _, _, _ = traced
    broken = tmp_path / "trace"
    shutil.copytree(res.trace, broken)
    stream = broken / "stream_0"
    data = stream.read_bytes()
    stream.write_bytes(data[: len(data) // 2 + 3])
    with pytest.raises(KscribeError, match=r"babeltrace2 cannot read the trace: "):
        babeltrace(broken)
    stream.write_bytes(b"\xff" * 64 + data[64:])
    with pytest.raises(KscribeError, match=r"babeltrace2 cannot read the trace: "):
        babeltrace(broken)


@pytest.mark.parametrize("target", ["bookworm/amd64", "bookworm/arm64"])
def test_syscall_tables_agree_with_the_booted_kernel(settings, target):
    need_tool(CELLS["sid/arm64" if target.endswith("arm64") else "bookworm/amd64"])
    build_target(target, settings)
    formats = syscall_formats(target, settings)
    native = tables(prepare(target, settings), settings)[0]
    ours = {}
    for sc in native.syscalls:
        for name in (sc.name, sc.symbol.removeprefix("sys_"), *sc.aliases):
            ours.setdefault(name, sc)
    assert len(formats) > 250
    missing = sorted(set(formats) - set(ours))
    assert not missing, missing
    for name, args in formats.items():
        assert [a.name for a in ours[name].args] == args, name
