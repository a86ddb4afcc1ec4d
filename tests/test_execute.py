"""The executor's own failure modes: a kernel that exits names its cell, a hung notebook is stopped at its
limit, and a build stopped by Ctrl-C leaves no kernel running."""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from paperclub.build import build
from paperclub.errors import PaperclubError
from paperclub.layout import Project
from paperclub.execute import run_processes

pytestmark = pytest.mark.slow
TODAY = dt.date(2026, 11, 23)


def edit(root: Path, slug: str, old: str, new: str) -> None:
    nb = root / "notebooks" / f"{slug}.py"
    text = nb.read_text()
    assert old in text
    nb.write_text(text.replace(old, new))


def test_a_kernel_that_exits_is_reported_with_its_cell(project_factory):
    root = project_factory(["bye"])
    edit(root, "bye", "result = bye.run(seed=SEED)", "import os\nos._exit(3)\nresult = bye.run(seed=SEED)")
    with pytest.raises(PaperclubError) as info:
        build(Project(root), root / "site", root / "build/cache", today=TODAY, log=lambda _: None)
    assert "bye: notebooks/bye.py: cell 3 (line" in str(info.value)
    assert "the kernel died" in str(info.value)
    assert (root / "build/failed/bye.ipynb").exists()


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_a_hung_notebook_is_stopped_with_its_kernel(project_factory):
    root = project_factory(["hang"])
    edit(root, "hang", "result = hang.run(seed=SEED)", "import time\ntime.sleep(600)\nresult = hang.run(seed=SEED)")
    with pytest.raises(PaperclubError, match="exceeded the time limit of 20 s"):
        build(Project(root), root / "site", root / "build/cache", today=TODAY, log=lambda _: None, limit_s=20)
    time.sleep(1)
    assert run_processes(root) == []


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_ctrl_c_stops_every_kernel(project_factory):
    root = project_factory(["ctrl"])
    edit(root, "ctrl", "result = ctrl.run(seed=SEED)", "import time\ntime.sleep(600)\nresult = ctrl.run(seed=SEED)")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    proc = subprocess.Popen([sys.executable, "-m", "paperclub.cli", "--root", str(root), "build"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and len(run_processes(root)) < 2:     # the runner and its kernel
        time.sleep(0.5)
    assert len(run_processes(root)) >= 2, "the notebook never started: the test measures nothing"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    time.sleep(1)
    assert run_processes(root) == [], "a kernel outlived the build"
