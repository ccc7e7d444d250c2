"""Trace-list filter changes in the web UI with 100k traces stored. Prints figures; never passes or fails.

    swift build -c release --product tally
    .venv-e2e-ui/bin/python bench/ui_filter.py [--traces 100000]

Seeds a release `tally serve` through the batch API (one root span and one generation per trace, 100 tenants,
10 features, prompt versions, models, 2% errors, 30 days), signs in with headless Chromium (Debian's chromium and
chromedriver) and times, inside the page, each filter change from setting the URL to the re-rendered table: the
median of 5 runs per filter. The baseline, timed in the same run, is an unfiltered reload of the first page.
"""
import argparse
import base64
import datetime as dt
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parents[1]
PK, SK = "pk-lf-bench", "sk-lf-bench"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, body):
    req = urllib.request.Request(url + "/api/public/ingestion", data=json.dumps(body).encode(), method="POST")
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{PK}:{SK}".encode()).decode())
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=120) as r:
        result = json.loads(r.read())
        assert not result["errors"], result["errors"][:3]


def iso(t):
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seed(url, traces):
    rng = random.Random(7)
    now = dt.datetime.now(dt.timezone.utc)
    models = ["gpt-4.1-mini", "gpt-4o", "claude-sonnet-4-5", "gemini-2.5-flash"]
    events = []
    for i in range(traces):
        tenant, feature = f"tenant-{rng.randrange(100)}", f"feature-{rng.randrange(10)}"
        start = now - dt.timedelta(seconds=rng.randrange(30 * 86400))
        tid = f"t{i}"
        events.append({"id": f"e{i}", "type": "trace-create", "timestamp": iso(start), "body": {
            "id": tid, "name": f"{feature}-request", "timestamp": iso(start), "userId": f"user-{rng.randrange(5000)}",
            "metadata": {"tenantId": tenant, "feature": feature}, "tags": [feature, f"tenant:{tenant}"],
            "environment": "production"}})
        gen = {"id": f"{tid}-g", "traceId": tid, "name": "llm", "model": rng.choice(models),
               "startTime": iso(start), "endTime": iso(start + dt.timedelta(milliseconds=50 + rng.randrange(3000))),
               "usage": {"input": 100 + rng.randrange(4000), "output": 10 + rng.randrange(800)},
               "promptName": f"prompt-{rng.randrange(3)}", "promptVersion": 1 + rng.randrange(4)}
        if rng.randrange(50) == 0:
            gen["level"] = "ERROR"
        events.append({"id": f"g{i}", "type": "generation-create", "timestamp": iso(start), "body": gen})
        if len(events) >= 2000:
            post(url, {"batch": events})
            events = []
    if events:
        post(url, {"batch": events})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--traces", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tally-ui-bench-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, LANGFUSE_INIT_PROJECT_ID="bench", LANGFUSE_INIT_PROJECT_PUBLIC_KEY=PK,
               LANGFUSE_INIT_PROJECT_SECRET_KEY=SK)
    binary = os.environ.get("TALLY_BIN", str(ROOT / ".build" / "release" / "tally"))
    server = subprocess.Popen([binary, "serve", "--port", str(port), "--db", str(tmp / "tally.db")], env=env,
                              stdout=open(tmp / "server.log", "wb"), stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/api/public/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        started = time.time()
        seed(url, args.traces)
        print(f"seeded {args.traces} traces ({2 * args.traces} events) in {time.time() - started:.1f} s")

        options = webdriver.ChromeOptions()
        options.binary_location = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"):
            options.add_argument(a)
        driver = webdriver.Chrome(options=options, service=Service(os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")))
        driver.set_script_timeout(60)
        try:
            driver.get(url + "/")
            time.sleep(0.5)
            driver.execute_script(
                "document.getElementById('publicKey').value = arguments[0];"
                "document.getElementById('secretKey').value = arguments[1];"
                "document.getElementById('signin').requestSubmit();", PK, SK)
            time.sleep(1.5)

            # Sets the hash and resolves when the page's main element has been re-rendered.
            timed = """
                const done = arguments[arguments.length - 1];
                const main = document.getElementById('main');
                const t0 = performance.now();
                const obs = new MutationObserver(() => {
                    if (main.querySelector('#traces')) { obs.disconnect(); done([performance.now() - t0,
                        main.querySelectorAll('#traces tbody tr').length]); }
                });
                obs.observe(main, {childList: true});
                location.hash = arguments[0];
            """
            filters = {
                "baseline: first page, no filter": "#/traces",
                "tenant": "#/traces?tenantId=tenant-42",
                "tag": "#/traces?tags=feature-3",
                "prompt name + version": "#/traces?promptName=prompt-1&promptVersion=2",
                "model": "#/traces?model=gpt-4o",
                "level ERROR": "#/traces?level=ERROR",
                "name contains": "#/traces?q=feature-7",
                "tenant + tag + 7 days": "#/traces?tenantId=tenant-42&tags=feature-3&range=7d",
                "sort by cost (all traces)": "#/traces?sort=-totalCost",
            }
            results = {}
            for label, h in filters.items():
                times = []
                for r in range(args.runs):
                    driver.execute_async_script(timed, "#/traces?offset=0&nocache=" + str(r))  # reset between runs
                    ms, n = driver.execute_async_script(timed, h + ("&" if "?" in h else "?") + f"run={r}")
                    times.append(ms)
                results[label] = (statistics.median(times), n)
            base = results["baseline: first page, no filter"][0]
            for label, (ms, n) in results.items():
                print(f"{label:34s} {ms:8.1f} ms  ({ms / base:4.1f}× baseline, {n} rows)")
        finally:
            driver.quit()
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
