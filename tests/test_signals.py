"""Stopping a run: SIGTERM (what `kill`, systemd, docker stop and CI timeouts send) stops
`vunet-video` like Ctrl-C, with one line, exit code 143 and no partial or finished output,
also with batch worker processes; option errors are one line with exit code 2.

Real subprocesses (`python -m vunet_video`, the console entry's function), real clips and a
tiny randomly initialised VUNet, as in test_pipeline.py / test_batch.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from vunet_video.cli import app, main
from vunet_video.model.io import save_weights
from vunet_video.model.vunet import VUNet, VUNetConfig

from conftest import make_clip

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def media(shared, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("signals")
    torch.manual_seed(0)
    weights = root / "tiny.safetensors"
    save_weights(VUNet(VUNetConfig(image_size=64, base_channels=8, max_channels=32)), weights)
    dance = shared / "data" / "dev" / "driving" / "musepose_dance.mp4"
    return {"weights": weights, "subject": shared / "data" / "dev" / "subjects" / "deepfashion_women_blouse_00004955.jpg",
            # long enough to be caught mid-render
            "clip": make_clip(dance, root / "dance.mp4", 240, 144, audio=False)}


def start(*args, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "vunet_video", *map(str, args)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_partial(proc: subprocess.Popen, folder: Path, timeout: float = 120) -> list[Path]:
    """Poll until a writer's `.<stem>.partial<suffix>` file is in `folder` (or below)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p in folder.rglob(".*.partial*")]
        if found:
            return found
        if proc.poll() is not None:
            pytest.fail(f"finished (rc {proc.returncode}) before a partial file appeared: {proc.communicate()}")
        time.sleep(0.01)
    proc.kill()
    pytest.fail("no partial file appeared")


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # An exited child of ours not yet reaped is a zombie: gone for this purpose.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def assert_terminated(proc: subprocess.Popen) -> None:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, (out, err)
    assert err.strip().splitlines() == ["terminated"], err
    assert out == ""


def test_sigterm_during_animate_removes_the_partial_file(media, tmp_path):
    proc = start("animate", media["subject"], media["clip"], "-o", "out.mp4", "--weights", media["weights"],
                 "--size", 128, "--quiet", cwd=tmp_path)
    assert [p.name for p in wait_for_partial(proc, tmp_path)] == [".out.partial.mp4"]
    proc.send_signal(signal.SIGTERM)
    assert_terminated(proc)
    assert list(tmp_path.iterdir()) == []  # no partial file, no output


def test_sigterm_stops_batch_workers_and_leaves_nothing(media, tmp_path):
    """--jobs 2: the worker processes stop mid-pair too (sent SIGTERM by the batch), delete
    their partial files and are gone when the batch exits."""
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"subject,driving,output\n{media['subject']},{media['clip']},a.mp4\n"
                     f"{media['subject']},{media['clip']},b/b.mp4\n", encoding="utf-8")
    outdir = tmp_path / "out"
    proc = start("batch", "--pairs", pairs, "-o", outdir, "--jobs", 2, "--weights", media["weights"], "--size", 128,
                 "-q", cwd=tmp_path)
    wait_for_partial(proc, outdir)
    workers = children(proc.pid)
    assert workers  # the pool's processes (and multiprocessing's resource tracker)
    proc.send_signal(signal.SIGTERM)  # to the batch only, as `kill PID` does
    assert_terminated(proc)
    time.sleep(0.5)
    assert [pid for pid in workers if alive(pid)] == []
    assert sorted(str(p.relative_to(outdir)) for p in outdir.rglob("*")) == ["b"]  # the folder made for b.mp4


def pool_workers(pid: int) -> list[int]:
    """The batch's worker processes (spawned by multiprocessing), not its resource tracker."""
    def cmdline(child: int) -> str:
        try:
            return Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return ""
    return [c for c in children(pid) if "spawn_main" in cmdline(c)]


def test_a_killed_worker_does_not_stop_the_batch(media, tmp_path):
    """--jobs 2: a worker killed mid-pair (SIGKILL, as the OOM killer does) takes its pairs in
    flight with it; the batch runs them again and finishes every pair, leaving no partial
    file."""
    names = ["a.mp4", "b.mp4", "c.mp4"]
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("subject,driving,output\n" + "".join(f"{media['subject']},{media['clip']},{n}\n" for n in names),
                     encoding="utf-8")
    outdir = tmp_path / "out"
    proc = start("batch", "--pairs", pairs, "-o", outdir, "--jobs", 2, "--weights", media["weights"], "--size", 96,
                 "--finetune-steps", 0, "-q", cwd=tmp_path)
    wait_for_partial(proc, outdir)
    workers = pool_workers(proc.pid)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, (out, err)
    assert sorted(p.name for p in outdir.iterdir() if not p.name.startswith(".")) == sorted(["batch_summary.csv",
                                                                                           *names])
    assert not list(outdir.rglob("*.partial*"))
    summary = (outdir / "batch_summary.csv").read_text(encoding="utf-8")
    assert summary.count(",ok,") == 3, summary


# ----------------------------------------------------------------------------- option errors

OPTION_ERRORS = [
    (["batch", "-o", "x", "--jobs", "0"], "'--jobs'"),
    (["animate", "a.jpg", "b.mp4", "--finetune-steps", "-1"], "'--finetune-steps'"),
    (["animate", "a.jpg", "b.mp4", "--no-such-option"], "--no-such-option"),
    (["animate", "a.jpg"], "Missing argument 'driving'"),
    (["animate", "a.jpg", "b.mp4", "-o"], "'-o' requires an argument"),
    (["no-such-command"], "no-such-command"),
]


@pytest.mark.parametrize("args, named", OPTION_ERRORS, ids=[" ".join(a) for a, _ in OPTION_ERRORS])
def test_option_errors_are_one_line_with_exit_code_2(args, named, tmp_path, capsys):
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.strip().splitlines()
    assert line.startswith("error: ") and named in line, captured.err
    assert list(tmp_path.iterdir()) == []


def test_option_error_through_the_real_entry(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "vunet_video", "batch", "-o", str(tmp_path / "x"), "--jobs", "0"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("error: Invalid value for '--jobs'"), proc.stderr
    assert not (tmp_path / "x").exists()


def test_help_version_and_no_args_still_work(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("vunet-video ")
    assert main(["batch", "--help"]) == 0
    assert "Usage: vunet-video batch" in capsys.readouterr().out
    assert main([]) == 2  # no command: the help, as before
    assert "Commands" in capsys.readouterr().err
    # The app itself (what CliRunner tests use) is unchanged: click's usage block, exit code 2.
    assert CliRunner().invoke(app, ["batch", "-o", "x", "--jobs", "0"]).exit_code == 2


def test_console_script_points_at_main():
    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["vunet-video"] == "vunet_video.cli:main"
