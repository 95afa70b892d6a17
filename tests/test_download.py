"""Downloads are verified and atomic: a bad or cut-off transfer leaves nothing behind.

A real HTTP server on the loopback interface serves the files.
"""

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from kscribe.debian.download import fetch
from kscribe.errors import KscribeError

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path == "/good":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        elif self.path == "/cut":
            # promises the whole file, sends half, hangs up
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 2])
            self.wfile.flush()
            self.connection.close()
        else:
            self.send_error(404)


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_good_download_verified(server, tmp_path):
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    dest = fetch(f"{server}/good", tmp_path / "f.deb", sha256=sha, size=len(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD
    assert _leftovers(tmp_path) == ["f.deb"]


def test_checksum_mismatch_is_refused_and_leaves_nothing(server, tmp_path):
    with pytest.raises(KscribeError, match=r"cannot download .*/good: corrupted download: "
                                           r"sha256 [0-9a-f]{64}, expected 0{64}"):
        fetch(f"{server}/good", tmp_path / "f.deb", sha256="0" * 64, retry_delay=0)
    assert _leftovers(tmp_path) == []


def test_interrupted_download_leaves_nothing(server, tmp_path):
    with pytest.raises(KscribeError, match=r"cannot download .*/cut"):
        fetch(f"{server}/cut", tmp_path / "f.deb", size=len(PAYLOAD), retry_delay=0)
    assert _leftovers(tmp_path) == []


def test_missing_file_names_the_url(server, tmp_path):
    with pytest.raises(KscribeError, match=r"cannot download .*/nope: HTTP 404"):
        fetch(f"{server}/nope", tmp_path / "f.deb")
    assert _leftovers(tmp_path) == []


def test_existing_file_survives_a_failed_refresh(server, tmp_path):
    dest = tmp_path / "f.deb"
    dest.write_bytes(b"old")
    with pytest.raises(KscribeError):
        fetch(f"{server}/cut", dest, size=len(PAYLOAD), retry_delay=0)
    assert dest.read_bytes() == b"old"
