"""Generated C layout: wrapping the kernel way, splitting argument lists."""

from kscribe.codegen.cformat import split_top_level, width, wrap_call, wrap_statement


def test_split_respects_brackets_and_strings():
    assert split_top_level('a, "x, \\"y, z", f(b, c), [1, 2], { d = 3, e = 4 }') == [
        "a", '"x, \\"y, z"', "f(b, c)", "[1, 2]", "{ d = 3, e = 4 }"]


def test_wrapped_prototype_aligns_on_the_parenthesis():
    lines = wrap_call("static void kscribe_probe_sched_switch(",
                      ["void *data", "bool preempt", "struct task_struct *prev",
                       "struct task_struct *next", "unsigned int prev_state"])
    assert lines[0] == "static void kscribe_probe_sched_switch(void *data, bool preempt,"
    col = len("static void kscribe_probe_sched_switch(")
    for line in lines[1:]:
        assert width(line) <= 80
        assert len(line.expandtabs(8)) - len(line.expandtabs(8).lstrip()) == col
    assert lines[-1].endswith("unsigned int prev_state)")


def test_long_statement_is_wrapped_within_100_columns():
    stmt = ("kscribe_copy_user(payload->abs_timeout, (const void __user *)args[4], "
            "sizeof(payload->abs_timeout));")
    lines = wrap_statement(stmt)
    assert len(lines) == 2 and all(width(ln) <= 100 for ln in lines)
    assert lines[1].strip() == "sizeof(payload->abs_timeout));"
    assert wrap_statement("x = 1;") == ["\tx = 1;"]
