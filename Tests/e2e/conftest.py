"""Fixtures for the end-to-end suites: a real `tally serve` process on a free loopback port and a temp database.

With TALLY_E2E_POSTGRES set (a postgres:// URL of a server the suite may create databases on), every `TallyServer`
is instead a cluster: a fresh PostgreSQL database, two `tally serve` collectors on it, and a round-robin HTTP proxy
in front on the server's port that sends each request to the next collector (SDK connections are kept alive, so
alternating per connection would pin a client to one collector)."""
import base64
import http.client
import http.server
import itertools
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_KEY = "pk-lf-e2e"
SECRET_KEY = "sk-lf-e2e"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


POSTGRES = os.environ.get("TALLY_E2E_POSTGRES")


class TallyProcess:
    """One tally process; `kill()` sends SIGKILL, `start()` starts it again on the same port and database."""

    def __init__(self, db: str, port: int, log_path: Path):
        self.db = db
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = None
        self.log_path = log_path

    def start(self, extra_env=None):
        binary = os.environ.get("TALLY_BIN", str(ROOT / ".build" / "debug" / "tally"))
        env = dict(os.environ)
        env.update({
            "LANGFUSE_INIT_PROJECT_ID": "e2e-project",
            "LANGFUSE_INIT_PROJECT_NAME": "E2E",
            "LANGFUSE_INIT_PROJECT_PUBLIC_KEY": PUBLIC_KEY,
            "LANGFUSE_INIT_PROJECT_SECRET_KEY": SECRET_KEY,
        })
        env.update(extra_env or {})
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [binary, "serve", "--port", str(self.port), "--db", self.db],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tempfile.gettempdir())
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tally exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/api/public/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
        raise RuntimeError("tally did not become healthy in 30 s")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, sig=signal.SIGTERM):
        """Graceful stop; returns the exit code (None if it had to be killed after 15 s)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                return self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        return self.proc.returncode if self.proc else None


class RoundRobinProxy:
    """An HTTP/1.1 proxy on `port` that sends each request to the next of `backends` (base URLs). A backend that
    cannot be reached or drops the request answers 502 (the client retries, as SDKs do); nothing is retried here,
    since a dropped request may have committed."""

    HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}

    def __init__(self, port: int, backends):
        self.backends = backends
        self.turn = itertools.count()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                target = urllib.parse.urlsplit(proxy.backends[next(proxy.turn) % len(proxy.backends)])
                headers = {k: v for k, v in self.headers.items() if k.lower() not in proxy.HOP}
                try:
                    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
                    conn.request(self.command, self.path, body=body, headers=headers)
                    answer = conn.getresponse()
                    data = answer.read()
                    status, reason, out = answer.status, answer.reason, answer.getheaders()
                    conn.close()
                except (OSError, http.client.HTTPException) as e:
                    status, reason, out = 502, "Bad Gateway", [("Content-Type", "text/plain")]
                    data = f"collector unreachable: {e}".encode()
                self.send_response(status, reason)
                for k, v in out:
                    if k.lower() not in proxy.HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class CombinedLog:
    """The collectors' logs read as one (what a single server's log would hold)."""

    def __init__(self, paths):
        self.paths = paths

    def read_text(self):
        return "".join(p.read_text() if p.exists() else "" for p in self.paths)


class TallyServer:
    """One tally server at `url`: a process on a SQLite file, or (TALLY_E2E_POSTGRES) two collectors on a fresh
    PostgreSQL database behind a round-robin proxy. `kill()` sends SIGKILL (to every collector), `start()` starts
    again on the same port and database; `db_path` is what `--db` takes for CLI commands on the same data."""

    def __init__(self, db_path: str, port: int, extra_env=None):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.extra_env = extra_env or {}
        self.proxy = None
        base = Path(db_path).with_suffix("")
        if POSTGRES:
            name = "tally_e2e_" + uuid.uuid4().hex
            subprocess.run(["psql", POSTGRES, "-q", "-c", f"CREATE DATABASE {name}"], check=True)
            parts = urllib.parse.urlsplit(POSTGRES)
            self.db_path = urllib.parse.urlunsplit(parts._replace(path="/" + name))
            self.processes = [
                TallyProcess(self.db_path, free_port(), Path(f"{base}-collector{i}.log")) for i in (1, 2)]
            self.log_path = CombinedLog([p.log_path for p in self.processes])
        else:
            self.db_path = db_path
            self.processes = [TallyProcess(db_path, port, Path(db_path).with_suffix(".log"))]
            self.log_path = self.processes[0].log_path

    @property
    def proc(self):
        return self.processes[0].proc

    def start(self):
        # Collectors behind a proxy learn the address clients use (alert links), as behind a load balancer.
        env = ({"TALLY_PUBLIC_URL": self.url} if POSTGRES else {}) | self.extra_env
        for p in self.processes:
            p.start(env)
        if POSTGRES and self.proxy is None:
            self.proxy = RoundRobinProxy(self.port, [p.url for p in self.processes])

    def kill(self):
        for p in self.processes:
            p.kill()

    def stop(self, sig=signal.SIGTERM):
        """Graceful stop; returns the exit code (the first non-zero of the collectors')."""
        codes = [p.stop(sig) for p in self.processes]
        return next((c for c in codes if c != 0), codes[0])

    def close(self):
        self.stop()
        if self.proxy:
            self.proxy.close()
            self.proxy = None

    # --- HTTP helpers (urllib, so the checks do not depend on the SDK under test) ---

    def request(self, method, path, body=None, headers=None, auth=(PUBLIC_KEY, SECRET_KEY), base=None):
        """`base`: another URL to send it to (one collector of a cluster) instead of `url`."""
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        req = urllib.request.Request((base or self.url) + path, data=data, method=method)
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw.decode(errors="replace")

    def get(self, path, **kw):
        return self.request("GET", path, **kw)


def every_page(fetch, limit=100):
    """Every item of a page/limit list read through an SDK's typed client: `fetch(page=, limit=)` → a response
    with `data` and `meta.total_pages`."""
    items, page = [], 1
    while True:
        batch = fetch(page=page, limit=limit)
        items += batch.data
        if page >= batch.meta.total_pages:
            return items
        page += 1


@pytest.fixture
def tally(tmp_path):
    server = TallyServer(str(tmp_path / "tally.db"), free_port())
    server.start()
    yield server
    server.close()
