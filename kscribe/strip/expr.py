"""``#if`` expressions: parsed as the C preprocessor parses them, evaluated as far as the
target decides them.

The grammar is C's for constant expressions in ``#if``: integer and character constants
with their suffixes, ``defined X`` and ``defined(X)``, macro calls, the unary, binary and
``?:`` operators with C's precedence, parentheses. Arithmetic is ``intmax_t`` or
``uintmax_t`` as C's usual conversions say.

Evaluation is partial: a name the target does not decide (``CONFIG_X``, an include guard)
stays as written, and the logical operators reduce around it, so that
``defined(CONFIG_X) && LINUX_VERSION_CODE >= KERNEL_VERSION(5, 0, 0)`` becomes
``defined(CONFIG_X)`` on a 6.1 kernel and false on a 4.19 one. Only a boolean context
(the whole condition, and the operands of ``!``, ``&&``, ``||`` and ``?:``'s test) reduces
``X && 1`` to ``X``; elsewhere a mix of decided and undecided operands is kept verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

MASK = (1 << 64) - 1
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<num>(?:0[xX][0-9a-fA-F]+|0[bB][01]+|\d+)(?:[uU](?:ll|LL|[lL])?|(?:ll|LL|[lL])[uU]?)?)
  | (?P<char>(?:[LuU]|u8)?'(?:\\.|[^'\\])+')
  | (?P<str>"(?:\\.|[^"\\])*")
  | (?P<name>[A-Za-z_]\w*)
  | (?P<op>\#\#|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%<>&^|!~?:(),\#.\[\]{};=@$`\\])
""", re.X)
# binary operators: precedence (higher binds tighter)
BINARY = {"*": 12, "/": 12, "%": 12, "+": 11, "-": 11, "<<": 10, ">>": 10, "<": 9,
          "<=": 9, ">": 9, ">=": 9, "==": 8, "!=": 8, "&": 7, "^": 6, "|": 5, "&&": 4,
          "||": 3}
COND, UNARY, PRIMARY = 2, 13, 14
_ESCAPES = {"n": 10, "t": 9, "r": 13, "0": 0, "a": 7, "b": 8, "f": 12, "v": 11, "\\": 92,
            "'": 39, '"': 34, "?": 63, "e": 27}


class ExprError(Exception):
    """An expression the preprocessor would refuse; the message says what is wrong."""


@dataclass(frozen=True)
class Token:
    kind: str       # num, char, str, name, op
    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """The preprocessing tokens of ``text`` (comments already blanked out)."""
    out = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ExprError(f"unexpected character {text[pos]!r}")
        kind = m.lastgroup
        assert kind is not None
        if kind != "space":
            out.append(Token(kind, m.group(), m.start(), m.end()))
        pos = m.end()
    return out


# ---- the tree ----

@dataclass
class Node:
    start: int
    end: int


@dataclass
class Num(Node):
    value: int
    unsigned: bool


@dataclass
class Name(Node):
    name: str


@dataclass
class Defined(Node):
    name: str


@dataclass
class Call(Node):
    name: str
    args: list[list[Token]]      # the argument tokens, unexpanded
    raw: bool = False            # __has_include(<...>) and the like: not an expression


@dataclass
class Unary(Node):
    op: str
    operand: Node


@dataclass
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass
class Cond(Node):
    test: Node
    then: Node
    other: Node


@dataclass
class Paren(Node):
    inner: Node


class _Parser:
    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.toks = tokens
        self.i = 0

    def peek(self) -> Token | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> Token:
        t = self.peek()
        if t is None:
            raise ExprError("the expression ends too early")
        self.i += 1
        return t

    def expect(self, text: str) -> Token:
        t = self.peek()
        if t is None or t.text != text:
            found = f"{t.text!r}" if t else "the end"
            raise ExprError(f"expected {text!r}, found {found}")
        return self.take()

    def parse(self) -> Node:
        if not self.toks:
            raise ExprError("no expression")
        node = self.conditional()
        t = self.peek()
        if t is not None:
            raise ExprError(f"unexpected {t.text!r} after the expression")
        return node

    def conditional(self) -> Node:
        test = self.binary(BINARY["||"])
        t = self.peek()
        if t is None or t.text != "?":
            return test
        self.take()
        then = self.conditional()
        self.expect(":")
        other = self.conditional()
        return Cond(test.start, other.end, test, then, other)

    def binary(self, min_prec: int) -> Node:
        left = self.unary()
        while True:
            t = self.peek()
            if t is None or t.kind != "op" or t.text not in BINARY or BINARY[t.text] < min_prec:
                return left
            self.take()
            right = self.binary(BINARY[t.text] + 1)
            left = Binary(left.start, right.end, t.text, left, right)

    def unary(self) -> Node:
        t = self.peek()
        if t is not None and t.kind == "op" and t.text in "!~-+" and len(t.text) == 1:
            self.take()
            operand = self.unary()
            return Unary(t.start, operand.end, t.text, operand)
        return self.primary()

    def primary(self) -> Node:
        t = self.take()
        if t.kind == "num":
            value, unsigned = _number(t.text)
            return Num(t.start, t.end, value, unsigned)
        if t.kind == "char":
            return Num(t.start, t.end, _char(t.text), False)
        if t.text == "(":
            inner = self.conditional()
            close = self.expect(")")
            return Paren(t.start, close.end, inner)
        if t.kind == "name":
            if t.text == "defined":
                return self.defined(t)
            nxt = self.peek()
            if nxt is not None and nxt.text == "(":
                return self.call(t)
            return Name(t.start, t.end, t.text)
        raise ExprError(f"unexpected {t.text!r}")

    def defined(self, t: Token) -> Node:
        nxt = self.take()
        if nxt.text == "(":
            name = self.take()
            close = self.expect(")")
            if name.kind != "name":
                raise ExprError(f"`defined` needs a macro name, not {name.text!r}")
            return Defined(t.start, close.end, name.text)
        if nxt.kind != "name":
            raise ExprError(f"`defined` needs a macro name, not {nxt.text!r}")
        return Defined(t.start, nxt.end, nxt.text)

    def call(self, t: Token) -> Node:
        self.take()  # (
        args: list[list[Token]] = [[]]
        depth = 0
        raw = False
        while True:
            a = self.take()
            if a.text == "(":
                depth += 1
            elif a.text == ")":
                if depth == 0:
                    break
                depth -= 1
            elif a.text == "," and depth == 0:
                args.append([])
                continue
            if a.kind == "str" or a.text in ("<", ">", ".", "/") and t.text.startswith("__has"):
                raw = True
            args[-1].append(a)
        if args == [[]]:
            args = []
        return Call(t.start, a.end, t.text, args, raw)


def parse(text: str) -> Node:
    """The tree of ``text``; ExprError when the preprocessor would refuse it."""
    return _Parser(text, tokenize(text)).parse()


def _number(text: str) -> tuple[int, bool]:
    m = re.match(r"(0[xX][0-9a-fA-F]+|0[bB][01]+|\d+)(\w*)$", text)
    assert m is not None
    digits, suffix = m.groups()
    if digits[:2] in ("0x", "0X"):
        value = int(digits[2:], 16)
    elif digits[:2] in ("0b", "0B"):
        value = int(digits[2:], 2)
    elif len(digits) > 1 and digits[0] == "0":
        if not set(digits) <= set("01234567"):
            raise ExprError(f"invalid octal constant {text!r}")
        value = int(digits, 8)
    else:
        value = int(digits)
    if value > MASK:
        raise ExprError(f"integer constant {text!r} is too large")
    # a constant that does not fit intmax_t is unsigned
    return value, "u" in suffix.lower() or value > MASK >> 1


def _char(text: str) -> int:
    body = text[text.index("'") + 1:-1]
    if body.startswith("\\"):
        esc = body[1:]
        if esc[:1] == "x":
            return int(esc[1:], 16)
        if esc[:1].isdigit():
            return int(esc, 8)
        if esc in _ESCAPES:
            return _ESCAPES[esc]
        raise ExprError(f"unknown escape in {text!r}")
    return ord(body[0])


# ---- evaluation ----

@dataclass
class Macro:
    """A macro as the target decides it: its parameters (None: object-like) and body."""

    name: str
    params: tuple[str, ...] | None
    body: str
    where: str = ""             # file:line of its definition, for reports


# what a name is for one evaluation: a Macro, UNDEFINED, or None (not decided)
UNDEFINED = Macro("", None, "", "undefined")
Lookup = Callable[[str], Macro | None]


@dataclass
class Result:
    """What the target makes of an expression: a value, or the residue left undecided."""

    value: int | None           # None: undecided
    unsigned: bool = False
    text: str = ""              # the residue, when undecided
    prec: int = PRIMARY         # the precedence of the residue's top operator
    unknown: tuple[str, ...] = ()   # the undecided names it depends on
    used: bool = False          # a name the target decides took part
    kept_decided: bool = False  # the residue still holds such a name: an undecided site
    changed: bool = False       # the residue differs from the source text

    @property
    def decided(self) -> bool:
        return self.value is not None


@dataclass
class Evaluator:
    """Evaluates the trees of one source text with the names ``lookup`` decides."""

    text: str
    lookup: Lookup
    hidden: frozenset[str] = field(default_factory=frozenset)

    def src(self, n: Node) -> str:
        return self.text[n.start:n.end]

    def verbatim(self, n: Node, prec: int, parts: list[Result]) -> Result:
        used = any(p.used for p in parts)
        return Result(None, text=self.src(n), prec=prec,
                      unknown=tuple(dict.fromkeys(u for p in parts for u in p.unknown)),
                      used=used, kept_decided=used or any(p.kept_decided for p in parts))

    def eval(self, n: Node, boolean: bool = False) -> Result:
        method = getattr(self, f"_{type(n).__name__.lower()}")
        return method(n, boolean)

    def _num(self, n: Num, boolean: bool) -> Result:
        return Result(n.value, n.unsigned)

    def _name(self, n: Name, boolean: bool) -> Result:
        m = None if n.name in self.hidden else self.lookup(n.name)
        if m is None:
            return Result(None, text=n.name, unknown=(n.name,))
        if m is UNDEFINED or m.params is not None:
            # an undefined name is 0; so is a function-like macro's name without a call
            return Result(0, used=True)
        r = self.expand(m, m.body)
        return self.decided_or(r, n, boolean)

    def _defined(self, n: Defined, boolean: bool) -> Result:
        m = self.lookup(n.name)
        if m is None:
            return Result(None, text=self.src(n), unknown=(n.name,))
        return Result(int(m is not UNDEFINED), used=True)

    def _call(self, n: Call, boolean: bool) -> Result:
        m = None if n.raw or n.name in self.hidden else self.lookup(n.name)
        if m is None or m is UNDEFINED:
            return Result(None, text=self.src(n), unknown=(n.name,), used=m is UNDEFINED,
                          kept_decided=m is UNDEFINED)
        if m.params is None:
            raise ExprError(f"{n.name} is an object-like macro ({m.where}) but is called here")
        params = m.params
        variadic = bool(params) and params[-1] == "..."
        fixed = params[:-1] if variadic else params
        if len(n.args) < len(fixed) or (len(n.args) > len(fixed) and not variadic and
                                        not (len(fixed) == 0 and n.args == [[]])):
            raise ExprError(f"{n.name}() takes {len(fixed)} arguments ({m.where}), "
                            f"{len(n.args)} given")
        values = {p: " ".join(t.text for t in a) for p, a in zip(fixed, n.args, strict=False)}
        if variadic:
            values["__VA_ARGS__"] = ", ".join(" ".join(t.text for t in a)
                                              for a in n.args[len(fixed):])
        body = " ".join(values.get(t.text, t.text) if t.kind == "name" else t.text
                        for t in tokenize(m.body))
        return self.decided_or(self.expand(m, body), n, boolean)

    def expand(self, m: Macro, body: str) -> Result:
        if "#" in body:
            raise ExprError(f"{m.name} ({m.where}) pastes or stringizes, which #if cannot use")
        sub = Evaluator(body, self.lookup, self.hidden | {m.name})
        try:
            tree = parse(body)
        except ExprError as e:
            raise ExprError(f"{m.name} ({m.where}) expands to {body.strip()!r}: {e}") from None
        r = sub.eval(tree)
        r.used = True
        return r

    def decided_or(self, r: Result, n: Node, boolean: bool) -> Result:
        """``r`` if the target decides it, else the call or name as written."""
        if r.decided:
            return r
        return Result(None, text=self.src(n), unknown=r.unknown, used=True, kept_decided=True)

    def _paren(self, n: Paren, boolean: bool) -> Result:
        r = self.eval(n.inner, boolean)
        if r.decided:
            return r
        if not r.changed:
            return Result(None, text=self.src(n), unknown=r.unknown, used=r.used,
                          kept_decided=r.kept_decided)
        if r.prec >= UNARY:
            return r
        return Result(None, text=f"({r.text})", unknown=r.unknown, used=r.used,
                      kept_decided=r.kept_decided, changed=True)

    def _unary(self, n: Unary, boolean: bool) -> Result:
        r = self.eval(n.operand, n.op == "!")
        if r.decided:
            assert r.value is not None
            v, u = r.value, r.unsigned
            value = {"!": lambda: int(v == 0), "~": lambda: ~v, "-": lambda: -v,
                     "+": lambda: v}[n.op]()
            return Result(*_wrap(value, u and n.op != "!"), used=r.used)
        if not r.changed:
            return self.verbatim(n, UNARY, [r]) if r.used else \
                Result(None, text=self.src(n), prec=UNARY, unknown=r.unknown)
        return Result(None, text=n.op + _wrapped(r, UNARY), prec=UNARY, unknown=r.unknown,
                      used=r.used, kept_decided=r.kept_decided, changed=True)

    def _binary(self, n: Binary, boolean: bool) -> Result:
        if n.op in ("&&", "||"):
            return self.logical(n, boolean)
        a = self.eval(n.left)
        b = self.eval(n.right)
        if not (a.decided and b.decided):
            if a.used or b.used:
                return self.verbatim(n, BINARY[n.op], [a, b])
            return Result(None, text=self.src(n), prec=BINARY[n.op],
                          unknown=(*a.unknown, *b.unknown))
        value, unsigned = _arith(n.op, a, b)
        return Result(value, unsigned, used=a.used or b.used)

    def logical(self, n: Binary, boolean: bool) -> Result:
        short = 0 if n.op == "&&" else 1     # the left value that decides alone
        a = self.eval(n.left, True)
        if a.decided and bool(a.value) == bool(short):
            return Result(short, used=a.used)
        b = self.eval(n.right, True)
        if a.decided and b.decided:
            return Result(int(bool(b.value)), used=a.used or b.used)
        if b.decided and bool(b.value) == bool(short):
            return Result(short, used=a.used or b.used)
        if a.decided or b.decided:
            rest = b if a.decided else a
            if boolean:
                return Result(None, text=rest.text, prec=rest.prec, unknown=rest.unknown,
                              used=True, kept_decided=rest.kept_decided, changed=True)
            return self.verbatim(n, BINARY[n.op], [a, b])
        prec = BINARY[n.op]
        if not (a.changed or b.changed):
            return Result(None, text=self.src(n), prec=prec, unknown=(*a.unknown, *b.unknown),
                          used=a.used or b.used, kept_decided=a.kept_decided or b.kept_decided)
        text = f"{_wrapped(a, prec)} {n.op} {_wrapped(b, prec + 1)}"
        return Result(None, text=text, prec=prec, unknown=(*a.unknown, *b.unknown),
                      used=True, kept_decided=a.kept_decided or b.kept_decided, changed=True)

    def _cond(self, n: Cond, boolean: bool) -> Result:
        t = self.eval(n.test, True)
        if t.decided:
            r = self.eval(n.then if t.value else n.other, boolean)
            if r.decided:
                r.used = True
                return r
            return Result(None, text=r.text, prec=r.prec, unknown=r.unknown, used=True,
                          kept_decided=r.kept_decided, changed=True)
        a = self.eval(n.then, boolean)
        b = self.eval(n.other, boolean)
        if a.decided and b.decided and a.value == b.value:
            return Result(a.value, a.unsigned or b.unsigned, used=True)
        parts = [t, a, b]
        if not any(p.changed for p in parts):
            return self.verbatim(n, COND, parts) if any(p.used for p in parts) else \
                Result(None, text=self.src(n), prec=COND,
                       unknown=tuple(u for p in parts for u in p.unknown))
        return self.verbatim(n, COND, parts)


def _wrapped(r: Result, prec: int) -> str:
    if r.decided:
        return str(r.value)
    return f"({r.text})" if r.prec < prec else r.text


def _wrap(value: int, unsigned: bool) -> tuple[int, bool]:
    value &= MASK
    if not unsigned and value > MASK >> 1:
        value -= 1 << 64
    return value, unsigned


def _arith(op: str, a: Result, b: Result) -> tuple[int, bool]:
    assert a.value is not None and b.value is not None
    x, y = a.value, b.value
    if op in ("<<", ">>"):
        unsigned = a.unsigned
        if y < 0 or y >= 64:
            return _wrap(0 if op == "<<" or unsigned or x >= 0 else -1, unsigned)
        return _wrap(x << y if op == "<<" else x >> y, unsigned)
    unsigned = a.unsigned or b.unsigned
    if unsigned:
        x, y = x & MASK, y & MASK
    if op in ("<", "<=", ">", ">=", "==", "!="):
        return int({"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y, "==": x == y,
                    "!=": x != y}[op]), False
    if op in ("/", "%"):
        if y == 0:
            raise ExprError("division by zero")
        q = abs(x) // abs(y) * (1 if (x < 0) == (y < 0) else -1)
        return _wrap(q if op == "/" else x - q * y, unsigned)
    value = {"*": x * y, "+": x + y, "-": x - y, "&": x & y, "^": x ^ y, "|": x | y}[op]
    return _wrap(value, unsigned)


def evaluate(text: str, lookup: Lookup) -> Result:
    """``text`` (an ``#if``'s argument) as far as ``lookup`` decides it, in the boolean
    context of a condition; ExprError when it cannot be parsed or computed."""
    return Evaluator(text, lookup).eval(parse(text), True)
