"""Choosing whom to follow when a video or photo shows several people (--person)."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from conftest import cli, one_line_error
from vunet_video.pose import make_estimator
from vunet_video.pose.tracking import PersonChoice, subject_score
from vunet_video.video import read_image

SHARED = Path(__file__).resolve().parents[2] / "shared"
YOLOX = SHARED / "models" / "det" / "yolox_nano_416x416.onnx"
PHOTOS = [SHARED / "data" / "dev" / "subjects" / "deepfashion_women_blouse_00004955.jpg",
          SHARED / "data" / "dev" / "subjects" / "ccp_heldout_2093.jpg",
          SHARED / "data" / "train" / "ccp_photos" / "0001.jpg"]
W, H = 288, 400  # each person's third of the frame
FRAMES = 10

pytestmark = pytest.mark.skipif(not all(p.is_file() for p in PHOTOS + [YOLOX]),
                                reason=f"shared media not found at {SHARED}")


def _person_cutout(path: Path) -> np.ndarray:
    """The photo cropped to its person (MediaPipe's box, padded)."""
    image = read_image(path)
    est = make_estimator("mediapipe")
    try:
        pose = est(image)[0]
    finally:
        est.close()
    x0, y0, x1, y1 = pose.bbox()
    pad = 0.15 * (y1 - y0)
    h, w = image.shape[:2]
    return image[max(0, int(y0 - pad)):min(h, int(y1 + pad)), max(0, int(x0 - pad)):min(w, int(x1 + pad))]


@pytest.fixture(scope="module")
def three_people(tmp_path_factory) -> Path:
    """Three real people side by side, each in a third of the frame. The middle one starts
    biggest and shrinks while the right one grows, so by the end the most prominent person
    is another: whoever was chosen first must still be followed."""
    people = [_person_cutout(p) for p in PHOTOS]
    path = tmp_path_factory.mktemp("people") / "three.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 3 * W, H, "yuv420p"
        for i in range(FRAMES):
            k = i / (FRAMES - 1)
            canvas = np.full((H, 3 * W, 3), 200, np.uint8)
            # left, middle, right: height as a share of the frame's
            for third, (person, share) in enumerate(zip([people[1], people[0], people[2]],
                                                        [0.7, 0.95 - 0.3 * k, 0.55 + 0.4 * k])):
                ph = int(H * share)
                pw = min(W - 4, int(person.shape[1] * ph / person.shape[0]))
                small = cv2.resize(person, (pw, ph), interpolation=cv2.INTER_AREA)
                x = third * W + (W - pw) // 2 + (i % 3 - 1) * 3  # a little sway
                canvas[H - ph:, x:x + pw] = small
            frame = av.VideoFrame.from_ndarray(canvas, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _thirds(poses_json: Path) -> list[int]:
    """Which third of the frame the followed person stands in, per frame."""
    doc = json.loads(poses_json.read_text())
    out = []
    for frame in doc["frames"]:
        xs = [p[0] for p, s in zip(frame["keypoints"], frame["scores"]) if p is not None and s >= 0.3]
        out.append(int(np.median(xs) // W) if xs else -1)
    return out


def _follow(clip: Path, tmp_path: Path, *choice: str) -> tuple[list[int], dict]:
    out = tmp_path / f"poses_{'_'.join(choice).replace(',', '-')}.json"
    result = cli("pose", clip, "-o", out, "--backend", "mediapipe", "--no-smooth", "--quiet", *choice)
    assert result.exit_code == 0, result.output
    return _thirds(out), json.loads(out.read_text())


def test_person_picks_each_of_three_people_and_keeps_them(three_people, tmp_path, monkeypatch):
    monkeypatch.setenv("VUNET_DET_MODEL", str(YOLOX))  # MediaPipe in detector boxes: everybody is posed
    # The ranks of the first frame, by the tracker's own prominence score.
    est = make_estimator("mediapipe", det_model=str(YOLOX))
    try:
        with av.open(str(three_people)) as src:
            first = next(src.decode(video=0)).to_ndarray(format="rgb24")
        people = est(first)
    finally:
        est.close()
    assert len(people) == 3
    ranked = sorted(people, key=lambda p: subject_score(p, first.shape[:2]), reverse=True)
    rank_thirds = [int(np.median(p.xy[p.visible(), 0]) // W) for p in ranked]
    assert sorted(rank_thirds) == [0, 1, 2] and rank_thirds[0] == 1  # the big middle one leads at first

    for rank, third in enumerate(rank_thirds, 1):
        thirds, doc = _follow(three_people, tmp_path, "--person", str(rank))
        assert thirds == [third] * FRAMES, (rank, thirds)  # chosen in frame 0, kept through the clip
        assert doc["person"] == str(rank)
    assert _follow(three_people, tmp_path, "--person", "left")[0] == [0] * FRAMES
    assert _follow(three_people, tmp_path, "--person", "right")[0] == [2] * FRAMES
    x, y = 2.5 * W, H * 0.8  # inside the right person's box
    assert _follow(three_people, tmp_path, "--person-at", f"{x:g},{y:g}")[0] == [2] * FRAMES
    # By the end the right person is the most prominent, yet rank 1 still follows the middle one:
    # without a choice, the main subject of the first frame is followed too.
    assert _follow(three_people, tmp_path)[0] == [1] * FRAMES


def test_a_rank_nobody_has_and_bad_choices_are_one_line_errors(three_people, tmp_path, monkeypatch):
    monkeypatch.setenv("VUNET_DET_MODEL", str(YOLOX))
    out = tmp_path / "p.json"
    assert "person 'middle'" in one_line_error(cli("pose", three_people, "-o", out, "--person", "middle"))
    assert "not both" in one_line_error(cli("pose", three_people, "-o", out, "--person", "2", "--person-at", "1,2"))
    # animate: the 9th person of a clip with three (the detector may see a fourth now and then)
    line = one_line_error(cli("animate", PHOTOS[0], three_people, "-o", tmp_path / "o.mp4", "--person", "9",
                              "--finetune-steps", "0", "--size", "128", "--quiet"))
    assert "three.mp4: no driving frame shows a person of rank 9 (at most " in line
    assert not (tmp_path / "o.mp4").exists() and not out.exists()


def test_the_subject_photo_with_several_people(tmp_path, monkeypatch, tiny_weights):
    from vunet_video import Animator

    monkeypatch.setenv("VUNET_DET_MODEL", str(YOLOX))
    bus = SHARED / "data" / "dev" / "subjects" / "ultralytics_bus.jpg"
    picks = {}
    for choice in ("1", "left", "right"):
        animator = Animator(tiny_weights, **{"pose.subject_person": choice, "model.finetune_steps": 0})
        subject = animator.encode_subject(bus)
        x0, _, x1, _ = subject.pose.bbox()
        picks[choice] = (x0 + x1) / 2
        assert any("people in the photo" in n for n in subject.notes)
    assert picks["left"] < picks["right"] and picks["left"] <= picks["1"] <= picks["right"]
    with pytest.raises(Exception, match="asks for the one of rank 9"):
        Animator(tiny_weights, **{"pose.subject_person": "9", "model.finetune_steps": 0}).encode_subject(bus)


def test_person_choice_text_round_trips():
    for text in ("1", "3", "left", "right", "320,180.5"):
        assert str(PersonChoice.parse(text)) == text
    for bad in ("0", "-1", "x", "1,2,3", "nan,3", "1001"):
        with pytest.raises(Exception, match="give a rank"):
            PersonChoice.parse(bad)
