"""kscribe strip on small trees written here: the rewriting rules, one at a time.

Each test writes a tree whose conditionals exercise one rule and checks the stripped text
(and the counts) for a kernel; the real trees are in tests/test_strip_trees.py.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kscribe.errors import KscribeError
from kscribe.strip import forwarders, makefiles, rules, target
from kscribe.strip.expr import ExprError, evaluate, parse
from kscribe.strip.tree import strip, write

from .conftest import need_tool

ROOT = Path(__file__).resolve().parent.parent


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    tree = tmp_path / "tree"
    for rel, text in files.items():
        p = tree / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip("\n"))
    return tree


def _strip(tmp_path: Path, files: dict[str, str], kernel: str = "6.1.100",
           distro: str = "vanilla", rules_text: str | None = None):
    tree = _tree(tmp_path, files)
    r_path = None
    if rules_text is not None:
        r_path = tmp_path / "rules.toml"
        r_path.write_text(textwrap.dedent(rules_text))
    report = strip(tree, target.make(kernel, distro), rules.load(r_path))
    return report, report.outputs


def _one(tmp_path: Path, text: str, **kw) -> tuple[str, object]:
    report, out = _strip(tmp_path, {"m.c": text}, **kw)
    return out["m.c"], report.files[0].counts


V = "LINUX_VERSION_CODE"


def _lookup(name: str):
    return target.make("6.1.100").macros.get(name)


@pytest.mark.parametrize("expr, value", [
    (f"{V} >= KERNEL_VERSION(6, 1, 0)", 1),
    (f"{V} < KERNEL_VERSION(5,15,0)", 0),
    ("KERNEL_VERSION(6, 1, 256) == KERNEL_VERSION(6, 1, 255)", 1),  # the sublevel is clamped
    ("KERNEL_VERSION(6, 2, 0) > " + V + " ? 1 : 0", 1),
    (f"({V} & 0xffff0000ULL) == 0x60000ull", 1),
    ("-1 < 0u", 0),                                      # usual arithmetic conversions
    ("'\\n' == 10 && 010 == 8", 1),
    (f"!defined(RHEL_RELEASE_CODE) && {V} > 0", 1),
])
def test_expressions_are_evaluated_as_the_preprocessor_does(expr, value):
    r = evaluate(expr, _lookup)
    assert r.decided and r.value == value


@pytest.mark.parametrize("expr, residue", [
    (f"defined(CONFIG_X) && {V} >= KERNEL_VERSION(5, 0, 0)", "defined(CONFIG_X)"),
    (f"({V} < KERNEL_VERSION(4, 0, 0) || defined(CONFIG_A)) && defined(CONFIG_B)",
     "defined(CONFIG_A) && defined(CONFIG_B)"),
    (f"!({V} < KERNEL_VERSION(4, 0, 0) || IS_ENABLED(CONFIG_B))", "!IS_ENABLED(CONFIG_B)"),
    (f"__has_include(<linux/x.h>) && {V} > 0", "__has_include(<linux/x.h>)"),
    (f"{V} > 0 ? defined(A) : defined(B)", "defined(A)"),
])
def test_mixed_conditions_reduce_to_their_undecided_residue(expr, residue):
    r = evaluate(expr, _lookup)
    assert not r.decided and r.text == residue and r.changed


@pytest.mark.parametrize("expr", ["", f"{V} >=", "defined(", "(1", "1 +* 2", "09 > 1",
                                  "1 / 0", "\"text\" == 1", "KERNEL_VERSION(1, 2)"])
def test_what_the_preprocessor_refuses_is_refused(expr):
    with pytest.raises(ExprError):
        evaluate(expr, _lookup)
    if expr == "":
        with pytest.raises(ExprError, match="no expression"):
            parse(expr)


def test_a_version_chain_keeps_the_live_branch_only(tmp_path):
    text, counts = _one(tmp_path, f"""
        #if {V} >= KERNEL_VERSION(6, 14, 0)
        a = 1;
        #elif {V} >= KERNEL_VERSION(4, 0, 0)
        a = 2;
        #else
        a = 3;
        #endif
        """)
    assert text == "a = 2;\n"
    assert (counts.removed, counts.rewritten, counts.kept) == (1, 0, 0)


def test_elif_chains_are_rewritten_around_undecided_branches(tmp_path):
    text, counts = _one(tmp_path, f"""
        #if {V} < KERNEL_VERSION(4, 0, 0)
        old();
        #elif defined(CONFIG_A)
        a();
        #elif {V} >= KERNEL_VERSION(5, 0, 0)
        new();
        #else
        never();
        #endif
        """)
    # the kept leading #elif becomes the #if, the decided-true one after it the #else
    assert text == "#if defined(CONFIG_A)\na();\n#else\nnew();\n#endif\n"
    assert (counts.removed, counts.rewritten) == (0, 1)


def test_a_residue_replaces_the_condition_and_a_trailing_comment_stays(tmp_path):
    text, _ = _one(tmp_path, f"""
        #if defined(CONFIG_X) && \\
            {V} >= KERNEL_VERSION(5, 0, 0) /* since 5.0 */
        x();
        #endif /* CONFIG_X */
        """)
    assert text == "#if defined(CONFIG_X) /* since 5.0 */\nx();\n#endif /* CONFIG_X */\n"


def test_what_the_target_does_not_decide_is_kept_verbatim(tmp_path):
    src = """
        #ifndef _M_H
        #define _M_H
        #if 0
        dead_by_hand();
        #endif
        #ifdef CONFIG_FOO
        foo();
        #else
        bar();
        #endif
        #if IS_ENABLED(CONFIG_BAR) && defined(MODULE)
        baz();
        #endif
        #endif /* _M_H */
        """
    text, counts = _one(tmp_path, src)
    assert text == textwrap.dedent(src).lstrip("\n")
    assert (counts.removed, counts.rewritten, counts.kept) == (0, 0, 4)


def test_dead_groups_are_dropped_unevaluated(tmp_path):
    text, counts = _one(tmp_path, f"""
        #if {V} < KERNEL_VERSION(3, 0, 0)
        #if this is not C at all
        #endif
        #endif
        ok();
        """)
    assert text == "ok();\n"
    assert counts.removed == 1


def test_directives_in_comments_are_not_directives(tmp_path):
    text, _ = _one(tmp_path, f"""
        /*
        #if {V} < KERNEL_VERSION(3, 0, 0)
        */
        #if {V} < KERNEL_VERSION(3, 0, 0) // old
        old();
        #endif /* an old kernel: this comment
                  goes on after the #endif */
        new();
        """)
    assert text == (f"/*\n#if {V} < KERNEL_VERSION(3, 0, 0)\n*/\n/* an old kernel: this "
                    "comment\n          goes on after the #endif */\nnew();\n")


def test_conditionals_inside_a_macro_calls_arguments(tmp_path):
    text, _ = _one(tmp_path, f"""
        TRACE_EVENT(foo,
        #if {V} >= KERNEL_VERSION(5, 10, 0)
                TP_PROTO(int a, int b),
        #else
                TP_PROTO(int a),
        #endif
                TP_ARGS(a));
        """)
    assert text == "TRACE_EVENT(foo,\n        TP_PROTO(int a, int b),\n        TP_ARGS(a));\n"


def test_the_trees_own_wrappers_and_range_macros_are_evaluated(tmp_path):
    report, out = _strip(tmp_path, {
        "compat.h": f"""
            #ifndef COMPAT_H
            #define COMPAT_H
            #ifdef RHEL_RELEASE_CODE
            #define AT_LEAST(a, b, c, ra, rb) (RHEL_RELEASE_CODE >= RHEL_RELEASE_VERSION(ra, rb))
            #else
            #define AT_LEAST(a, b, c, ra, rb) ({V} >= KERNEL_VERSION(a, b, c))
            #endif
            /* inclusive lower bound, exclusive upper bound */
            #define RANGE(a1, b1, c1, a2, b2, c2) \\
                    ({V} >= KERNEL_VERSION(a1, b1, c1) && {V} < KERNEL_VERSION(a2, b2, c2))
            #endif
            """,
        "m.c": """
            #include "compat.h"
            #if AT_LEAST(5, 18, 0, 9, 1)
            new();
            #endif
            #if RANGE(6, 1, 0, 6, 2, 0)
            in_range();
            #endif
            #if RANGE(6, 1, 101, 6, 2, 0) || RANGE(5, 0, 0, 6, 1, 100)
            not_yet();
            #endif
            """})
    assert out["m.c"] == '#include "compat.h"\nnew();\nin_range();\n'
    assert "AT_LEAST" in report.decided and "RANGE" in report.decided
    # on RHEL 9.0 the wrapper asks for RHEL 9.1: false
    report, out = _strip(tmp_path / "rhel", {"compat.h": (tmp_path / "tree/compat.h")
                                             .read_text(), "m.c": "#include \"compat.h\"\n"
                                             "#if AT_LEAST(5, 18, 0, 9, 1)\nnew();\n#endif\n"},
                         distro="rhel:9.0")
    assert out["m.c"] == '#include "compat.h"\n'


def test_flags_set_in_decided_branches_decide_later_tests(tmp_path):
    report, out = _strip(tmp_path, {"m.c": f"""
        #if {V} >= KERNEL_VERSION(5, 6, 0)
        #define HAVE_PROC_OPS
        #endif
        #if {V} < KERNEL_VERSION(4, 0, 0)
        #define HAVE_OLD_TIMERS 1
        #endif
        #ifdef HAVE_PROC_OPS
        proc_ops();
        #else
        file_ops();
        #endif
        #if defined(HAVE_OLD_TIMERS) || defined(CONFIG_Y)
        old_or_y();
        #endif
        """})
    # a flag defined only in dead code is undefined unless the kernel defines it: without
    # the kernel's headers (--target) that is not known, and it stays
    assert out["m.c"] == ("#define HAVE_PROC_OPS\nproc_ops();\n"
                          "#if defined(HAVE_OLD_TIMERS) || defined(CONFIG_Y)\n"
                          "old_or_y();\n#endif\n")
    assert "without the kernel's headers" in report.undecided_macros["HAVE_OLD_TIMERS"]
    assert report.rounds >= 2


def test_a_flag_defined_only_in_another_file_not_included_stays_undecided(tmp_path):
    _, out = _strip(tmp_path, {
        "a.h": f"#if {V} > 0\n#define HAVE_A\n#endif\n",
        "b.c": "#ifdef HAVE_A\na();\n#endif\n",
        "c.c": "#include \"a.h\"\n#ifdef HAVE_A\na();\n#endif\n"})
    assert out["b.c"] == "#ifdef HAVE_A\na();\n#endif\n"
    assert out["c.c"] == "#include \"a.h\"\na();\n"


def test_makefile_flags_and_rules(tmp_path):
    files = {
        "Makefile": """
            EL8 := $(shell cat /etc/redhat-release 2>/dev/null | grep -c " 8.")
            ifneq (,$(findstring 1, $(EL8)))
            ccflags-y += -DEL8
            endif
            ccflags-y += -DFIXED=3
            obj-m += m.o
            """,
        "m.c": f"""
            #if {V} >= KERNEL_VERSION(6, 4, 0) || defined(EL8)
            new();
            #else
            old();
            #endif
            #if FIXED == 3
            three();
            #endif
            """}
    report, out = _strip(tmp_path, files)
    assert out["m.c"].startswith("#if defined(EL8)\nnew();\n#else\nold();\n#endif\n")
    assert out["m.c"].endswith("three();\n")
    assert "EL8" in report.undecided_macros
    probes = [p for f in report.files for p in f.probes]
    assert [p.line for p in probes] == [1]
    rules_text = "[macros]\nEL8 = false\n[distro.rhel.macros]\nEL8 = true\n"
    _, out = _strip(tmp_path / "r", files, rules_text=rules_text)
    assert out["m.c"] == "old();\nthree();\n"
    _, out = _strip(tmp_path / "rhel", files, distro="rhel:8.6", rules_text=rules_text)
    assert out["m.c"] == "new();\nthree();\n"


def test_kbuild_version_probes_are_decided_and_rewritten(tmp_path):
    report, out = _strip(tmp_path, {"Makefile": """
        ifeq ($(VERSION),6)
        obj-m += six.o
        else
        obj-m += other.o
        endif
        ifneq ($(shell uname -r | cut -d. -f1),5)
        obj-m += probed.o
        endif
        """, "six.c": "", "other.c": ""})
    assert out["Makefile"] == ("obj-m += six.o\nifneq ($(shell uname -r | cut -d. -f1),5)\n"
                               "obj-m += probed.o\nendif\n")
    probes = report.files[0].probes
    assert [(p.line, p.why.split(":")[0]) for p in probes] == [(1, "true"), (6, "undecided")]


def test_forwarders_are_found_with_a_semantic_patch(tmp_path):
    report, out = _strip(tmp_path, {"compat.h": f"""
        static inline struct timespec64 compat_time(struct inode *inode)
        {{
        #if {V} >= KERNEL_VERSION(4, 18, 0)
                return current_time(inode);
        #else
                return CURRENT_TIME_SEC;
        #endif
        }}
        #define compat_lock(a, b) spin_lock_irqsave(a, b)
        """})
    found = {(f.name, f.callee, f.kind) for f in report.forwarders}
    assert found == {("compat_time", "current_time", "function")}
    cocci = forwarders.semantic_patch(report.forwarders)
    assert "- compat_time(args)\n+ current_time(args)" in cocci
    assert "- T compat_time(...) { ... }" in cocci
    # a macro that forwards is listed too when it was one before
    found = forwarders.find("c.h", "#define compat_lock(a, b) spin_lock_irqsave(a, b)\n")
    assert [(f.name, f.kind) for f in found] == [("compat_lock", "macro")]


def test_the_semantic_patch_removes_the_forwarders_with_spatch(tmp_path):
    """Coccinelle itself applies the semantic patch: the wrapper goes, its callers call the
    kernel's function."""
    need_tool("spatch")
    report, out = _strip(tmp_path, {
        "compat.h": f"""
            static inline struct timespec64 compat_time(struct inode *inode)
            {{
            #if {V} >= KERNEL_VERSION(4, 18, 0)
                    return current_time(inode);
            #else
                    return CURRENT_TIME_SEC;
            #endif
            }}
            """,
        "m.c": """
            #include "compat.h"

            void touch(struct inode *inode)
            {
                    inode->i_mtime = compat_time(inode);
            }
            """})
    stripped = tmp_path / "stripped"
    write(report, stripped)
    cocci = tmp_path / "forwarders.cocci"
    cocci.write_text(forwarders.semantic_patch(report.forwarders))
    subprocess.run(["spatch", "--sp-file", str(cocci), "--dir", str(stripped), "--in-place",
                    "--include-headers", "--very-quiet"], check=True, capture_output=True)
    assert "compat_time" not in (stripped / "compat.h").read_text()
    assert "inode->i_mtime = current_time(inode);" in (stripped / "m.c").read_text()
    assert "compat_time" not in (stripped / "m.c").read_text()


def test_the_stripped_tree_is_written_whole(tmp_path):
    tree = _tree(tmp_path, {"m.c": f"#if {V} > 0\nx();\n#endif\n", "README": "hello\n",
                            "sub/n.h": "int n;\n"})
    report = strip(tree, target.make("6.1.0"), rules.load(None))
    out = tmp_path / "out"
    write(report, out)
    assert (out / "m.c").read_text() == "x();\n"
    assert (out / "README").read_text() == "hello\n" and (out / "sub/n.h").is_file()
    with pytest.raises(KscribeError, match="outside the tree"):
        write(report, tree / "stripped")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kscribe", *args], capture_output=True,
                          text=True, cwd=ROOT)


@pytest.mark.parametrize("files, message", [
    ({"m.c": "#if LINUX_VERSION_CODE >=\nx();\n#endif\n"}, "m.c:1: #if LINUX_VERSION_CODE >=:"),
    ({"m.c": "x();\n#endif\n"}, "m.c:2: #endif without #if"),
    ({"m.c": "#ifdef A\nx();\n"}, "m.c:1: #ifdef without #endif"),
    ({"m.c": "#if 1\n#else\n#else\n#endif\n"}, "m.c:3: #else after #else"),
    ({"Makefile": "ifeq (a,b)\nobj-m += m.o\n"}, "Makefile:1: conditional without endif"),
])
def test_bad_trees_are_one_line_errors_and_nothing_is_written(tmp_path, files, message):
    tree = _tree(tmp_path, files)
    out = tmp_path / "out"
    done = _cli("strip", str(tree), "--kernel", "6.1.0", "-o", str(out))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kscribe: error: ") and message in lines[0]
    assert not out.exists() and not any(p.name.startswith(".out") for p in tmp_path.iterdir())


@pytest.mark.parametrize("args, message", [
    (["--kernel", "6.1.0", "--distro", "gentoo"], "--distro 'gentoo': unknown distribution"),
    (["--kernel", "6.1.0", "--distro", "rhel:nine"], "rhel needs rhel:PARAM matching"),
    (["--kernel", "six"], "--kernel 'six': not a kernel version"),
    (["--kernel", "6.1.0", "--verify"], "strip --verify builds against a target's headers"),
    (["--kernel", "6.1.0", "--rules", "/nonexistent.toml"], "/nonexistent.toml: cannot read"),
])
def test_bad_arguments_are_one_line_errors(tmp_path, args, message):
    tree = _tree(tmp_path, {"m.c": "x();\n"})
    done = _cli("strip", str(tree), "-o", str(tmp_path / "out"), *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and message in done.stderr
    assert not (tmp_path / "out").exists()


def test_makefile_parsing_survives_recipes_and_else_if(tmp_path):
    p = tmp_path / "Makefile"
    p.write_text("ifeq ($(PATCHLEVEL),1)\nA := 1\nelse ifeq ($(PATCHLEVEL),2)\nA := 2\n"
                 "else\nA := 3\nendif\nall:\n\tifeq is not a directive here\n")
    mk = makefiles.read(p, "Makefile", makefiles.Facts((6, 2, 0), ()))
    assert mk.output == "A := 2\nall:\n\tifeq is not a directive here\n"


def test_a_distributions_abi_range_macro_with_the_value_its_kbuild_computes(tmp_path):
    """A tree whose Kbuild computes -DDEBIAN_API_VERSION from the kernel's release, and a
    range macro over it: the rules file gives the value the Kbuild would compute."""
    files = {
        "Kbuild": "ccflags-y += -DDEBIAN_API_VERSION=$(shell ./abi-debian-version.sh)\n",
        "compat.h": f"""
            #define DEBIAN_KERNEL_RANGE(a1, b1, c1, d1, a2, b2, c2, d2) \\
                    (defined(DEBIAN_API_VERSION) && \\
                     (({V} * 1000 + DEBIAN_API_VERSION) >= \\
                      (KERNEL_VERSION(a1, b1, c1) * 1000 + (d1))) && \\
                     (({V} * 1000 + DEBIAN_API_VERSION) < \\
                      (KERNEL_VERSION(a2, b2, c2) * 1000 + (d2))))
            """,
        "m.c": """
            #include "compat.h"
            #if DEBIAN_KERNEL_RANGE(6, 1, 0, 28, 6, 2, 0, 0)
            backported();
            #else
            upstream();
            #endif
            """}
    rules_text = "[distro.debian.macros]\nDEBIAN_API_VERSION = \"{abi}\"\n"
    _, out = _strip(tmp_path / "new", files, "6.1.0", "debian:6.1.0-57", rules_text)
    assert out["m.c"] == '#include "compat.h"\nbackported();\n'
    _, out = _strip(tmp_path / "old", files, "6.1.0", "debian:6.1.0-12", rules_text)
    assert out["m.c"] == '#include "compat.h"\nupstream();\n'
    # on a kernel that is not Debian's the value is not known, and the site is reported
    report, out = _strip(tmp_path / "vanilla", files, "6.1.0", "vanilla", rules_text)
    assert out["m.c"].startswith('#include "compat.h"\n#if DEBIAN_KERNEL_RANGE(')
    assert report.files[-1].counts.undecided[0].why.startswith("depends on DEBIAN_API_VERSION")


def test_the_size_table_in_its_three_formats(tmp_path):
    from kscribe.sloc import facets, table

    before = _tree(tmp_path / "a", {"core/a.c": "int a;\n/* note */\nint b;\n",
                                    "probes/p.c": "int p;\n", "probes/q.h": "// only\n"})
    after = _tree(tmp_path / "b", {"core/a.c": "int a;\n", "probes/p.c": "int p;\n"})
    spec = tmp_path / "facets.yaml"
    spec.write_text("facets:\n  core: [core/]\n  probes: ['probes/*.c']\n")
    rows = facets.measure([before, after], facets.load(spec))
    assert [(r.facet, r.sloc, r.files) for r in rows] == [("core", [2, 1], [1, 1]),
                                                          ("probes", [1, 1], [1, 1])]
    labels = ["before", "after"]
    assert table.text(rows, labels).splitlines() == [
        "before   after   change  path", "     2       1   -50.0%  core",
        "     1       1    +0.0%  probes", "     3       2   -33.3%  total"]
    last = table.markdown(rows, labels).splitlines()[-1]
    assert last == "| **3** | **2** | **-33.3%** | **total** |"
    assert table.as_json(rows, labels)["total"] == [3, 2]
    one = facets.measure([before], None)
    assert table.text(one, ["a"]).splitlines() == ["SLOC  path", "   2  core", "   1  probes",
                                                   "   3  total"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("facets:\n  core: core/\n")
    with pytest.raises(KscribeError, match="facet 'core': a list of folders and globs"):
        facets.load(bad)


def test_the_tracers_facets_name_its_files_in_a_build_folder_and_in_a_kernel_tree():
    """patches/facets.yaml puts every C file the tracer has, out of tree and in either
    placement of patches/plan.yaml, in the facet of the plan that adds it."""
    from kscribe.codegen.module import CORE_FILES, SYSCALL_FILES, SYSCALL_TABLES
    from kscribe.sloc import facets
    from kscribe.upstream import plan

    spec = facets.load(ROOT / "patches/facets.yaml")
    p = plan.load()
    names = {f.name for f in spec}
    assert names <= {f.name for f in p.facets}

    def facet(rel: str) -> str | None:
        return next((f.name for f in spec if f.matches(rel)), None)

    core = [n for n in CORE_FILES.values() if n.endswith((".c", ".h"))]
    syscalls = [*SYSCALL_FILES.values(), SYSCALL_TABLES]
    for where in ["", *(f"{pl.dir}/" for pl in p.placements.values())]:
        for name in core:
            rel = name if name.startswith("include/") else where + name
            assert facet(rel) == "core", rel
        for name in syscalls:
            assert facet(where + name) == "syscalls", where + name
        assert facet(where + "kscribe_probe_sched.c") == "probes"
    assert facet("tools/testing/selftests/kscribe/kscribe_test.c") == "selftest"
    assert facet("kernel/trace/trace.c") is None


def test_a_rules_file_names_a_wrapper_to_evaluate(tmp_path):
    """A wrapper defined under a condition the target does not decide is evaluated only
    when the rules file names it."""
    files = {"m.c": f"""
        #ifdef __KERNEL__
        #define AT_LEAST(a, b) ({V} >= KERNEL_VERSION(a, b, 0))
        #endif
        #if AT_LEAST(5, 0)
        new();
        #endif
        """}
    report, out = _strip(tmp_path / "a", files)
    assert out["m.c"].endswith("#if AT_LEAST(5, 0)\nnew();\n#endif\n")
    assert "under a condition the target does not decide" in report.undecided_macros["AT_LEAST"]
    report, out = _strip(tmp_path / "b", files, rules_text="[evaluate]\nnames = [\"AT_LEAST\"]\n")
    assert out["m.c"].endswith("#endif\nnew();\n")
    assert "AT_LEAST" in report.decided
