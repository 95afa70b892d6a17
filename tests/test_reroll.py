"""The review loop: a series made as v1, then rerolled v2 and v3 with real changes of the
plan and the sources in between; each version written as threaded mail and taken back by
b4 and git am; received trailers kept where the code is the same and dropped where it
changed; the review page checked in a real headless browser."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kscribe.config import paths
from kscribe.errors import KscribeError
from kscribe.pipeline import prepare, upstream_label
from kscribe.upstream import base as bases
from kscribe.upstream import gates, reroll, series

from .conftest import copy_sources, need_tool

MODE = "bulk"
SYSCALLS_C = "kernel_module/probes/kscribe_syscalls.c"
DOC = "patches/files/kscribe.rst"
REVIEWER = "Rita Reviewer <rita@example.org>"
ACKER = "Anton Acker <anton@example.org>"
TESTER = "Tess Tester <tess@example.org>"
MAINTAINER = "Mae Maintainer <mae@example.org>"


def _run(env, *args):
    r = subprocess.run([sys.executable, "-m", "kscribe", "-q", "upstream", *args], env=env,
                       cwd=paths.ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, (path, old)
    path.write_text(text.replace(old, new))


def _reply(to: series.Series, number: int, trailer: str) -> str:
    """A reviewer's reply to message ``number`` of ``to``: quoted text, then a trailer."""
    m = to.mail[number]
    return (f"From reviewer Thu Jan  1 00:00:00 1970\nFrom: {trailer.split(': ', 1)[1]}\n"
            f"Subject: Re: patch {number}\nMessage-Id: <reply-{number}-{len(trailer)}@x>\n"
            f"In-Reply-To: {m.message_id}\nReferences: {to.mail[0].message_id} "
            f"{m.message_id}\n\n> Signed-off-by: Someone Quoted <q@example.org>\n"
            f"> +int x;\n\nLooks good.\n\n{trailer}\n\n")


@pytest.fixture(scope="module")
def versions(settings, env, tmp_path_factory):
    """v1, v2 and v3 of the bulk series, from a copy of the sources changed in between."""
    root = tmp_path_factory.mktemp("reroll")
    src = copy_sources(root / "src")
    env = {**env, "KSCRIBE_SOURCE": str(src), "KSCRIBE_OUT": str(root / "out")}
    out = root / "patches"
    made = {1: _run(env, MODE, "-o", str(out), "--no-build")}
    v1 = series.load(out / "series.json")
    # v2: a clearer commit message for patch 1, a code change in patch 2; replies to v1
    _edit(src / "patches/plan.yaml", "It is built on shared infrastructure:",
          "It is built on infrastructure the kernel already has:")
    _edit(src / SYSCALLS_C, "MODULE_DESCRIPTION(\"", "MODULE_DESCRIPTION(\"kscribe: ")
    (src / "patches/changes.yaml").write_text(
        f"{MODE}:\n  v2:\n    - Reworded the description of the core (Rita).\n")
    replies = root / "replies.mbox"
    replies.write_text(_reply(v1, 1, f"Reviewed-by: {REVIEWER}")
                       + _reply(v1, 0, f"Acked-by: {ACKER}")
                       + _reply(v1, 2, f"Tested-by: {TESTER}"))
    made[2] = _run(env, MODE, "-o", str(out), "--no-build", "--reroll", "--trailers",
                   str(replies))
    v2 = series.load(out / "series.json")
    # v3: the documentation (patch 1) changes; a maintainer's review of v2's patch 2
    _edit(src / DOC, "kscribe records", "kscribe, a tracer, records")
    given = root / "trailers.txt"
    given.write_text(f"# from the list\n2: Reviewed-by: {MAINTAINER}\n")
    made[3] = _run(env, MODE, "-o", str(out), "--no-build", "--reroll", "--trailers",
                   str(given))
    v3 = series.load(out / "series.json")
    # the earlier versions as the reroll kept them
    v1, v2 = (series.load(out / f"v{v}" / "series.json") for v in (1, 2))
    return {"out": out, "env": env, "printed": made, 1: v1, 2: v2, 3: v3,
            "work": root / "out" / "upstream" / upstream_label(MODE, "keep")}


def test_every_version_keeps_the_change_id_and_the_earlier_ones(versions):
    out = versions["out"]
    ids = {versions[v].change_id for v in (1, 2, 3)}
    assert len(ids) == 1
    assert [versions[v].version for v in (1, 2, 3)] == [1, 2, 3]
    for v in (1, 2):
        kept = series.load(out / f"v{v}" / "series.json")
        assert kept.version == v and kept.tip == versions[v].tip
        assert all(Path(p.file).is_file() and Path(p.file).parent == out / f"v{v}"
                   for p in kept.patches)
        assert all(Path(m.file).is_file() for m in kept.mail)
    cover = Path(versions[3].cover).read_text()
    assert re.search(r"^Subject: \[PATCH v3 0/2\] ", cover, re.M)
    assert f"change-id: {versions[1].change_id}" in cover
    assert all(re.search(r"^Subject: \[PATCH v3 [12]/2\] ", Path(p.file).read_text(), re.M)
               for p in versions[3].patches)


def test_the_cover_says_what_changed_with_links_to_earlier_versions(versions):
    cover = Path(versions[3].cover).read_text()
    flat = " ".join(cover.split())
    v3 = flat.index("Changes in v3:")
    v2 = flat.index("Changes in v2:")
    assert v3 < v2 < flat.index("Range-diff versus v2:") < flat.index("base-commit:")
    assert "Reworded the description of the core (Rita)." in flat[v2:]
    assert 'Patch 1/2 "tracing/kscribe: add the kscribe tracer" changed: ' \
           'Documentation/trace/kscribe.rst' in flat[v3:v2]
    assert "the commit message changed, not the code" in flat[v2:]
    assert 'Patch 2/2 "tracing/kscribe: record system calls" changed: ' \
           'kernel/trace/kscribe/kscribe_syscalls.c' in flat[v2:]
    for old in (1, 2):
        link = versions[old].mail[0].message_id.strip("<>")
        assert f"Link to v{old}: https://lore.kernel.org/r/{link}" in flat


def test_the_range_diff_shows_exactly_the_changes(versions):
    d2, d3 = versions[2].range_diff, versions[3].range_diff
    assert re.search(r"^1: +[0-9a-f]+ ! 1: +[0-9a-f]+ tracing/kscribe: add the kscribe tracer",
                     d2, re.M)
    assert re.search(r"^ +- +It is built on shared infrastructure", d2, re.M)
    assert re.search(r"^ +\+ +It is built on infrastructure the kernel", d2, re.M)
    assert re.search(r'^ *\+ *\+MODULE_DESCRIPTION\("kscribe: ', d2, re.M)
    # in v3 the documentation of patch 1 changed; patch 2 only got its trailer
    assert "kscribe, a tracer, records" in d3.split("\n2: ")[0]
    second = d3.split("\n2: ", 1)[1]
    assert re.match(r" +[0-9a-f]+ ! 2: +[0-9a-f]+ tracing/kscribe: record system calls", second)
    changed = [ln.strip() for ln in second.splitlines()[1:] if ln.lstrip()[:1] in "+-"
               and ln.strip()]
    assert [" ".join(c.split()) for c in changed] == [f"+ Reviewed-by: {MAINTAINER}"]


def test_trailers_are_kept_on_unchanged_code_and_dropped_on_changed(versions):
    p1, p2 = versions[2].patches
    assert p1.since == "message" and p2.since == "changed"
    assert p1.trailers == [f"Acked-by: {ACKER}", f"Reviewed-by: {REVIEWER}"]
    assert p2.trailers == [] and p2.dropped == [f"Acked-by: {ACKER}", f"Tested-by: {TESTER}"]
    q1, q2 = versions[3].patches
    assert q1.since == "changed" and q1.trailers == [] and \
        q1.dropped == [f"Acked-by: {ACKER}", f"Reviewed-by: {REVIEWER}"]
    assert q2.since == "unchanged" and q2.trailers == [f"Reviewed-by: {MAINTAINER}"]
    # the trailers are in the commits, above the user's Signed-off-by, and in the patches
    text = Path(p1.file).read_text()
    assert re.search(rf"^Acked-by: {ACKER}\nReviewed-by: {REVIEWER}\nSigned-off-by: ",
                     text, re.M)
    assert "Tested-by" not in Path(p2.file).read_text()
    assert f"Reviewed-by: {MAINTAINER}\nSigned-off-by: " in Path(q2.file).read_text()
    # the quoted SoB of the replies is no trailer
    assert "Someone Quoted" not in Path(p1.file).read_text()


def test_each_version_round_trips_through_b4_and_git_am(versions):
    for v in (1, 2, 3):
        rt = versions[v].gates["round_trip"]
        assert rt == {"b4": "0.16.0", "messages": 3, "commits": 2, "identical": True}, v
        assert all(p.gates["am"] is True for p in versions[v].patches)


def test_a_posting_that_differs_from_the_series_fails_the_round_trip(versions, settings,
                                                                     tmp_path):
    s = versions[2]
    for m in s.mail:
        shutil.copy(m.file, tmp_path / Path(m.file).name)
    s.mail = [type(m)(**{**m.__dict__, "file": str(tmp_path / Path(m.file).name)})
              for m in s.mail]
    patch = Path(s.mail[2].file)
    text = patch.read_text()
    patch.write_text(text.replace('+MODULE_DESCRIPTION("kscribe: ',
                                  '+MODULE_DESCRIPTION("kscribe! ', 1))
    base = bases.debian_source(settings, prepare("sid/amd64", settings).resolved)
    with pytest.raises(gates.GateFailed, match="round trip: b4 am and git am gave 2 commits "
                                               "and another tree"):
        gates.round_trip(base, s, s.mail, tmp_path / "rt")


def test_trailers_must_name_a_patch_and_a_known_tag(versions, tmp_path):
    bad = tmp_path / "t.txt"
    bad.write_text("7: Reviewed-by: A <a@b.c>\n")
    with pytest.raises(KscribeError, match=r"t.txt:1: not 'NUMBER: Tag: Name <address>'"):
        reroll.received(bad, versions[1])
    bad.write_text("1: Liked-by: A <a@b.c>\n")
    with pytest.raises(KscribeError, match=r"t.txt:1: "):
        reroll.received(bad, versions[1])


@pytest.mark.parametrize("args,message", [
    ([MODE, "--reroll", "-o", "{tmp}/none"], "{tmp}/none/series.json: no series here"),
    ([MODE, "--reroll", "-o", "{tmp}/broken"], "{tmp}/broken/series.json: not a series.json"),
    ([MODE, "--trailers", "{tmp}/t"], "--trailers are taken into a reroll: give --reroll"),
    (["status"], "upstream status: give the folder of a series"),
    (["status", "{tmp}/none"], "{tmp}/none/series.json: no series here"),
    (["history", "--reroll"], "upstream history takes -o, --tree, --source, --url"),
    ([MODE, "--url", "x"], "--source and --url are options of `upstream history` only"),
])
def test_a_wrong_command_line_is_one_error(env, tmp_path, args, message):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "series.json").write_text('{"mode": "bulk"')
    r = subprocess.run([sys.executable, "-m", "kscribe", "upstream",
                        *(a.format(tmp=tmp_path) for a in args)], env=env, cwd=paths.ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith(f"kscribe: error: {message.format(tmp=tmp_path)}"), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_status_shows_every_version_and_its_page_renders(versions, tmp_path):
    need_tool("chromium-headless-shell")
    out = versions["out"]
    printed = _run(versions["env"], "status", str(out))
    lines = printed.splitlines()
    heads = [ln for ln in lines if re.match(r"^v\d: ", ln)]
    assert [h[:3] for h in heads] == ["v1:", "v2:", "v3:"]
    assert all(f"change-id {versions[1].change_id}" in h for h in heads)
    assert any(re.match(r"^ +2/2 tracing/kscribe: record system calls: \+\d+ -0, \d+ bytes; "
                        r"am ok, checkpatch 0/0/0; unchanged; keeps Reviewed-by: Mae", ln)
               for ln in lines), printed
    page = out / "status.html"
    assert page.is_file()
    dom = subprocess.run(["chromium-headless-shell", "--no-sandbox", "--disable-gpu",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120)
    assert dom.returncode == 0, dom.stderr
    assert dom.stdout.count("<section id=\"v") == 3
    assert len(re.findall(r"<tr><td class=\"n\">\d/2</td>", dom.stdout)) == 6
    assert "Range-diff versus v2" in dom.stdout and "kscribe, a tracer, records" in dom.stdout
    shot = tmp_path / "status.png"
    r = subprocess.run(["chromium-headless-shell", "--no-sandbox", "--disable-gpu",
                        f"--screenshot={shot}", "--window-size=1280,1600", page.as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and shot.stat().st_size > 20_000, r.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # nothing comes from outside the page
    assert not re.search(r"<(link|script|img)\b", page.read_text())


def test_the_series_record_is_json_of_every_version(versions):
    record = json.loads((versions["out"] / "series.json").read_text())
    assert record["version"] == 3 and set(record["changes"]) == {"2", "3"}
