"""A series as mail: one ``.eml`` per message, addressed and threaded as ``b4 send -o`` writes
them, ready for ``git send-email`` or ``b4 send``; nothing is sent.

To and Cc come from the tree's own ``get_maintainer.pl`` with the flags b4 uses
(``--auto-to-cc``): To are the maintainers (``--nol``), Cc the lists (``--nom``), each patch
given on stdin. The cover goes to everyone any patch goes to. A patch that touches the uapi
headers also goes to linux-api, which submitting-patches.rst asks for and get_maintainer.pl
does not add. Message-Ids are b4's (``<YYYYMMDD-<slug>-v<N>-<k>-<12 hex>@<domain>>``, k 0 for
the cover, the domain of the sender's address), their hex derived from the series so that the
same series is the same mail; every patch replies to the cover (In-Reply-To, References).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from kscribe.util import atomic, proc

UAPI_LIST = "linux-api@vger.kernel.org"
# what touches the userspace ABI (submitting-patches.rst: "Cc linux-api@vger.kernel.org")
UAPI_PATHS = ("include/uapi/",)
# get_maintainer.pl as b4's --auto-to-cc runs it
FLAGS = ("--nogit", "--nogit-fallback", "--nogit-chief-penguins", "--norolestats")
TO_FLAGS = (*FLAGS, "--nol")
CC_FLAGS = (*FLAGS, "--nom")
# where a Message-Id is found once posted: the link of an earlier version in a reroll
ARCHIVE_LINK = "https://lore.kernel.org/r/{}"


@dataclass(frozen=True)
class Message:
    """One message of the posting, as written to ``file``."""

    number: int              # 0 for the cover letter
    file: str
    message_id: str
    to: tuple[str, ...]
    cc: tuple[str, ...]


def recipients(tree: Path, patch_text: str) -> tuple[list[str], list[str]]:
    """To and Cc of one patch: the tree's ``get_maintainer.pl`` as b4 runs it."""
    def ask(flags: tuple[str, ...]) -> list[str]:
        r = proc.run(["perl", "scripts/get_maintainer.pl", *flags], cwd=tree, input=patch_text,
                     why="to address the patches")
        return [ln.strip() for ln in r.stdout.splitlines() if ln.strip()]
    to = ask(TO_FLAGS)
    cc = [a for a in ask(CC_FLAGS) if a not in to]
    touched = re.findall(r"^\+\+\+ b/(\S+)$", patch_text, re.M)
    if any(p.startswith(UAPI_PATHS) for p in touched) and UAPI_LIST not in cc:
        cc.append(UAPI_LIST)
    return to, cc


def message_id(change_id: str, version: int, number: int, domain: str) -> str:
    """b4's Message-Id of message ``number`` (0: the cover) of version ``version``."""
    digest = hashlib.sha256(f"{change_id}/v{version}/{number}".encode()).hexdigest()[:12]
    # b4: <change-id without its own hex>-v<N>-<k>-<hex>@<domain>
    stem = change_id.rsplit("-", 1)[0]
    return f"<{stem}-v{version}-{number}-{digest}@{domain}>"


def _fold(name: str, addresses: list[str]) -> str:
    """A To: or Cc: header, one address per folded line (RFC 5322), names that are not
    ASCII as encoded words (RFC 2047)."""
    from email.utils import formataddr, parseaddr

    if not addresses:
        return ""
    return f"{name}: " + ",\n ".join(formataddr(parseaddr(a), charset="utf-8")
                                     for a in addresses) + "\n"


def _headers(text: str, extra: str) -> str:
    """``text`` (a message of ``git format-patch``) without its mbox ``From `` line, with
    ``extra`` added after the Subject: header (and its folded lines)."""
    if text.startswith("From "):
        text = text.split("\n", 1)[1]
    head, sep, body = text.partition("\n\n")
    lines = head.split("\n")
    at = next(i for i, ln in enumerate(lines) if ln.startswith("Subject: "))
    at += 1
    while at < len(lines) and lines[at][:1] in (" ", "\t"):
        at += 1
    lines[at:at] = extra.rstrip("\n").split("\n")
    return "\n".join(lines) + sep + body


def write(tree: Path, files: list[Path], out: Path, change_id: str, version: int,
          sender: str) -> list[Message]:
    """Write ``files`` (the cover letter, then the patches, as format-patch wrote them) as
    addressed, threaded ``.eml`` messages into the folder ``out``; what each got."""
    domain = sender.rsplit("@", 1)[-1].rstrip(">")
    texts = [f.read_text() for f in files]
    ids = [message_id(change_id, version, k, domain) for k in range(len(files))]
    addressed = [recipients(tree, t) for t in texts[1:]]
    to_all: list[str] = []
    cc_all: list[str] = []
    for to, cc in addressed:
        to_all += [a for a in to if a not in to_all]
        cc_all += [a for a in cc if a not in cc_all]
    cover = (to_all, [a for a in cc_all if a not in to_all])
    messages = []
    with atomic.atomic_path(out, directory=True) as tmp:
        for k, (f, text, (to, cc)) in enumerate(zip(files, texts, [cover, *addressed],
                                                    strict=True)):
            extra = _fold("To", to) + _fold("Cc", cc) + f"Message-Id: {ids[k]}\n"
            if k:
                extra += f"In-Reply-To: {ids[0]}\nReferences: {ids[0]}\n"
            name = f.with_suffix(".eml").name
            (tmp / name).write_text(_headers(text, extra))
            messages.append(Message(number=k, file=str(out / name), message_id=ids[k],
                                    to=tuple(to), cc=tuple(cc)))
    return messages


def mbox(messages: list[Message]) -> str:
    """The messages as one mbox (what ``b4 am -m`` reads), in order."""
    return "".join(f"From kscribe Thu Jan  1 00:00:00 1970\n{Path(m.file).read_text()}\n"
                   for m in messages)
