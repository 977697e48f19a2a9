"""Shared test fixtures.

`shared` is the project's read-only media folder (../shared beside the repository, or
$VUNET_SHARED). Tests that need it are skipped, with the reason shown in the pytest
summary (-ra), when it is absent; nothing from it is ever copied into the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

import av
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ["VUNET_SHARED"]) if os.environ.get("VUNET_SHARED") else REPO.parent / "shared"


def _tested_package() -> str:
    import vunet_video

    where = Path(vunet_video.__file__).resolve().parent
    # (An installed copy can also lie under REPO, in a virtual environment made there.)
    kind = "source tree" if where == REPO / "vunet_video" else "installed package"
    return f"vunet_video {vunet_video.__version__} imported from {where} ({kind})"


def pytest_configure(config) -> None:
    """Tuned weights are cached in the user's cache folder (model/finetune.py): the tests
    keep theirs in a folder of their own, removed at the end."""
    import tempfile

    if not os.environ.get("VUNET_CACHE_DIR"):
        config._vunet_cache = tempfile.TemporaryDirectory(prefix="vunet-test-cache-")
        os.environ["VUNET_CACHE_DIR"] = config._vunet_cache.name


def pytest_unconfigure(config) -> None:
    cache = getattr(config, "_vunet_cache", None)
    if cache is not None:
        os.environ.pop("VUNET_CACHE_DIR", None)
        cache.cleanup()


def pytest_report_header(config) -> str:
    """Which vunet_video the tests run against, so a CI log shows whether it was the
    installed wheel or the source tree (`python -m pytest` puts the current folder first
    on sys.path and would test the source tree even when a wheel is installed)."""
    return _tested_package()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """-q leaves out the header above, and `pytest -q` is the test command: say it at the
    end instead."""
    if config.get_verbosity() < 0:
        terminalreporter.write_line(_tested_package())


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared media folder; skips the test (with the reason) when it is not there."""
    if not SHARED.is_dir():
        pytest.skip(f"shared media folder not found at {SHARED}; set VUNET_SHARED to its path")
    return SHARED


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """A tiny randomly initialised VUNet checkpoint: the real network, at a size the CLI
    tests can afford."""
    import torch

    from vunet_video.model.io import save_weights
    from vunet_video.model.vunet import VUNet, VUNetConfig

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_weights(VUNet(VUNetConfig(image_size=64, base_channels=8, max_channels=32)), path)
    return path


def cli(*args):
    """Run the `vunet-video` app in-process with these arguments (any objects, as strings)."""
    from typer.testing import CliRunner

    from vunet_video.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(result) -> str:
    """The error line of a command that must fail with the project's contract: exit code 1
    and exactly one line on stderr, starting 'error: '."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def make_clip(src: Path, dst: Path, frames: int, width: int, audio: bool = True) -> Path:
    """The first `frames` frames of `src` at `width` px, H.264, with its sound cut to match."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vs = inp.streams.video[0]
        rate = vs.average_rate
        height = int(round(vs.height * width / vs.width / 2)) * 2
        vo = out.add_stream("libx264", rate=rate)
        vo.width, vo.height, vo.pix_fmt = width, height, "yuv420p"
        ao = None
        if audio and inp.streams.audio:
            ain = inp.streams.audio[0]
            ao = out.add_stream("aac", rate=ain.rate, layout="stereo")
        for n, frame in enumerate(inp.decode(vs)):
            if n == frames:
                break
            small = frame.reformat(width=width, height=height, format="yuv420p")
            small.pts, small.time_base = n, 1 / rate
            out.mux(vo.encode(small))
        out.mux(vo.encode(None))
        if ao is not None:
            inp.seek(0)
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=ain.rate)
            for af in inp.decode(ain):
                if af.time is not None and af.time > frames / rate:
                    break
                for r in resampler.resample(af):
                    r.pts = None
                    out.mux(ao.encode(r))
            out.mux(ao.encode(None))
    return dst
