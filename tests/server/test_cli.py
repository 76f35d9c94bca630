"""`xmodal serve` as users start it: a real process on a loopback port with a keys file."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import httpx

START_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_with_a_keys_file(tmp_path):
    hashed = subprocess.run([sys.executable, "-m", "xmodal.cli", "hash-key", "team-secret"], capture_output=True,
                            text=True, check=True).stdout.strip()
    assert hashed.startswith("sha256:") and "team-secret" not in hashed
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps([{"key": hashed, "scopes": ["admin"], "namespace": "team"}]))
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "xmodal.cli", "serve", "--db", str(tmp_path / "db"),
                             "--port", str(port), "--keys", str(keys), "--log-level", "warning"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert proc.poll() is None, proc.stderr.read()
            try:
                health = httpx.get(f"{url}/v1/health", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "xmodal serve did not start"
                time.sleep(0.2)
        assert health.json()["auth_required"] is True
        assert httpx.get(f"{url}/v1/collections").status_code == 401
        who = httpx.get(f"{url}/v1/whoami", headers={"Authorization": "Bearer team-secret"}).json()
        assert who["namespace"] == "team" and "admin" in who["scopes"]
        page = httpx.get(url)
        assert page.status_code == 200 and "/static/app.js" in page.text
        assert httpx.get(f"{url}/static/app.js").status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode in (0, -15)


def test_bad_keys_file_is_a_clear_error(tmp_path):
    keys = tmp_path / "keys.json"
    keys.write_text('[{"key": "k", "scopes": ["superuser"]}]')
    proc = subprocess.run([sys.executable, "-m", "xmodal.cli", "serve", "--db", str(tmp_path / "db"),
                           "--keys", str(keys)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "superuser" in proc.stderr
