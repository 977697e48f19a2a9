"""Writing outputs all or nothing (`vunet_video/files.py`), and what every writer shares:
the existing-output wording, no partial file after a failure, and a normal file mode on
what is finished."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from vunet_video.errors import VunetError
from vunet_video.files import APPEARED, EXISTS, atomic_output, check_output_path, partial_path
from vunet_video.pose import Pose, write_pose_json
from vunet_video.video import PngSequenceWriter, ProResWriter, VideoWriter, probe


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def image(i: int) -> np.ndarray:
    img = np.full((16, 24, 3), 30 * i, np.uint8)
    img[4:8, 4:8] = (255, 0, 0)
    return img


def track(n: int = 3):
    xy = np.tile(np.linspace(10, 90, 17, dtype=np.float32)[:, None], (1, 2))
    for i in range(n):
        yield i, i / 24, Pose(xy + i, np.full(17, 0.9, np.float32))


@pytest.fixture(params=[0o022, 0o027])
def umask(request):
    """Run the test under this umask (restored afterwards)."""
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


# --------------------------------------------------------------------------- atomic_output


def test_atomic_output_moves_the_finished_file_into_place(tmp_path):
    out = tmp_path / "out.json"
    partial_path(out).write_text("left by a run that was cut off")
    with atomic_output(out) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".") and tmp.suffix == ".json"
        assert not out.exists()  # nothing at the target while writing
        tmp.write_text("done")
    assert out.read_text() == "done"
    assert names(tmp_path) == ["out.json"]


def test_atomic_output_leaves_nothing_when_the_block_fails(tmp_path):
    out = tmp_path / "out.json"
    with pytest.raises(RuntimeError, match="crashed"):
        with atomic_output(out) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crashed")
    assert names(tmp_path) == []

    out.write_text("earlier result")
    with pytest.raises(RuntimeError, match="crashed"):
        with atomic_output(out, overwrite=True) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crashed")
    assert out.read_text() == "earlier result"
    assert names(tmp_path) == ["out.json"]


def test_atomic_output_turns_os_errors_into_one_line_errors(tmp_path):
    out = tmp_path / "out.json"
    with pytest.raises(VunetError, match=r"out.json: writing failed \(No space left on device\)"):
        with atomic_output(out) as tmp:
            tmp.write_text("half")
            raise OSError(28, "No space left on device")
    assert names(tmp_path) == []


def test_atomic_output_refuses_to_clobber(tmp_path):
    out = tmp_path / "out.json"
    out.write_text("precious")
    ran = False
    with pytest.raises(VunetError, match=f"out.json: {EXISTS}".replace("(", r"\(").replace(")", r"\)")):
        with atomic_output(out):
            ran = True
    assert not ran  # refused before any work
    assert out.read_text() == "precious"

    # A file that turns up while ours is written (another run) is not replaced either.
    fresh = tmp_path / "fresh.json"
    with pytest.raises(VunetError, match=f"fresh.json: {APPEARED}"):
        with atomic_output(fresh) as tmp:
            tmp.write_text("ours")
            fresh.write_text("theirs")
    assert fresh.read_text() == "theirs"
    assert names(tmp_path) == ["fresh.json", "out.json"]

    (tmp_path / "folder.json").mkdir()
    with pytest.raises(VunetError, match="folder.json: is a folder"):
        with atomic_output(tmp_path / "folder.json", overwrite=True):
            pass


def test_atomic_output_replaces_with_overwrite(tmp_path):
    out = tmp_path / "out.json"
    out.write_text("old")
    with atomic_output(out, overwrite=True) as tmp:
        tmp.write_text("new")
    assert out.read_text() == "new"
    # ... also a file that appeared meanwhile: overwrite means replace whatever is there.
    with atomic_output(out, overwrite=True) as tmp:
        tmp.write_text("newer")
        out.write_text("theirs")
    assert out.read_text() == "newer"
    assert names(tmp_path) == ["out.json"]


# --------------------------------------------------------------------------- every writer


def refuse(make):
    with pytest.raises(VunetError) as info:
        make()
    return info.value.problem


def test_every_writer_words_an_existing_output_the_same(tmp_path):
    for name in ("out.mp4", "out.mov", "out.json", "out.png"):
        (tmp_path / name).write_bytes(b"earlier result")
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "frame_000000.png").write_bytes(b"earlier result")
    problems = {
        "check_output_path": refuse(lambda: check_output_path(tmp_path / "out.png", False, (".png",))),
        "VideoWriter": refuse(lambda: VideoWriter(tmp_path / "out.mp4", 12)),
        "ProResWriter": refuse(lambda: ProResWriter(tmp_path / "out.mov", 12)),
        "PngSequenceWriter": refuse(lambda: PngSequenceWriter(tmp_path / "frames")),
        "write_pose_json": refuse(lambda: write_pose_json(tmp_path / "out.json", {}, track())),
    }
    assert problems == dict.fromkeys(problems, EXISTS)


def test_video_writer_does_not_replace_a_file_that_appeared_while_writing(tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(VunetError, match=f"out.mp4: {APPEARED}"):
        with VideoWriter(out, 12) as writer:
            writer.write(image(0))
            out.write_bytes(b"theirs")
    assert out.read_bytes() == b"theirs"
    assert names(tmp_path) == ["out.mp4"]


# --------------------------------------------------------------------------- file modes


def test_finished_outputs_get_a_normal_mode(tmp_path, umask):
    """0666 minus the umask, as open() gives, whatever the writing library did."""
    normal = 0o666 & ~umask

    with atomic_output(tmp_path / "private.bin") as tmp:
        os.close(os.open(tmp, os.O_CREAT | os.O_WRONLY, 0o600))  # as mkstemp and safetensors do
    assert mode(tmp_path / "private.bin") == normal

    assert write_pose_json(tmp_path / "poses.json", {"fps": 24.0}, track()) == 3
    assert mode(tmp_path / "poses.json") == normal

    with VideoWriter(tmp_path / "out.mp4", 12) as writer:
        for i in range(3):
            writer.write(image(i))
    assert probe(tmp_path / "out.mp4").frame_count == 3
    assert mode(tmp_path / "out.mp4") == normal

    with PngSequenceWriter(tmp_path / "frames") as writer:
        writer.write(image(0))
    frame = tmp_path / "frames" / "frame_000000.png"
    assert mode(frame) == normal

    # overwrite=True goes the other way through publish(); same mode.
    write_pose_json(tmp_path / "poses.json", {}, track(1), overwrite=True)
    assert mode(tmp_path / "poses.json") == normal
    assert names(tmp_path) == ["frames", "out.mp4", "poses.json", "private.bin"]
