"""Spec errors name the file and line, and nothing is rendered from a bad spec."""

from pathlib import Path

import pytest

from kscribe.errors import KscribeError
from kscribe.instrument.events.spec import load, load_all

ROOT = Path(__file__).resolve().parent.parent


def _spec(tmp_path: Path, text: str, name: str = "sched.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("text,line,message", [
    ("subsystem: sched\nevents:\n  - tracepoint: [a\n", 4, "YAML syntax error"),
    ("subsystem: sched\nevents:\n  - tracepoint: a\n    field: x\ntitle: t\n", 4,
     "unknown key 'field'"),
    ("subsystem: sched\nevents:\n  - tracepoint: a\n  - tracepoint: a\ntitle: t\n", 4,
     "listed twice"),
    ("subsystem: sched\nevents:\n  - tracepoint: a\n", 1, "missing key 'title'"),
    ("subsystem: sched\nevents: []\ntitle: t\n", 2, "'events' must be a non-empty list"),
    ("subsystem: irq\nevents:\n  - tracepoint: a\ntitle: t\n", 1, "must match the file name"),
    ("subsystem: sched\nevents:\n  - {}\ntitle: t\n", 3, "missing key 'tracepoint'"),
    ("subsystem: sched\nsubsystem: x\n", 2, "given twice"),
])
def test_errors_name_file_and_line(tmp_path, text, line, message):
    path = _spec(tmp_path, text)
    with pytest.raises(KscribeError) as e:
        load(path)
    assert str(e.value).startswith(f"{path}:{line}: ")
    assert message in str(e.value)


def test_project_specs_load():
    specs = {s.subsystem: s for s in load_all(ROOT / "instrumentation/events")}
    assert "sched" in specs
    sched = specs["sched"]
    assert sched.header == "trace/events/sched.h"
    assert sched.events[0].tracepoint == "sched_switch" and sched.events[0].line > 1
