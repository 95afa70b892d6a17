"""Module signing: a key pair a user can enroll as a Machine Owner Key, and the kernel's
own ``sign-file`` with the hash its configuration names.

A signature is PKCS#7 (CMS) over the module, appended with the kernel's trailer; the
kernel accepts it when the certificate is in one of its keyrings: built in, or (with UEFI
Secure Boot) enrolled with ``mokutil --import cert.der`` and confirmed at the next boot.
Signing is deterministic (no signed attributes): the same module and key give the same
bytes. No key is kept anywhere but where the user asks.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kscribe.errors import KscribeError
from kscribe.kernel.tree import KernelTree
from kscribe.util import atomic, proc

WHY = "to sign modules"
# the trailer sign-file appends (include/linux/module_signature.h)
MAGIC = b"~Module signature appended~\n"
SUBJECT = "/CN=kscribe module signing key/"
ENROLL = ("sudo mokutil --import {cert}  # asks for a one-time password\n"
          "sudo reboot                    # MokManager: Enroll MOK, Continue, the password\n"
          "mokutil --test-key {cert}      # after the reboot: is already enrolled")


@dataclass(frozen=True)
class KeyPair:
    key: Path       # PEM private key (mode 0600)
    cert: Path      # PEM certificate, for sign-file
    der: Path       # DER certificate, for mokutil


def keygen(dest: Path, name: str = "kscribe-signing") -> KeyPair:
    """A new RSA-2048 key and a self-signed certificate for code signing (100 years), as a
    MOK wants it: PEM for sign-file, DER for mokutil."""
    proc.require("openssl", why=WHY)
    dest.mkdir(parents=True, exist_ok=True)
    pair = KeyPair(dest / f"{name}.key", dest / f"{name}.pem", dest / f"{name}.der")
    if pair.key.exists():
        raise KscribeError(f"{pair.key} exists: keep it, or remove it to make a new key")
    with atomic.atomic_path(pair.key) as key, atomic.atomic_path(pair.cert) as cert:
        key.chmod(0o600)
        proc.run(["openssl", "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes",
                  "-sha256", "-days", "36500", "-subj", SUBJECT, "-keyout", key,
                  "-out", cert, "-addext", "basicConstraints=critical,CA:FALSE",
                  "-addext", "keyUsage=digitalSignature",
                  "-addext", "extendedKeyUsage=codeSigning"], why=WHY)
        key.chmod(0o600)
    with atomic.atomic_path(pair.der) as der:
        proc.run(["openssl", "x509", "-in", pair.cert, "-outform", "DER", "-out", der],
                 why=WHY)
    for p in (pair.cert, pair.der):
        p.chmod(0o644)
    return pair


def hash_of(tree: KernelTree) -> str:
    """The hash the kernel signs its own modules with (``CONFIG_MODULE_SIG_HASH``)."""
    value = tree.config.get("CONFIG_MODULE_SIG_HASH", "").strip('"')
    if not value:
        raise KscribeError(f"{tree.path}/.config: no CONFIG_MODULE_SIG_HASH: the kernel does "
                           "not check module signatures")
    return value


def sign_file(prefix: Path) -> Path:
    """The kernel's ``sign-file``, from its ``linux-kbuild`` package (extracted under
    ``prefix``)."""
    found = sorted(prefix.glob("usr/lib/linux-kbuild-*/scripts/sign-file"))
    if not found:
        raise KscribeError(f"{prefix}: no linux-kbuild-*/scripts/sign-file; provision the "
                           "target again")
    return found[-1]


Runner = Callable[[list[str]], object]


def sign(modules: list[Path], key: Path, cert: Path, tool: Path, hash_algo: str,
         run: Runner) -> None:
    """Sign each of ``modules`` in place with ``tool`` (run through ``run``: the kernel's
    kbuild programs need its suite's libraries). A module already signed is refused."""
    for p in (key, cert):
        if not p.is_file():
            raise KscribeError(f"{p}: no such file (give the key and certificate to sign with)")
    for ko in modules:
        if ko.read_bytes().endswith(MAGIC):
            raise KscribeError(f"{ko}: already signed")
        run([str(tool), hash_algo, str(key), str(cert), str(ko)])
        if not ko.read_bytes().endswith(MAGIC):
            raise KscribeError(f"{ko}: {tool.name} left no signature")


def split(signed: bytes) -> tuple[bytes, bytes]:
    """A signed module's body and its CMS signature (DER), from the trailer's length."""
    if not signed.endswith(MAGIC):
        raise KscribeError("not a signed module (no signature trailer)")
    info = signed[-len(MAGIC) - 12:-len(MAGIC)]
    sig_len = int.from_bytes(info[8:12], "big")
    end = len(signed) - len(MAGIC) - 12
    return signed[:end - sig_len], signed[end - sig_len:end]


def verify(ko: Path, cert: Path, work: Path) -> tuple[bool, str]:
    """``openssl cms -verify`` of a signed module against ``cert``: (accepted, its output)."""
    body, sig = split(ko.read_bytes())
    work.mkdir(parents=True, exist_ok=True)
    (work / "body").write_bytes(body)
    (work / "sig.p7").write_bytes(sig)
    done = proc.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in",
                     work / "sig.p7", "-content", work / "body", "-certfile", cert,
                     "-nointern", "-noverify", "-out", "/dev/null"], check=False, why=WHY)
    shutil.rmtree(work, ignore_errors=True)
    return done.returncode == 0, (done.stderr or done.stdout).strip()
