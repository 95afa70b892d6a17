"""The kernel's register of ioctl numbers (``Documentation/userspace-api/ioctl/ioctl-number.rst``).

The tracer's block is registered there with a row in code order (``--abi keep``), or, for
``--abi new``, the ABI moves to the first block of the same size that no row of the base
tree claims. The table's rows are ``CODE  SEQ  INCLUDE  COMMENTS``; CODE is ``'c'`` or
``0xNN``, SEQ is ``NN``, ``NN-MM`` or ``all``, and a row's further lines start blank.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kscribe.errors import KscribeError

TABLE = "Documentation/userspace-api/ioctl/ioctl-number.rst"
_ROW = re.compile(r"^(?P<code>'.'|0x[0-9A-Fa-f]{2})\s+(?P<seq>all|[0-9A-Fa-f]{2}"
                  r"(?:-[0-9A-Fa-f]{2})?)(?:\s|$)")


@dataclass(frozen=True)
class Block:
    """A range of ioctl numbers of one magic code."""

    magic: str
    first: int
    last: int


def _code(text: str) -> int:
    return ord(text[1]) if text.startswith("'") else int(text, 16)


def rows(table: str) -> list[tuple[int, Block]]:
    """(line index, block) of every row of the table."""
    out = []
    for i, line in enumerate(table.split("\n")):
        m = _ROW.match(line)
        if not m:
            continue
        seq = m["seq"]
        first, last = (0, 0xFF) if seq == "all" else \
            (int(seq[:2], 16), int(seq[-2:], 16))
        out.append((i, Block(chr(_code(m["code"])), first, last)))
    if not out:
        raise KscribeError(f"{TABLE} of the base tree: no row of ioctl numbers found")
    return out


def free_block(table: str, size: int, magics: str, avoid: Block) -> Block:
    """The first block of ``size`` numbers (aligned to its size) of the first code in
    ``magics`` that no row claims and that is not ``avoid``."""
    taken = [b for _, b in rows(table)]
    for magic in magics:
        for first in range(0, 0x100, size):
            b = Block(magic, first, first + size - 1)
            if b == avoid:
                continue
            if not any(t.magic == magic and t.first <= b.last and b.first <= t.last
                       for t in taken):
                return b
    raise KscribeError(f"{TABLE} of the base tree: no free block of {size} numbers with the "
                       f"codes {magics!r}; widen ioctl.new.magics in the plan")


def register(table: str, block: Block, header: str, comment: str) -> str:
    """The table with a row for ``block``, in code order (after every row of a lower or equal
    code and lower first number, and after that row's continuation lines)."""
    lines = table.split("\n")
    for _, b in rows(table):
        if b.magic == block.magic and b.first <= block.last and block.first <= b.last:
            raise KscribeError(f"{TABLE}: {block.magic!r} {block.first:02X}-{block.last:02X} "
                               "is claimed by another row; use --abi new for a free block")
    key = (ord(block.magic), block.first)
    at = None
    for i, b in rows(table):
        if (ord(b.magic), b.first) <= key:
            at = i
    if at is None:
        raise KscribeError(f"{TABLE}: no row sorts before {block.magic!r}")
    at += 1
    while at < len(lines) and lines[at].startswith(" ") and lines[at].strip():
        at += 1
    code = f"'{block.magic}'" if block.magic.isprintable() and block.magic != " " \
        else f"0x{ord(block.magic):02X}"
    row = f"{code:<6}{block.first:02X}-{block.last:02X}  {header:<58}{comment}"
    return "\n".join([*lines[:at], row.rstrip(), *lines[at:]])
