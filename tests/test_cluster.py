"""Beyond one machine, with real components started by the test: a ``dask scheduler`` and ``dask worker``
processes on this machine (loopback only), and a shared cache at a ``file://`` URL."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from paperclub.build import build, sweep
from paperclub.errors import PaperclubError
from paperclub.layout import Project

distributed = pytest.importorskip("distributed")
TODAY = __import__("datetime").date(2026, 11, 23)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cluster")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A scheduler and workers as separate processes, as a user would start them by hand."""

    def __init__(self, tmp: Path):
        self.tmp, self.procs, self.workers = tmp, [], {}
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "PAPERCLUB"))}
        self.env.update(OMP_NUM_THREADS="1", DASK_DISTRIBUTED__WORKER__DAEMON="False")
        self._start("scheduler", [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", str(self.port), "--no-dashboard"])
        with distributed.Client(self.address, timeout=60) as c:
            c.scheduler_info()

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "w")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.tmp,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def add_worker(self, name: str, gpu: bool = False, n: int = 1) -> None:
        argv = [sys.executable, "-m", "distributed.cli.dask_worker", self.address, "--nthreads", "1",
                "--nworkers", "1", "--name", name, "--no-dashboard", "--host", "127.0.0.1",
                "--local-directory", str(self.tmp / f"w-{name}")]
        if gpu:
            argv += ["--resources", "GPU=1"]
        self.workers[name] = self._start(f"worker-{name}", argv)
        with distributed.Client(self.address, timeout=60) as c:
            c.wait_for_workers(len(self.workers), timeout=120)

    def stop(self) -> None:
        for p in reversed(self.procs):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait(timeout=10)


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    yield c
    c.stop()


def claims(site: Path) -> dict:
    data = json.loads((site / "claims.json").read_text())
    return {slug: [{k: v for k, v in c.items()} for c in entry["claims"]] for slug, entry in data.items()}


def test_a_sweep_on_the_cluster_gives_the_local_claims(project_factory, cluster):
    local = project_factory(["aa", "bb"], name="local")
    remote = project_factory(["aa", "bb"], name="remote")
    cluster.add_worker("one")
    cluster.add_worker("two")
    for root, scheduler in ((local, None), (remote, cluster.address)):
        report = sweep(Project(root), root / "build/cache", seeds=2, log=lambda _: None, scheduler=scheduler)
        assert {r.status for r in report.runs.values()} == {"executed"}
        build(Project(root), root / "site", root / "build/cache", today=TODAY, log=lambda _: None)
    assert claims(remote / "site") == claims(local / "site")
    recorded = lambda root: {s: m["metrics"] for s, m in json.loads((root / "site/metrics.json").read_text()).items()}  # noqa: E731
    assert recorded(remote) == recorded(local)        # every recorded figure, bit for bit (CPU times differ)
    where = json.loads((remote / "build/cache/aa/meta.json").read_text())
    assert "where" in where                           # it ran on a worker, not in a local subprocess
    assert not (remote / "build/cache/.paperclub-kernel").exists()     # and the client never made a local kernel


def test_a_killed_worker_is_retried_elsewhere(project_factory, cluster):
    root = project_factory(["slow"])
    nb = root / "notebooks/slow.py"
    nb.write_text(nb.read_text().replace("result = slow.run(seed=SEED)", "import time\ntime.sleep(8)\nresult = slow.run(seed=SEED)"))
    cluster.add_worker("a")
    cluster.add_worker("b")
    killed = {}

    def kill_the_busy_worker():
        with distributed.Client(cluster.address, timeout=30) as c:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not killed:
                for addr, keys in c.processing().items():
                    if keys:
                        name = c.scheduler_info()["workers"][addr]["name"]
                        time.sleep(2)                                  # mid-run
                        os.killpg(cluster.workers[str(name)].pid, signal.SIGKILL)
                        killed["name"] = name
                        return
                time.sleep(0.2)

    t = threading.Thread(target=kill_the_busy_worker)
    t.start()
    report = build(Project(root), root / "site", root / "build/cache", today=TODAY, log=lambda _: None,
                   scheduler=cluster.address)
    t.join()
    assert killed, "the test never saw the run on a worker: it measured nothing"
    assert report.results["slow"].status == "executed" and (root / "site/papers/slow/index.html").exists()
    assert not list((root / "build/cache").glob(".slow-*"))     # nothing half-written was left or promoted


def test_gpu_papers_run_only_on_gpu_workers(project_factory, cluster, tmp_path):
    root = project_factory(["cpu", "gpu"])
    paper = root / "papers/gpu.md"
    paper.write_text(paper.read_text().replace("status: draft", "status: draft\nneeds: {gpu: 1}"))
    nb = root / "notebooks/gpu.py"
    nb.write_text(nb.read_text().replace("SEED = paperclub.seed()", "SEED = paperclub.seed()\nprint('DEVICE', paperclub.device())"))
    # without a scheduler: reported in one line, not run
    with pytest.raises(PaperclubError, match=r"gpu.py: needs a GPU and no --scheduler with a GPU worker was given"):
        build(Project(root), root / "site", root / "build/cache", today=TODAY, log=lambda _: None)
    cluster.add_worker("plain")
    cluster.add_worker("gpu-box", gpu=True)
    build(Project(root), root / "site", root / "build/cache", today=TODAY, log=lambda _: None, scheduler=cluster.address)
    import nbformat

    ran = nbformat.read(root / "build/cache/gpu/notebook.ipynb", as_version=4)
    out = "".join(o.get("text", "") for c in ran.cells for o in c.get("outputs", []))
    assert "DEVICE cuda" in out                      # the GPU worker told the notebook its device
    with distributed.Client(cluster.address, timeout=30) as c:
        names = {w["name"] for w in c.scheduler_info()["workers"].values()}
    assert names == {"plain", "gpu-box"}
    # a CPU-only build keeps the GPU paper's last run and says so (a failure under --strict)
    nb.write_text(nb.read_text() + "\n# an edit\n")
    report = build(Project(root), root / "site", root / "build/cache", today=TODAY, log=lambda _: None)
    assert report.results["gpu"].status == "stale" and any("needs a GPU" in w for w in report.warnings)
    with pytest.raises(PaperclubError, match="needs a GPU"):
        build(Project(root), root / "site", root / "build/cache", today=TODAY, log=lambda _: None, strict=True)


def test_unreachable_scheduler_is_one_line_before_any_work(project_factory):
    root = project_factory(["nope"])
    port = free_port()
    with pytest.raises(PaperclubError, match=rf"--scheduler tcp://127.0.0.1:{port}: cannot reach the Dask scheduler"):
        build(Project(root), root / "site", root / "build/cache", today=TODAY, log=lambda _: None,
              scheduler=f"tcp://127.0.0.1:{port}")
    assert not (root / "build/cache/nope").exists() and not (root / "site").exists()


def test_two_builds_at_once_share_a_cache_url(project_factory, tmp_path):
    shared = tmp_path / "bucket"
    url = shared.as_uri()
    roots = [project_factory(["s1", "s2"], name=f"clone{i}") for i in range(2)]
    errors = []

    def one(root):
        try:
            build(Project(root), root / "site", root / "build/cache", today=TODAY, log=lambda _: None, shared_cache=url)
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=one, args=(r,)) for r in roots]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    entries = sorted(p.name for p in shared.iterdir())
    assert len(entries) == 2 and all(e.endswith(".tar") for e in entries), entries   # each key once, no partials
    # a third clone runs nothing: both results come whole from the shared cache
    third = project_factory(["s1", "s2"], name="clone3")
    report = build(Project(third), third / "site", third / "build/cache", today=TODAY, log=lambda _: None,
                   shared_cache=url)
    assert {r.status for r in report.results.values()} == {"cached"}
    assert claims(third / "site") == claims(roots[0] / "site")
