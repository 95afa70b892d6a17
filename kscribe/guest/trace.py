"""Traces on the host: taken off the guest's console, read with babeltrace2, summarised.

``/init`` writes the CTF trace folder to the console as a gzipped tar in base64 between
``KSCRIBE-TRACE-BEGIN`` and ``KSCRIBE-TRACE-END`` (:mod:`kscribe.guest.console`). This
module unpacks it, checks the
stream files' packets, runs ``babeltrace2`` (with a time limit: a broken trace must give an
error, never a hang) and parses its text output into events.
"""

from __future__ import annotations

import io
import re
import tarfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from kscribe.config.settings import Settings
from kscribe.errors import KscribeError
from kscribe.guest.console import payload
from kscribe.toolchain.chroot import Chroot
from kscribe.util import atomic, proc
from kscribe.util.ctext import split_top_level

BABELTRACE_TIMEOUT_S = 120
_LINE = re.compile(r"^\[(?P<ts>\d+\.\d+)\] (?:\S+ )?(?P<name>\w+): (?P<scopes>stream\..*)$")
# the readers print each scope named ("stream.packet.context = { cpu_id = 0 }, ..."), so that
# an event's context and its fields cannot be told apart by position alone
_OPTIONS = ["--clock-seconds", "--no-delta", "--names", "payload,context,scope"]


@dataclass(frozen=True)
class Event:
    """One event as babeltrace2 prints it: timestamp (ns), name, CPU, payload fields and the
    per-event contexts the recording had (``tid``, ``procname``...)."""

    ts: int
    name: str
    cpu: int
    fields: dict[str, object] = field(default_factory=dict)
    context: dict[str, object] = field(default_factory=dict)


def extract(console: str, dest: Path, tag: str = "TRACE") -> Path:
    """Unpack the trace sent over ``console`` into ``dest`` (replaced atomically).

    ``tag`` names the payload; the archive holds one folder, ``/tmp/<tag in lower case>``.
    """
    blob = payload(console, tag)
    with atomic.atomic_path(dest, directory=True) as tmp:
        try:
            with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
                _extract_plain_files(tar, tmp)
        except (tarfile.TarError, OSError, EOFError) as e:
            raise KscribeError(f"the trace on the console is damaged: {e}") from None
        inner = tmp / tag.lower()
        if not (inner / "metadata").is_file():
            raise KscribeError("the trace from the guest has no metadata file")
        for p in inner.iterdir():
            p.rename(tmp / p.name)
        inner.rmdir()
    return dest


def _extract_plain_files(tar: tarfile.TarFile, dest: Path) -> None:
    """Extract only folders and regular files with relative, clean names (a trace has no
    other kind), whatever Python's own extraction filters can do."""
    for member in tar.getmembers():
        name = Path(member.name)
        if name.is_absolute() or ".." in name.parts or not (member.isfile() or member.isdir()):
            raise KscribeError(f"the trace archive holds an unexpected entry {member.name!r}")
        target = dest / name
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        src = tar.extractfile(member)
        assert src is not None
        with src:
            target.write_bytes(src.read())


# the readers of a trace: babeltrace2, and babeltrace 1.5, an independent CTF 1.8 reader
READERS = {"babeltrace2": "to read CTF traces",
           "babeltrace": "to read the trace with a second, independent CTF reader"}


# CTF 2 needs babeltrace2 2.1 or later: trixie's (bookworm has 2.0), run in a chroot of it
CTF2_READER_SUITE = "trixie"


def babeltrace(trace: Path, reader: str = "babeltrace2", *,
               ctf2_settings: Settings | None = None) -> str:
    """The text of ``reader`` (:data:`READERS`) over a trace folder; a clear error if it
    cannot read it. Both print the same line format (read by :func:`parse`). With
    ``ctf2_settings``, babeltrace2 runs in a chroot of :data:`CTF2_READER_SUITE`, which
    reads CTF 2."""
    if not (trace / "metadata").is_file():
        raise KscribeError(f"{trace}: not a CTF trace (no metadata file)")
    argv = [reader, *_OPTIONS, str(trace)]
    if ctf2_settings is not None:
        root = Chroot(ctf2_settings, CTF2_READER_SUITE, [reader])
        root.ensure()
        argv = root.command(argv, cwd=trace, binds=[trace])
    else:
        proc.require(reader, why=READERS[reader])
    done = proc.run(argv, check=False, timeout=BABELTRACE_TIMEOUT_S, text=False)
    if done.returncode != 0:
        cause = _babeltrace_cause(done.stderr.decode(errors="replace"))
        raise KscribeError(f"{trace}: {reader} cannot read the trace: {cause}")
    return done.stdout.decode(errors="replace")


def _babeltrace_cause(stderr: str) -> str:
    """The most specific line of a babeltrace2 error report."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in lines:
        if "Caused by:" in ln or "ERROR" in ln:
            continue
        if re.search(r"(offset|packet|stream|file|truncat|expect)", ln, re.I):
            return re.sub(r"^\S+ \S+ \S+ \S+ \S+ ", "", ln)[:300]
    return (lines[-1] if lines else "no message")[:300]


def _fields(text: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for part in split_top_level(text):
        key, _, value = part.partition(" = ")
        out[key.strip()] = _value(value.strip())
    # a user string is a variant on its "<name>_state": its text, or None when it was not
    # resident (babeltrace2 prints { "text" } or { { } }, babeltrace { text = "text" })
    for key, state in list(out.items()):
        if key.endswith("_state") and (name := key[:-6]) in out:
            shown = out[name]
            out[name] = None if state == "not_resident" else \
                shown.get("text") if isinstance(shown, dict) else shown
    return out


def _value(text: str) -> object:
    if text.startswith("{") and text.endswith("}"):
        inner = text[1:-1].strip()
        if inner.startswith(('"', "{")) and len(split_top_level(inner)) == 1:
            return _value(inner)  # a variant's value, printed without its option's name
        return _fields(inner)
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        if not inner:
            return []
        return [_value(p.partition(" = ")[2].strip()) for p in split_top_level(inner)]
    if text.startswith('"') and text.endswith('"'):
        return text[1:-1].encode().decode("unicode_escape")
    if text.startswith("( "):  # enumeration: ( "LABEL" : container = 3 )
        m = re.search(r'"([^"]*)"', text)
        return m.group(1) if m else text
    try:
        return int(text, 0)
    except ValueError:
        return text


def parse(text: str) -> list[Event]:
    """Events of a reader's text output (run with :data:`_OPTIONS`)."""
    events = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        scopes = _fields(m["scopes"])
        packet, fields, context = (scopes.get(k, {}) for k in (
            "stream.packet.context", "event.fields", "stream.event.context"))
        if not (isinstance(packet, dict) and isinstance(fields, dict)
                and isinstance(context, dict)):
            continue
        sec, _, frac = m["ts"].partition(".")
        ts = int(sec) * 1_000_000_000 + int(frac.ljust(9, "0")[:9])
        events.append(Event(ts, m["name"], int(str(packet.get("cpu_id", -1))), fields, context))
    return events


def summary(events: list[Event]) -> dict[str, int]:
    """Events per type, most frequent first."""
    return dict(Counter(e.name for e in events).most_common())

