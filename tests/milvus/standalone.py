"""A real Milvus standalone server for the tests: the binary the ``milvus`` wheel ships (the server code
a cluster runs, with embedded etcd and local storage), on loopback, in a folder of its own.

Start-up waits on events, never on a clock: the server's ``/healthz`` answering OK, then a gRPC
call through pymilvus succeeding; the process exiting first fails at once with its log. The binary
and its libraries are unpacked once per machine (they come as .lzma files) into a cache folder,
under a file lock, so parallel test sessions share them. The server is started with
``PR_SET_PDEATHSIG`` so that even a test run killed outright cannot leave it behind.
"""
from __future__ import annotations

import ctypes
import fcntl
import hashlib
import importlib.resources
import lzma
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from xmodal.config import cache_dir

STARTUP_BOUND_S = 180  # a bound on a broken start, not a wait: the server is up in ~10 s
STOP_BOUND_S = 30
POLL_S = 0.2  # how often the health endpoint is asked while waiting on the process
PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unpacked_binaries() -> Path:
    """The server binary and its libraries, unpacked once into the cache (checked by digest)."""
    import milvus

    packed = importlib.resources.files("milvus") / "data" / "bin"
    target = cache_dir() / "milvus-standalone" / milvus.__version__ / "bin"
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for item in packed.iterdir():
            if not item.name.endswith(".lzma"):
                continue
            raw = item.read_bytes()
            digest = hashlib.sha256(raw).hexdigest()
            out, stamp = target / item.name[:-5], target / (item.name + ".sha256")
            if out.exists() and stamp.exists() and stamp.read_text() == digest:
                continue
            tmp = out.with_suffix(".part")
            tmp.write_bytes(lzma.decompress(raw))
            tmp.chmod(0o755)
            tmp.replace(out)
            stamp.write_text(digest)
    return target


_prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel sends SIGKILL when the test process dies."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class StandaloneMilvus:
    """One Milvus standalone process; :meth:`start` returns ``HOST:PORT`` once it serves requests."""

    def __init__(self, folder: Path, settings: dict[str, object] | None = None):
        """``settings``: milvus.yaml keys (dotted, e.g. ``proxy.timeTickInterval``) to override."""
        self.folder = Path(folder)
        self.settings = dict(settings or {})
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.address = ""

    def start(self) -> str:
        from milvus import MilvusServerConfig

        bin_dir = unpacked_binaries()
        self.port = free_port()
        config = MilvusServerConfig(data_dir=str(self.folder), proxy_port=self.port)
        for key, value in self.settings.items():
            config.set(key, value)
        config.resolve()  # picks free ports for etcd and the coordinators, writes configs/milvus.yaml
        self._own_etcd_ports(config.configurable_items["etcd_port"][1])
        health_port = free_port()
        env = dict(os.environ, DEPLOY_MODE="STANDALONE", METRICS_PORT=str(health_port),
                   MILVUS_RUN_DIR=str(self.folder / "run"),
                   LD_LIBRARY_PATH=":".join(p for p in (str(bin_dir), os.environ.get("LD_LIBRARY_PATH")) if p))
        logs = self.folder / "logs"
        with open(logs / "stdout.log", "wb") as out, open(logs / "stderr.log", "wb") as err:
            self.proc = subprocess.Popen([str(bin_dir / "milvus"), "run", "standalone"], cwd=self.folder, env=env,
                                         stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         preexec_fn=_die_with_parent)
        self.address = f"127.0.0.1:{self.port}"
        try:
            self._wait_ready(f"http://127.0.0.1:{health_port}/healthz")
        except BaseException:
            self.stop()
            raise
        return self.address

    def _own_etcd_ports(self, client_port: int) -> None:
        """The embedded etcd's peer port is 2380 unless a config file says otherwise, so a second
        server on the machine (another test session, another xdist worker) could not start: give it
        a config file with its own client and peer ports."""
        peer = free_port()
        etcd_yaml = self.folder / "configs" / "embedEtcd.yaml"
        etcd_yaml.write_text(
            f"name: default\n"
            f"listen-client-urls: http://127.0.0.1:{client_port}\n"
            f"advertise-client-urls: http://127.0.0.1:{client_port}\n"
            f"listen-peer-urls: http://127.0.0.1:{peer}\n"
            f"initial-advertise-peer-urls: http://127.0.0.1:{peer}\n"
            f"initial-cluster: default=http://127.0.0.1:{peer}\n", encoding="utf-8")
        milvus_yaml = self.folder / "configs" / "milvus.yaml"
        text = milvus_yaml.read_text(encoding="utf-8")
        assert "\netcd:\n" in text, "the milvus.yaml template changed: no top-level etcd section"
        milvus_yaml.write_text(text.replace("\netcd:\n", f"\netcd:\n  config:\n    path: {etcd_yaml}\n", 1),
                               encoding="utf-8")

    def _wait_ready(self, health_url: str) -> None:
        from pymilvus import MilvusClient

        deadline = time.monotonic() + STARTUP_BOUND_S
        while True:
            if self._healthy(health_url):
                client = MilvusClient(uri=f"http://{self.address}", timeout=STARTUP_BOUND_S)
                try:
                    client.list_collections()  # the proxy and root coordinator answer
                    return
                finally:
                    client.close()
            try:
                code = self.proc.wait(timeout=POLL_S)
            except subprocess.TimeoutExpired:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Milvus standalone did not become healthy within {STARTUP_BOUND_S} s; "
                                       f"log tail:\n{self.log_tail()}") from None
                continue
            raise RuntimeError(f"Milvus standalone exited with code {code} while starting; "
                               f"log tail:\n{self.log_tail()}")

    @staticmethod
    def _healthy(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return b"OK" in resp.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def log_tail(self, chars: int = 3000) -> str:
        parts = []
        for name in ("stderr.log", "stdout.log"):
            path = self.folder / "logs" / name
            if path.exists():
                parts.append(f"--- {name}\n" + path.read_text(errors="replace")[-chars:])
        return "\n".join(parts)

    def stop(self, graceful: bool = True) -> None:
        """SIGTERM, then SIGKILL past the bound; always reaps the process. ``graceful=False``
        kills at once: for a server whose folder is thrown away (Milvus takes ~30 s to stop)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        if not graceful:
            proc.kill()
            proc.wait()
            return
        proc.terminate()
        try:
            proc.wait(timeout=STOP_BOUND_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
