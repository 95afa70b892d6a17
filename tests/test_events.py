"""Event specs joined with real targets: prototypes decide fields, errors name file and line."""

from pathlib import Path

import pytest

from kscribe.codegen import kconfig
from kscribe.codegen.payload import payload_c
from kscribe.config import paths
from kscribe.errors import KscribeError
from kscribe.instrument.events.resolve import resolve
from kscribe.instrument.events.spec import load, load_all
from kscribe.kernel.tree import read_tree
from kscribe.pipeline import prepare

pytestmark = pytest.mark.usefixtures("network")


def _tree(settings, target):
    return read_tree(prepare(target, settings).provisioned.kdir)


def _events(settings, target):
    out = {}
    for spec in load_all(paths.INSTRUMENTATION / "events"):
        sub = resolve(spec, _tree(settings, target))
        out.update({f"{spec.subsystem}:{e.name}": e for e in sub.events})
    return out


def _names(event):
    return [f.name for f in event.fields]


def test_stable_update_fields_follow_the_exact_kernel(settings):
    old = _events(settings, "bullseye/amd64")
    new = _events(settings, "bookworm/amd64")
    assert "was_armed" not in _names(old["timer:hrtimer_start"])
    assert "was_armed" in _names(new["timer:hrtimer_start"])
    assert "prev_state" not in _names(old["sched:sched_switch"])
    assert "prev_state" in _names(new["sched:sched_switch"])


def test_expression_cases_follow_the_argument_type(settings):
    exprs = {t: {f.name: f.expr for f in _events(settings, t)["timer:hrtimer_expire_entry"].fields}
             for t in ("bookworm/amd64", "sid/amd64")}
    assert exprs["bookworm/amd64"]["now"] == "ktime_to_ns(*now)"
    assert exprs["sid/amd64"]["now"] == "ktime_to_ns(now)"


def test_payload_and_metadata_agree(settings):
    for name, ev in _events(settings, "bookworm/amd64").items():
        pc = payload_c(ev)
        fixed = [m.split()[-1].split("[")[0].rstrip(";") for m in pc.members]
        tsdl = [line.split()[-1].split("[")[0].rstrip(";").lstrip("_") for line in ev.tsdl()]
        assert tsdl[:len(fixed)] == fixed, name
        assert tsdl[len(fixed):] == [f.name for f in ev.variable], name
        assert pc.var["p"] not in {a.name for a in ev.tracepoint.args}, name


def test_pointer_size_follows_the_target(settings):
    hex64 = _events(settings, "bookworm/amd64")["timer:timer_cancel"]
    hex32 = _events(settings, "bookworm/i386")["timer:timer_cancel"]
    assert "size = 64;" in hex64.tsdl()[0] and "base = 16;" in hex64.tsdl()[0]
    assert "size = 32;" in hex32.tsdl()[0]


def _spec(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "timer.yaml"
    p.write_text("subsystem: timer\nevents:\n" + body + "title: timers\n")
    return p


@pytest.mark.parametrize("body,line,needle", [
    ("  - tracepoint: hrtimer_start\n    fields:\n"
     "      - {name: armed, type: bool, expr: was_armed}\n", 5,
     "field 'armed' of hrtimer_start: argument 'was_armed' not in the prototype; the "
     "target's prototype is hrtimer_start(struct hrtimer *hrtimer, enum hrtimer_mode mode)"),
    ("  - tracepoint: hrtimer_start\n    fields:\n"
     "      - {name: mode, type: u33, expr: mode}\n", 5, "unknown type 'u33'"),
    ("  - tracepoint: no_such_tracepoint\n", 3, "tracepoint 'no_such_tracepoint' is not defined"),
    ("  - tracepoint: hrtimer_start\n    fields:\n"
     "      - {name: data, type: \"u8[]\", max: 8, expr: hrtimer}\n", 5, "needs 'length'"),
])
def test_spec_errors_against_a_target(settings, tmp_path, body, line, needle):
    path = _spec(tmp_path, body)
    with pytest.raises(KscribeError) as e:
        resolve(load(path), _tree(settings, "bullseye/amd64"))
    assert str(e.value).startswith(f"{path}:{line}: ")
    assert needle in str(e.value)


def test_subsystem_left_out_when_the_config_lacks_it(settings, tmp_path):
    path = tmp_path / "timer.yaml"
    path.write_text("subsystem: timer\ntitle: timers\nrequires: [NO_SUCH_SYMBOL]\n"
                    "events:\n  - tracepoint: hrtimer_start\n")
    tree = _tree(settings, "bookworm/amd64")
    text = kconfig.render(kconfig.options([load(path)], syscalls=False))
    assert "\tdepends on KSCRIBE && NO_SUCH_SYMBOL\n" in text
    assert kconfig.choose(text, tree.config) == {"KSCRIBE": "m", "KSCRIBE_PROBE_TIMER": "n"}
