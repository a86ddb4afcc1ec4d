"""``paperclub serve`` follows edits: a saved change rebuilds the site and the open page reloads itself; a
failed build shows on the page while the last good site is still served."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from paperclub import serve
from paperclub.layout import Project


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode("utf-8")


@pytest.fixture
def tiny_site(tmp_path):
    site = tmp_path / "site"
    (site / "papers" / "x").mkdir(parents=True)
    (site / "index.html").write_text("<html><body><p>home</p></body></html>")
    (site / "papers" / "x" / "index.html").write_text("<html><body><p>paper x</p></body></html>")
    (site / "data.json").write_text('{"a": 1}')
    return site


def serving(site: Path, state):
    import http.server

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), serve.make_handler(site, state))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def test_served_pages_carry_the_reload_script_but_the_files_do_not(tiny_site):
    state = serve.LiveState()
    httpd, base = serving(tiny_site, state)
    try:
        page = get(base + "/papers/x/")
        assert "paper x" in page and serve.STATE in page and page.index(serve.STATE) < page.index("</body>")
        assert serve.STATE not in (tiny_site / "papers/x/index.html").read_text()   # the audited files are untouched
        assert get(base + "/data.json") == '{"a": 1}'                                 # other files as they are
        assert json.loads(get(base + serve.STATE)) == {"version": 0, "error": None, "building": False}
        state.version, state.error = 3, "papers/x.md: field 'year': bad"
        assert json.loads(get(base + serve.STATE))["error"].startswith("papers/x.md")
    finally:
        httpd.shutdown()
    plain, base = serving(tiny_site, None)                                            # --no-watch: as built
    try:
        assert serve.STATE not in get(base + "/papers/x/")
    finally:
        plain.shutdown()


def test_watch_rebuilds_once_per_burst_and_reports_failures(project_factory):
    root = project_factory(["w"])
    state, stop, calls = serve.LiveState(), threading.Event(), []
    outcome = {"fail": False}

    def rebuild():
        calls.append(time.monotonic())
        if outcome["fail"]:
            raise RuntimeError("papers/w.md: field 'year': bad")

    t = threading.Thread(target=serve.watch, args=(Project(root), state, rebuild, stop),
                         kwargs={"log": lambda _: None, "interval": 0.05}, daemon=True)
    t.start()
    try:
        time.sleep(0.3)
        paper = root / "papers/w.md"
        paper.write_text(paper.read_text() + "\nAn edit.\n")
        deadline = time.monotonic() + 10
        while state.version < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state.version == 1 and state.error is None and len(calls) == 1
        outcome["fail"] = True
        (root / "slides/w.md").write_text((root / "slides/w.md").read_text() + "\n")
        while state.error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state.error and "field 'year'" in state.error and state.version == 1   # the last good site stays
        (root / "build").mkdir(exist_ok=True)
        (root / "build" / "noise.txt").write_text("x")          # outputs are not sources: no rebuild
        time.sleep(0.5)
        assert len(calls) == 2
    finally:
        stop.set()


@pytest.mark.slow
def test_serve_rebuilds_a_saved_edit_and_the_open_page_reloads(project_factory):
    """The real command on a scaffolded project: save the notes, and the open page changes by itself (in
    Chromium when it is installed; over HTTP otherwise)."""
    root = project_factory(["live"])
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    proc = subprocess.Popen([sys.executable, "-m", "paperclub.cli", "--root", str(root), "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300          # the first build runs the notebook
        while time.monotonic() < deadline:
            try:
                assert "Paper live" in get(base + "/papers/live/")
                break
            except (OSError, AssertionError):
                time.sleep(0.5)
        else:
            pytest.fail("paperclub serve never served the page")
        paper = root / "papers/live.md"
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium)
                page = browser.new_page()
                page.goto(base + "/papers/live/")
                assert page.locator("text=Edited while serving").count() == 0
                t0 = time.monotonic()
                paper.write_text(paper.read_text().replace("## Key ideas\n", "## Key ideas\n\nEdited while serving.\n"))
                page.wait_for_selector("text=Edited while serving", timeout=120_000)
                print(f"\nserve: saved notes → page reloaded in {time.monotonic() - t0:.1f} s")
                # a broken edit: the banner shows, the page keeps the last good content
                paper.write_text(paper.read_text().replace("year: 2026", "year: twenty"))
                page.wait_for_selector("#paperclub-serve-error", timeout=120_000)
                assert "field 'year'" in page.inner_text("#paperclub-serve-error")
                assert page.locator("text=Edited while serving").count() == 1
                browser.close()
        else:
            before = json.loads(get(base + serve.STATE))["version"]
            paper.write_text(paper.read_text().replace("## Key ideas\n", "## Key ideas\n\nEdited while serving.\n"))
            deadline = time.monotonic() + 120
            while json.loads(get(base + serve.STATE))["version"] == before and time.monotonic() < deadline:
                time.sleep(0.3)
            assert "Edited while serving" in get(base + "/papers/live/")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
