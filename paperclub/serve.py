"""``paperclub serve``: the built site on 127.0.0.1, rebuilt on every saved edit and reloaded in the browser.

Like ``mkdocs serve`` or ``quarto preview``: a watcher polls the project's sources (``papers/``,
``notebooks/``, ``minimal_impls/``, ``slides/``, ``docs/``, ``data/`` and ``mkdocs.yml``); a saved edit
runs the ordinary build, which re-executes only the notebooks whose cache key changed (an edit to the notes
or a deck runs none) and re-renders from cached runs. Every HTML page the server sends carries a small
script that asks ``/__paperclub__/state`` whether the site changed: the open page reloads itself, and a
failed build shows as a banner on the page (and in the terminal) while the last good site keeps being
served. The script is added to the response only; the files on disk are the audited site.
"""
from __future__ import annotations

import functools
import http.server
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from paperclub.layout import Project

STATE = "/__paperclub__/state"
WATCHED = ("papers", "notebooks", "minimal_impls", "slides", "docs", "data")

RELOAD = """<script>/* paperclub serve: reload on rebuild (not part of the built site) */
(function () {
  var seen = null, bar = null;
  function show(msg) {
    if (!msg) { if (bar) { bar.remove(); bar = null; } return; }
    if (!bar) {
      bar = document.createElement("pre");
      bar.id = "paperclub-serve-error";
      bar.setAttribute("role", "alert");
      bar.style.cssText = "position:fixed;left:0;right:0;bottom:0;z-index:9999;margin:0;max-height:40vh;" +
        "overflow:auto;padding:1em;background:#5c0011;color:#fff;font:14px/1.4 monospace;white-space:pre-wrap";
      document.body.appendChild(bar);
    }
    bar.textContent = "paperclub build failed; showing the last good site\\n\\n" + msg;
  }
  function poll() {
    fetch("%s", {cache: "no-store"}).then(function (r) { return r.json(); }).then(function (s) {
      if (seen === null) seen = s.version;
      else if (s.version !== seen) { location.reload(); return; }
      show(s.error);
      setTimeout(poll, 300);
    }).catch(function () { setTimeout(poll, 1000); });
  }
  poll();
})();
</script>""" % STATE


@dataclass
class LiveState:
    """What the browser asks about: a version that changes with every good build, and the last error."""
    version: int = 0
    error: str | None = None
    building: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def as_json(self) -> bytes:
        with self.lock:
            return json.dumps({"version": self.version, "error": self.error, "building": self.building}).encode()


def snapshot(project: Project) -> dict[str, tuple[int, int]]:
    """Modification time and size of every watched file (hidden files and caches skipped)."""
    out: dict[str, tuple[int, int]] = {}
    for name in WATCHED:
        folder = project.root / name
        if not folder.is_dir():
            continue
        for f in folder.rglob("*"):
            rel = f.relative_to(project.root)
            if any(part.startswith(".") or part == "__pycache__" for part in rel.parts) or f.suffix == ".ipynb":
                continue
            try:
                st = f.stat()
            except OSError:
                continue
            if f.is_file():
                out[rel.as_posix()] = (st.st_mtime_ns, st.st_size)
    cfg = project.mkdocs_yml
    if cfg.exists():
        st = cfg.stat()
        out["mkdocs.yml"] = (st.st_mtime_ns, st.st_size)
    return out


def changes(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def make_handler(site: Path, state: LiveState | None):
    """A static-file handler for ``site``; with ``state``, HTML gets the reload script and the state URL."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet: the build's lines matter
            pass

        def end_headers(self) -> None:
            self.send_header("Cache-Control", "no-store")
            super().end_headers()

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if state is not None and self.path.split("?")[0] == STATE:
                body = state.as_json()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if state is not None:
                url = self.path.split("?", 1)[0].split("#", 1)[0]
                path = Path(self.translate_path(self.path))
                if path.is_dir() and url.endswith("/"):
                    path = path / "index.html"
                if path.suffix == ".html" and path.is_file():
                    return self._send_html(path)
            super().do_GET()

        def _send_html(self, path: Path) -> None:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError:
                self.send_error(404)
                return
            at = text.rfind("</body>")
            text = text[:at] + RELOAD + text[at:] if at >= 0 else text + RELOAD
            body = text.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return functools.partial(Handler, directory=str(site))


def watch(project: Project, state: LiveState, rebuild: Callable[[], None], stop: threading.Event,
          log: Callable[[str], None] = print, interval: float = 0.25) -> None:
    """Poll the sources; after a burst of saves settles, rebuild once and bump the state's version."""
    seen = snapshot(project)
    while not stop.wait(interval):
        now = snapshot(project)
        changed = changes(seen, now)
        if not changed:
            continue
        time.sleep(0.15)                      # editors write in several steps: let the burst settle
        now = snapshot(project)
        changed = changes(seen, now)
        seen = now
        shown = ", ".join(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")
        log(f"paperclub serve: changed {shown}; rebuilding")
        t0 = time.monotonic()
        with state.lock:
            state.building = True
        try:
            rebuild()
        except Exception as err:  # noqa: BLE001 - any failure is shown, and the last good site stays
            with state.lock:
                state.error, state.building = str(err), False
            log(f"paperclub serve: build failed, still serving the last good site:\n  {err}")
            continue
        with state.lock:
            state.version += 1
            state.error, state.building = None, False
        log(f"paperclub serve: rebuilt in {time.monotonic() - t0:.1f} s; open pages reload")
