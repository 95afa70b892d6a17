"""A C file as the preprocessor sees its lines: logical lines, directives, comments.

Translation phases 2 and 3 of the C standard decide what is a directive: backslash-newline
joins physical lines, and a comment is one space, so ``/* #if */`` is no directive and
``#endif /* a comment that goes on`` opens a comment the next lines are part of. Each
:class:`Line` keeps its physical text byte for byte, so an unchanged line is written back
as it was read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# what the scanner stops at: comment openers and closers, string and character literals
_TOKEN = re.compile(r'/\*|\*/|//|"(?:\\.|[^"\\\n])*"?|\'(?:\\.|[^\'\\\n])*\'?')
_DIRECTIVE = re.compile(r"#\s*([A-Za-z_]\w*)?")


class SourceError(Exception):
    """A mistake in a file of the tree, at ``line``: the message says what is wrong."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


@dataclass
class Line:
    """One logical line: the physical lines a backslash joins, newlines included."""

    number: int                 # its first physical line, from 1
    text: str                   # as read
    directive: str | None       # "if", "define"... or None for a line of code or comment
    arg: str = ""               # the directive's argument, comments blanked, lines joined
    arg_start: int = 0          # where the argument starts in ``text``
    arg_end: int = 0            # where it ends: before a trailing comment, or at the end
    open_comment: int = -1      # where a comment opens in ``text`` that goes on past it
    code: bool = False          # it has something outside comments and blanks

    @property
    def arg_text(self) -> str:
        """The argument as written (comments inside it included)."""
        return self.text[self.arg_start:self.arg_end]

    def with_arg(self, arg: str, directive: str | None = None) -> str:
        """The line with ``directive`` and argument ``arg`` in place of its own; the
        indentation after ``#`` and a trailing comment are kept."""
        head = self.text[:self.arg_start]
        if directive is not None and self.directive is not None:
            at = head.index("#")
            m = _DIRECTIVE.match(head, at)
            assert m is not None and m.group(1) is not None
            head = head[:m.start(1)] + directive + " "
        tail = self.text[self.arg_end:]
        if not arg:
            head = head.rstrip(" \t")
            tail = tail if tail.strip() == "" else " " + tail.lstrip(" \t")
        elif tail and not tail[0].isspace():
            tail = " " + tail
        return head + arg + tail

    def comment_tail(self) -> str:
        """What must stay of the line when the directive goes: the comment it opens (the
        lines after it are inside that comment), else nothing."""
        if self.open_comment < 0:
            return ""
        return self.text[self.open_comment:]


def logical_lines(text: str) -> list[Line]:
    """The logical lines of ``text``; directives are recognised outside comments only."""
    physical = text.splitlines(keepends=True)
    out: list[Line] = []
    in_comment = False
    i = 0
    while i < len(physical):
        start = i
        chunk = physical[i]
        while chunk.rstrip("\r\n").endswith("\\") and i + 1 < len(physical):
            i += 1
            chunk += physical[i]
        i += 1
        line, in_comment = _scan(start + 1, chunk, in_comment)
        out.append(line)
    return out


@dataclass
class _Blanked:
    """A logical line with its comments blanked out, and what the scan found."""

    plain: str
    first_code: int | None      # the first character outside comments and blanks
    open_at: int                # where the comment still open at the end starts, or -1
    in_comment: bool


def _blank(joined: str, in_comment: bool) -> _Blanked:
    """Blank the comments of ``joined`` (a logical line that starts in a comment or not)."""
    if not in_comment and not ("/" in joined or '"' in joined or "'" in joined):
        lead = len(joined) - len(joined.lstrip())
        return _Blanked(joined, lead if lead < len(joined) else None, -1, False)
    blank = list(joined)
    pos = 0
    first_code = None
    open_at = 0 if in_comment else -1

    def erase(a: int, b: int) -> None:
        for k in range(a, b):
            if joined[k] not in "\r\n":
                blank[k] = " "

    while pos < len(joined):
        if in_comment:
            end = joined.find("*/", pos)
            stop = len(joined) if end < 0 else end + 2
            erase(pos, stop)
            pos = stop
            if end >= 0:
                in_comment, open_at = False, -1
            continue
        m = _TOKEN.search(joined, pos)
        stop = m.start() if m else len(joined)
        if first_code is None and joined[pos:stop].strip():
            first_code = stop - len(joined[pos:stop].lstrip())
        if m is None:
            break
        if m.group() == "/*":
            in_comment, open_at = True, m.start()
            erase(m.start(), m.end())
        elif m.group() == "//":
            erase(m.start(), len(joined))
        elif first_code is None:
            first_code = m.start()
        pos = m.end() if m.group() != "//" else len(joined)
    return _Blanked("".join(blank), first_code, open_at, in_comment)


def _scan(number: int, text: str, in_comment: bool) -> tuple[Line, bool]:
    """Scan one logical line that starts inside a comment or not; the line and whether
    a comment is open at its end."""
    # most lines: code that opens no comment, or a comment's inside that does not close
    if in_comment and "*/" not in text:
        return Line(number=number, text=text, directive=None), True
    if not in_comment and "/*" not in text and not text.lstrip().startswith("#"):
        bare = text.strip()
        return Line(number=number, text=text, directive=None,
                    code=bool(bare) and not bare.startswith("//")), False
    if "\\" in text and re.search(r"\\\r?\n", text):
        joined = re.sub(r"\\\r?\n", "", text)
        # positions in ``text`` of the joined characters, to map spans back
        index: Sequence[int] = [k for k in range(len(text)) if not _spliced(text, k)]
    else:
        joined, index = text, range(len(text))
    b = _blank(joined, in_comment)
    line = Line(number=number, text=text, directive=None, code=b.first_code is not None)
    if b.in_comment:
        line.open_comment = index[b.open_at] if b.open_at < len(index) else -1
    if b.first_code is None or joined[b.first_code] != "#":
        return line, b.in_comment
    d = _DIRECTIVE.match(b.plain, b.first_code)
    assert d is not None
    line.directive = d.group(1) or ""
    line.arg = b.plain[d.end():].rstrip("\r\n").strip()
    # the argument's span in the original text: up to its last character of code
    code = [k for k in range(d.end(), len(b.plain)) if not b.plain[k].isspace()]
    end_of_text = len(text.rstrip("\r\n"))

    def at(k: int) -> int:
        return index[k] if k < len(index) else end_of_text

    if code:
        line.arg_start, line.arg_end = at(code[0]), at(code[-1]) + 1
    else:
        # no argument: it "starts" right after the directive's name
        line.arg_start = line.arg_end = at(d.end())
    return line, b.in_comment


def _spliced(text: str, k: int) -> bool:
    """Whether ``text[k]`` belongs to a backslash-newline splice."""
    if text[k] == "\\":
        rest = text[k + 1:k + 3]
        return rest.startswith("\n") or rest == "\r\n"
    if text[k] == "\n":
        return k > 0 and (text[k - 1] == "\\" or (text[k - 1] == "\r" and k > 1
                                                  and text[k - 2] == "\\"))
    if text[k] == "\r":
        return k > 0 and text[k - 1] == "\\" and text[k + 1:k + 2] == "\n"
    return False
