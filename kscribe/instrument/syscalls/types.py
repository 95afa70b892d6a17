"""Classify a prototype's argument: integer width and sign, user string, user pointer, struct.

Typedefs are resolved through the target's own ``typedef``s (``size_t`` -> ``__kernel_size_t``
-> ``__kernel_ulong_t`` -> ``unsigned long``) down to C base types, whose widths are C's on
the kernel's data model (``long`` and pointers are the kernel's word). Strings are decided by
``data/syscall_types.toml``: explicit (syscall, argument) pairs plus a rule on the names of
``char __user *`` arguments.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from kscribe.instrument.syscalls import abis
from kscribe.instrument.syscalls.prototypes import USER

QUALIFIERS = {"const", "volatile", "restrict", "__restrict", "register", USER}


@dataclass(frozen=True)
class ResolvedType:
    """A C type after typedef resolution."""

    depth: int  # levels of pointer (arrays count as one)
    user: bool  # a __user pointer
    const_target: bool  # the pointed-to (or the value's) type is const
    base: tuple[str, ...]  # the base type's tokens, qualifiers removed


class TypeResolver:
    """Resolves types of one target: its typedefs, word size and plain char signedness."""

    def __init__(self, typedefs: dict[str, tuple[str, ...]], word_bits: int,
                 char_signed: bool) -> None:
        self.typedefs = typedefs
        self.word = word_bits
        self.char_signed = char_signed
        self.base = abis.types()["base"]

    def expand(self, tokens: tuple[str, ...]) -> tuple[str, ...]:
        """Tokens with typedef names replaced."""
        out = list(tokens)
        for _ in range(32):
            for i, t in enumerate(out):
                if t in self.typedefs and (i == 0 or out[i - 1] not in ("struct", "union",
                                                                        "enum")):
                    out[i:i + 1] = self.typedefs[t]
                    break
            else:
                break
        return tuple(out)

    def resolve(self, tokens: tuple[str, ...]) -> ResolvedType:
        """The type of ``tokens`` after typedef resolution."""
        full = self.expand(tokens)
        depth = full.count("*") + full.count("[")
        first = next((i for i, t in enumerate(full) if t in ("*", "[")), len(full))
        base_part = full[:first]
        base = tuple(t for t in base_part if t not in QUALIFIERS and not t.isdigit()
                     and t not in ("[", "]"))
        return ResolvedType(depth=depth, user=USER in full, const_target="const" in base_part,
                            base=base)

    def integer(self, base: tuple[str, ...]) -> tuple[int, bool] | None:
        """(bits, signed) of an integer base type, None if it is not one."""
        if not base:
            return None
        if base[0] == "enum":
            return self.base["enum"], False
        if base[0] in ("struct", "union", "void", "float", "double"):
            return None
        words = set(base)
        if not words <= {"signed", "unsigned", "__signed__", "char", "short", "int", "long",
                         "_Bool", "__int128"}:
            return None
        unsigned = "unsigned" in words
        longs = base.count("long")
        if "_Bool" in words:
            return self.base["_Bool"], False
        if "char" in words:
            explicit = "signed" in words or "__signed__" in words
            return self.base["char"], (not unsigned) and (explicit or self.char_signed)
        if "__int128" in words:
            return self.base["__int128"], not unsigned
        if "short" in words:
            return self.base["short"], not unsigned
        if longs >= 2:
            return self.base["long long"], not unsigned
        if longs == 1:
            return self.word, not unsigned
        return self.base["int"], not unsigned


def is_string(syscall: str, arg: str, r: ResolvedType) -> bool:
    """True for a ``char __user *`` argument that holds a NUL-terminated string."""
    if not (r.user and r.depth == 1 and r.base and r.base[-1] == "char"):
        return False
    rules = abis.types()["strings"]
    if arg in rules.get("syscalls", {}).get(syscall, ()):
        return True
    if any(fnmatch.fnmatchcase(arg, p) for p in rules["names"]):
        return True
    return r.const_target and arg in rules["const_names"]
