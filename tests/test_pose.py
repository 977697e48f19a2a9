"""The pose stage: backends on real photos, backend choice, subject tracking, pose files.

The MediaPipe tests run the real bundled model. The rtmlib tests run the real person
detectors from ../shared/models/det, but the RTMPose weights are SYNTHETIC: no real RTMPose
file can be had offline on this machine (rtmlib downloads them at run time), so each test
builds, with the `onnx` package, a small model with RTMPose's exact signature (input
'input' 1x3x256x192, outputs 'simcc_x' 1x17x384 and 'simcc_y' 1x17x512) whose output is a
fixed function of the input: every joint's SimCC curves peak at the column and row of the
reddest pixel of the crop. That checks everything around the network (colour order: RGB
for RTMPose, box cropping, SimCC decoding, mapping back to image pixels) against a known
answer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from vunet_video.errors import VunetError
from vunet_video.pose import (Pose, SubjectTracker, estimate_image_pose, make_estimator, read_pose_json,
                              write_pose_json)
from vunet_video.pose.keypoints import INDEX, MIN_SCORE, NUM_JOINTS
from vunet_video.train.metrics import pck

SHARED = Path(os.environ.get("VUNET_SHARED") or Path(__file__).resolve().parents[1].parent / "shared")
SUBJECTS = SHARED / "data" / "dev" / "subjects"
YOLOX = SHARED / "models" / "det" / "yolox_nano_416x416.onnx"
RTMDET = SHARED / "models" / "det" / "rtmdet_nano.onnx"

needs_shared = pytest.mark.skipif(not SUBJECTS.is_dir(), reason=f"shared media not found at {SHARED}")


def load_rgb(name: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(SUBJECTS / name)), cv2.COLOR_BGR2RGB)


@pytest.fixture(autouse=True)
def no_model_env(monkeypatch, tmp_path):
    """Tests see no user configuration: no model variables, an empty rtmlib cache."""
    monkeypatch.delenv("VUNET_RTMPOSE_MODEL", raising=False)
    monkeypatch.delenv("VUNET_DET_MODEL", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))


@pytest.fixture(scope="module")
def mediapipe_static():
    est = make_estimator("mediapipe")
    yield est
    est.close()


# ----------------------------------------------------------------------------- synthetic RTMPose

# Response map of the synthetic model on its normalised input, whose channels are R, G, B
# (RTMPose is trained on RGB; the backend must hand it RGB): 0.15 * (R - G - B) - 0.3,
# about 0.6 on pure red, below 0.3 on the dev photos, negative on black and white.
_RESPONSE_W = np.array([1.0, -1.0, -1.0], np.float32) * 0.15
_RESPONSE_B = -0.3


def build_synthetic_rtmpose(path: Path, h: int = 256, w: int = 192, joints: int = NUM_JOINTS) -> Path:
    """ONNX file with RTMPose-m 256x192's signature; SimCC x/y = column/row maxima of the
    response map, each repeated twice (SimCC split ratio 2), for every joint."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def const(name, values, dtype=np.int64):
        return numpy_helper.from_array(np.asarray(values, dtype), name)

    inits = [const("w", _RESPONSE_W.reshape(1, 3, 1, 1), np.float32), const("b", [_RESPONSE_B], np.float32),
             const("col4", [1, 1, w, 1]), const("row4", [1, 1, h, 1]),
             const("col2", [1, 1, 2 * w]), const("row2", [1, 1, 2 * h]),
             const("out_x", [1, joints, 2 * w]), const("out_y", [1, joints, 2 * h])]
    nodes = [helper.make_node("Conv", ["input", "w", "b"], ["response"]),
             helper.make_node("ReduceMax", ["response"], ["cols"], axes=[2], keepdims=0),
             helper.make_node("ReduceMax", ["response"], ["rows"], axes=[3], keepdims=0)]
    for v, n in (("cols", "col"), ("rows", "row")):
        nodes += [helper.make_node("Reshape", [v, f"{n}4"], [f"{v}_4d"]),
                  helper.make_node("Concat", [f"{v}_4d", f"{v}_4d"], [f"{v}_twice"], axis=3),
                  helper.make_node("Reshape", [f"{v}_twice", f"{n}2"], [f"{v}_up"])]
    nodes += [helper.make_node("Expand", ["cols_up", "out_x"], ["simcc_x"]),
              helper.make_node("Expand", ["rows_up", "out_y"], ["simcc_y"])]
    graph = helper.make_graph(
        nodes, "synthetic_rtmpose",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, h, w])],
        [helper.make_tensor_value_info("simcc_x", TensorProto.FLOAT, [1, joints, 2 * w]),
         helper.make_tensor_value_info("simcc_y", TensorProto.FLOAT, [1, joints, 2 * h])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def response(rgb: np.ndarray) -> np.ndarray:
    """The synthetic model's response map computed directly on an RGB image."""
    f = rgb.astype(np.float32)
    r, g, b = (f[..., 0] - 123.675) / 58.395, (f[..., 1] - 116.28) / 57.12, (f[..., 2] - 103.53) / 57.375
    return _RESPONSE_W[0] * r + _RESPONSE_W[1] * g + _RESPONSE_W[2] * b + _RESPONSE_B


def paint_blob(rgb: np.ndarray, centre, colour, sigma: float = 6.0) -> np.ndarray:
    yy, xx = np.mgrid[:rgb.shape[0], :rgb.shape[1]]
    g = np.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * sigma ** 2))[..., None]
    return (rgb * (1 - g) + np.asarray(colour, np.float32) * g).round().astype(np.uint8)


@pytest.fixture(scope="module")
def synthetic_pose_model(tmp_path_factory) -> Path:
    return build_synthetic_rtmpose(tmp_path_factory.mktemp("rtmpose") / "synthetic_rtmpose.onnx")


# ----------------------------------------------------------------------------- MediaPipe, real photos

def assert_plausible_standing_person(pose: Pose, image_shape):
    j = INDEX
    vis = pose.visible()
    for name in ("nose", "left_shoulder", "right_shoulder", "left_hip", "right_hip", "left_knee", "right_knee"):
        assert vis[j[name]], name
    y = pose.xy[:, 1]
    shoulders = (y[j["left_shoulder"]] + y[j["right_shoulder"]]) / 2
    hips = (y[j["left_hip"]] + y[j["right_hip"]]) / 2
    knees = (y[j["left_knee"]] + y[j["right_knee"]]) / 2
    assert y[j["nose"]] < shoulders < hips < knees
    # Facing the camera: the person's left shoulder is on the image's right.
    assert pose.xy[j["left_shoulder"], 0] > pose.xy[j["right_shoulder"], 0]
    h, w = image_shape[:2]
    x0, y0, x1, y1 = pose.bbox()
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
    assert (y1 - y0) > 0.5 * h  # full-body photos: the person fills most of the height


@needs_shared
@pytest.mark.parametrize("name", ["ccp_heldout_2093.jpg", "deepfashion_women_blouse_00004955.jpg"])
def test_mediapipe_finds_a_plausible_person_in_dev_photos(mediapipe_static, name):
    image = load_rgb(name)
    pose = estimate_image_pose(image, mediapipe_static)
    assert pose.xy.shape == (NUM_JOINTS, 2) and pose.score.shape == (NUM_JOINTS,)
    assert pose.visible().sum() >= 15
    assert_plausible_standing_person(pose, image.shape)


@needs_shared
def test_blank_image_has_no_person(mediapipe_static):
    blank = np.full((480, 360, 3), 128, np.uint8)
    assert mediapipe_static(blank) == []
    pose = estimate_image_pose(blank, mediapipe_static)
    assert pose.is_empty() and np.isnan(pose.xy).all() and (pose.score == 0).all()


@needs_shared
def test_several_people_one_main_subject_consistently(mediapipe_static):
    bus = load_rgb("ultralytics_bus.jpg")
    first = estimate_image_pose(bus, mediapipe_static)
    assert not first.is_empty()
    again = estimate_image_pose(bus.copy(), mediapipe_static)
    np.testing.assert_allclose(again.xy, first.xy, atol=1.0)
    # Followed as a "video" of the same frame, the tracker keeps that person.
    video = make_estimator("mediapipe", video_mode=True)
    tracker = SubjectTracker()
    picks = [tracker(video(bus), bus.shape[:2]) for _ in range(4)]
    video.close()
    for pick in picks:
        assert pose_iou(pick, first) > 0.6


@needs_shared
def test_mediapipe_in_detected_person_boxes_sees_everybody():
    bus = load_rgb("ultralytics_bus.jpg")
    est = make_estimator("mediapipe", det_model=str(YOLOX))
    assert est.name == "mediapipe"
    boxes = est.detector(bus)
    poses = est(bus)
    assert len(boxes) >= 3
    # The landmark model runs in every box: at least the two people fully in view are
    # found, each inside its own detection box: different people, not one twice.
    assert len(poses) >= 2
    homes = set()
    for pose in poses:
        cx, cy = np.median(pose.xy[pose.visible()], axis=0)
        inside = [k for k, (x0, y0, x1, y1) in enumerate(boxes) if x0 <= cx <= x1 and y0 <= cy <= y1]
        assert len(inside) == 1
        homes.add(inside[0])
    assert len(homes) == len(poses)
    main = estimate_image_pose(bus, est)
    tracker = SubjectTracker()
    for _ in range(3):
        assert pose_iou(tracker(est(bus), bus.shape[:2]), main) > 0.9
    est.close()


# A full-body product photo from the training material, whose face is painted over below.
FACELESS_PHOTO = SHARED / "data" / "train" / "pidm_ecommerce" / "11879acf-2b4e-46b1-9fe8-c10cb5bdccae1668181442691Dresses1.jpg"


@pytest.mark.skipif(not FACELESS_PHOTO.is_file(), reason=f"shared media not found at {SHARED}")
def test_landmarks_in_a_person_box_find_a_person_whose_face_is_hidden():
    """MediaPipe's own detector looks for a face first; in a body detector's box the
    landmark model needs none (as for back views and blurred renders)."""
    rgb = cv2.cvtColor(cv2.imread(str(FACELESS_PHOTO)), cv2.COLOR_BGR2RGB)
    alone = make_estimator("mediapipe", person_boxes=False)
    in_boxes = make_estimator("mediapipe", det_model=str(YOLOX))
    truth = estimate_image_pose(rgb, alone)
    assert not truth.is_empty()
    head = truth.xy[[INDEX[k] for k in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]]
    shoulders = np.linalg.norm(truth.xy[INDEX["left_shoulder"]] - truth.xy[INDEX["right_shoulder"]])
    hidden = rgb.copy()
    cv2.circle(hidden, tuple(int(v) for v in head.mean(0)), int(0.6 * shoulders), (128, 128, 128), -1)
    assert estimate_image_pose(hidden, alone).is_empty()
    found = estimate_image_pose(hidden, in_boxes)
    assert not found.is_empty()
    body = np.arange(INDEX["left_shoulder"], NUM_JOINTS)  # shoulders to ankles
    correct, total = pck(found.xy[body], found.visible()[body], truth.xy[body], truth.visible()[body])
    assert correct / total >= 0.6
    alone.close()
    in_boxes.close()


@needs_shared
def test_landmarks_in_an_empty_box_find_nobody_and_a_detector_miss_falls_back():
    photo = load_rgb("deepfashion_women_blouse_00004955.jpg")
    est = make_estimator("mediapipe", det_model=str(YOLOX), det_score_thr=1.01)  # finds no box
    assert len(est.detector(photo)) == 0
    # Plain background in the box: the model's presence score rejects it.
    h, w = photo.shape[:2]
    assert est.poses_in_boxes(np.full_like(photo, 200), np.array([[0, 0, w, h]], np.float32)) == []
    # No box at all: MediaPipe's own detector gets the photo, as without a detector.
    alone = make_estimator("mediapipe", person_boxes=False)
    assert pose_iou(estimate_image_pose(photo, est), estimate_image_pose(photo, alone)) > 0.95
    est.close()
    alone.close()


def pose_iou(a: Pose, b: Pose) -> float:
    ba, bb = a.bbox(), b.bbox()
    if ba is None or bb is None:
        return 0.0
    ix = max(0.0, min(ba[2], bb[2]) - max(ba[0], bb[0]))
    iy = max(0.0, min(ba[3], bb[3]) - max(ba[1], bb[1]))
    union = (ba[2] - ba[0]) * (ba[3] - ba[1]) + (bb[2] - bb[0]) * (bb[3] - bb[1]) - ix * iy
    return ix * iy / union


# ----------------------------------------------------------------------------- rtmlib

@needs_shared
def test_rtmlib_decodes_a_known_peak_to_its_pixel(synthetic_pose_model):
    from vunet_video.pose.rtmlib_backend import RTMLibPose

    est = RTMLibPose(synthetic_pose_model, YOLOX)
    photo = load_rgb("ccp_heldout_2093.jpg")
    assert response(photo).max() < MIN_SCORE  # no joint "found" before we paint one
    (box,) = est.detector(photo)
    red_at, blue_at = (271.0, 355.5), (240.0, 600.0)
    painted = paint_blob(paint_blob(photo, red_at, (255, 0, 0)), blue_at, (0, 0, 255))
    (pose,) = est(painted)
    # One SimCC bin is half a pixel of the 192x256 crop of the 1.25-padded box.
    crop_px = 1.25 * max(box[3] - box[1], (box[2] - box[0]) * 256 / 192) / 256
    assert np.abs(pose.xy - np.array(red_at)).max() <= 1.5 * crop_px
    assert (pose.score > 0.5).all() and pose.score.max() <= 1.0
    # Without a red blob the synthetic model finds nothing above the threshold.
    (plain,) = est(photo)
    assert plain.is_empty()


@needs_shared
@pytest.mark.parametrize("det", [YOLOX, RTMDET])
def test_rtmlib_poses_every_detected_person(synthetic_pose_model, det):
    from vunet_video.pose.rtmlib_backend import RTMLibPose

    est = RTMLibPose(synthetic_pose_model, det)
    bus = load_rgb("ultralytics_bus.jpg")
    boxes = est.detector(bus)
    assert len(boxes) >= 3 and boxes.dtype == np.float32
    heights = boxes[:, 3] - boxes[:, 1]
    assert (heights > 300).sum() >= 3  # the three people standing in front of the bus
    # Mark one person's chest at a time; that person's pose lands on the mark.
    for k, b in enumerate(boxes[heights > 300]):
        mark = ((b[0] + b[2]) / 2, b[1] + 0.3 * (b[3] - b[1]))
        painted = paint_blob(bus, mark, (255, 0, 0), sigma=4.0)
        assert len(est(painted)) == len(boxes)
        (pose,) = est.poses_in_boxes(painted, b[None])
        assert np.abs(np.median(pose.xy, axis=0) - mark).max() < 5
    assert est(np.zeros((240, 320, 3), np.uint8)) == []


def test_rtmlib_cache_folder_matches_rtmlib(monkeypatch, tmp_path):
    from rtmlib.tools.file import _get_rtmhub_dir

    from vunet_video.pose.rtmlib_backend import rtmlib_cache_dir

    for torch_home in (str(tmp_path / "th"), None):
        if torch_home is None:
            monkeypatch.delenv("TORCH_HOME", raising=False)
        else:
            monkeypatch.setenv("TORCH_HOME", torch_home)
        assert rtmlib_cache_dir() == Path(_get_rtmhub_dir()) / "checkpoints"


def test_missing_model_file_is_a_one_line_error(tmp_path, monkeypatch):
    from vunet_video.pose.rtmlib_backend import RTMLibPose

    # The pose file is checked before any detector is loaded (or downloaded), so the
    # detector named here is never looked at.
    with pytest.raises(VunetError, match="not found") as e:
        RTMLibPose(tmp_path / "nope.onnx", tmp_path / "detector_not_looked_at.onnx")
    assert "nope.onnx" in str(e.value) and "\n" not in str(e.value)
    monkeypatch.setenv("VUNET_RTMPOSE_MODEL", str(tmp_path / "gone.onnx"))
    with pytest.raises(VunetError, match="VUNET_RTMPOSE_MODEL"):
        make_estimator("auto")
    with pytest.raises(VunetError, match="unknown pose option"):
        make_estimator("mediapipe", pose_modle="x.onnx")
    with pytest.raises(VunetError, match="unknown pose backend"):
        make_estimator("openpose")


def test_backend_registry_names_and_cheap_import(tmp_path):
    """backend_names() is what presets and help texts list; the registered modules agree
    with the table; importing the pose package loads no pose library."""
    import subprocess
    import sys

    import vunet_video
    from vunet_video.pose import backend_names
    from vunet_video.pose.estimator import _BACKEND_MODULES, _backend

    assert backend_names() == ("auto", "mediapipe", "rtmlib")
    assert [_backend(n).name for n in _BACKEND_MODULES] == list(backend_names()[1:])
    code = ("import sys, vunet_video.pose; "
            "print([m for m in ('mediapipe', 'rtmlib', 'onnxruntime', 'torch') if m in sys.modules])")
    # The same vunet_video as this process (source tree or installed wheel), whatever the cwd.
    env = {**os.environ, "PYTHONPATH": str(Path(vunet_video.__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=tmp_path, env=env).stdout
    assert out.strip() == "[]"


def test_a_new_backend_is_one_module_and_one_table_line(monkeypatch):
    """A backend module defining BACKEND, plus its line in the table, is all make_estimator
    needs: its name and options are accepted, 'auto' ranks it, the mask rule applies."""
    import types

    from vunet_video.pose import backend_names, estimator

    built = []

    class Fake:
        name = "fake"

    def build(options, *, video_mode, segmentation):
        built.append((options, video_mode, segmentation))
        return Fake()

    local = {"yes": True}
    module = types.ModuleType("vunet_video.pose.fake_backend")
    module.BACKEND = estimator.PoseBackend(name="fake", options=frozenset({"fake_model"}), gives_mask=False,
                                           auto_rank=5, models_local=lambda options: local["yes"], build=build)
    monkeypatch.setitem(__import__("sys").modules, module.__name__, module)
    monkeypatch.setitem(estimator._BACKEND_MODULES, "fake", "fake_backend")

    assert backend_names() == ("auto", "mediapipe", "rtmlib", "fake")
    assert make_estimator("fake", video_mode=True, fake_model="m.bin", det_model=None).name == "fake"
    assert built[-1] == ({"fake_model": "m.bin"}, True, False)  # only its own, given options
    assert make_estimator("auto").name == "fake"  # highest rank, models local
    with pytest.raises(VunetError, match="the fake pose backend gives no person mask; use mediapipe"):
        make_estimator("fake", segmentation=True)
    with pytest.raises(VunetError, match="fake_model"):  # listed among the known options
        make_estimator("auto", fake_modle="x")
    local["yes"] = False
    monkeypatch.setenv("VUNET_RTMPOSE_MODEL", "/nonexistent/rtmpose.onnx")
    with pytest.raises(VunetError, match="VUNET_RTMPOSE_MODEL"):  # next in rank: rtmlib's files checked
        make_estimator("auto")


def test_auto_with_segmentation_is_mediapipe_without_looking_at_rtmlib_files(monkeypatch):
    monkeypatch.setenv("VUNET_RTMPOSE_MODEL", "/nonexistent/rtmpose.onnx")
    est = make_estimator("auto", segmentation=True, person_boxes=False)
    assert est.name == "mediapipe" and est.segmentation and est.detector is None
    est.close()


@needs_shared
def test_auto_backend_choice(monkeypatch, tmp_path, synthetic_pose_model):
    from vunet_video.pose.rtmlib_backend import default_model_urls, rtmlib_cache_dir

    # Nothing configured, empty cache: MediaPipe (never a download).
    est = make_estimator("auto")
    assert est.name == "mediapipe"
    est.close()
    # Models named by environment variables.
    monkeypatch.setenv("VUNET_RTMPOSE_MODEL", str(synthetic_pose_model))
    monkeypatch.setenv("VUNET_DET_MODEL", str(YOLOX))
    assert make_estimator("auto").name == "rtmlib"
    # ... but a person mask is only MediaPipe's.
    assert make_estimator("auto", segmentation=True).name == "mediapipe"
    with pytest.raises(VunetError, match="mask"):
        make_estimator("rtmlib", segmentation=True)
    monkeypatch.delenv("VUNET_RTMPOSE_MODEL")
    monkeypatch.delenv("VUNET_DET_MODEL")
    # rtmlib's defaults found in rtmlib's cache under the names rtmlib gives them.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    cache = rtmlib_cache_dir()
    cache.mkdir(parents=True)
    pose_url, det_url = default_model_urls()
    (cache / (Path(pose_url).name.split(".")[0] + ".onnx")).symlink_to(synthetic_pose_model)
    assert make_estimator("auto").name == "mediapipe"  # detector still missing
    (cache / (Path(det_url).name.split(".")[0] + ".onnx")).symlink_to(YOLOX)
    est = make_estimator("auto")
    assert est.name == "rtmlib"
    assert Path(est.model).parent == cache
    assert len(est(load_rgb("ultralytics_bus.jpg"))) >= 3


# ----------------------------------------------------------------------------- SubjectTracker

BODY = np.array([[0, -150], [8, -158], [-8, -158], [16, -152], [-16, -152],
                 [40, -110], [-40, -110], [55, -55], [-55, -55], [60, 0], [-60, 0],
                 [20, 0], [-20, 0], [22, 75], [-22, 75], [24, 150], [-24, 150]], np.float32)


def person(cx: float, cy: float, scale: float = 1.0, score: float = 0.9) -> Pose:
    return Pose(BODY * scale + np.array([cx, cy], np.float32), np.full(NUM_JOINTS, score, np.float32))


def centre(pose: Pose) -> np.ndarray:
    return np.nanmean(pose.xy, axis=0)


def test_tracker_picks_main_subject_and_keeps_it_through_shuffles():
    rng = np.random.default_rng(0)
    size = (720, 1280)
    tracker = SubjectTracker()
    # Three people walking; the middle one is the largest and most central.
    for i in range(40):
        people = [person(300 + 3 * i, 400, 0.8), person(640 - 2 * i, 380, 1.4), person(1000, 400 - i, 0.9)]
        order = rng.permutation(3)
        pick = tracker([people[k] for k in order], size)
        np.testing.assert_allclose(centre(pick), centre(people[1]))


def test_tracker_crossing_people_keep_identity():
    tracker = SubjectTracker()
    size = (720, 1280)
    for i in range(30):  # A walks right past B (B is smaller, further back)
        a, b = person(400 + 15 * i, 380, 1.2), person(800 - 5 * i, 360, 0.8, score=0.7)
        pick = tracker([b, a] if i % 2 else [a, b], size)
        np.testing.assert_allclose(centre(pick), centre(a))


def test_tracker_disappearance_and_reacquisition():
    tracker = SubjectTracker()
    size = (720, 1280)
    other = person(1100, 400, 0.6, score=0.6)
    assert np.allclose(centre(tracker([other, person(600, 400)], size)), centre(person(600, 400)))
    for _ in range(3):  # the subject leaves; the bystander is far away
        gone = tracker([other], size)
        assert gone.is_empty() and np.isnan(gone.xy).all()
    assert tracker.missing_frames == 3
    back = person(640, 410)  # comes back near where they left
    assert np.allclose(centre(tracker([other, back], size)), centre(back))
    assert tracker.missing_frames == 0
    assert tracker([], size).is_empty()
    assert tracker([Pose.empty()], size).is_empty()


def test_tracker_first_frames_empty_then_person_appears():
    tracker = SubjectTracker()
    assert tracker([], (480, 640)).is_empty()
    p = person(320, 240)
    assert np.allclose(centre(tracker([p], (480, 640))), centre(p))


# ----------------------------------------------------------------------------- pose JSON

def make_track(n: int = 6):
    rng = np.random.default_rng(3)
    for i in range(n):
        p = person(300 + i, 400)
        p.xy += rng.normal(0, 0.5, p.xy.shape).astype(np.float32)
        p.score = rng.uniform(0.4, 1.0, NUM_JOINTS).astype(np.float32)
        if i == 2:
            p.xy[9] = np.nan
            p.score[9] = 0.0
        yield i, i / 24.0, p


def test_pose_json_round_trip(tmp_path):
    out = tmp_path / "sub" / "poses.json"
    header = {"source": "clip.mp4", "backend": "mediapipe", "fps": 24.0, "width": 640, "height": 480,
              "smoothed": True}
    assert write_pose_json(out, header, make_track()) == 6
    doc = json.loads(out.read_text())  # plain JSON, readable by anything
    assert doc["version"] == 1 and doc["frame_count"] == 6 and len(doc["frames"]) == 6
    assert doc["frames"][2]["keypoints"][9] is None and doc["frames"][2]["scores"][9] == 0
    head, frames = read_pose_json(out)
    assert {k: head[k] for k in header} == header and head["frame_count"] == 6
    got = list(frames)
    assert [g[0] for g in got] == list(range(6))
    for (i, t, p), (gi, gt, gp) in zip(make_track(), got):
        assert gt == pytest.approx(t, abs=1e-6)
        np.testing.assert_allclose(gp.xy, p.xy, atol=0.006)
        np.testing.assert_allclose(gp.score, p.score, atol=0.0006)
    assert list(tmp_path.joinpath("sub").iterdir()) == [out]  # no temp files left


def test_pose_json_streams_long_tracks_and_foreign_key_order(tmp_path):
    """A file many read buffers long (numbers split across buffer edges), and a file
    written by someone else with the frames before the header."""
    long_track = list(make_track(800))
    out = tmp_path / "long.json"
    write_pose_json(out, {"fps": 24.0}, iter(long_track))
    assert out.stat().st_size > 4 * 65536
    header, frames = read_pose_json(out)
    n = 0
    for (i, t, p), (gi, gt, gp) in zip(long_track, frames):
        assert gi == i
        np.testing.assert_allclose(gp.xy, p.xy, atol=0.006)
        n += 1
    assert n == header["frame_count"] == 800
    doc = json.loads(out.read_text())
    reordered = tmp_path / "reordered.json"
    reordered.write_text(json.dumps({"frames": doc["frames"][:3], **{k: v for k, v in doc.items() if k != "frames"}}))
    header, frames = read_pose_json(reordered)
    assert header["fps"] == 24.0 and [i for i, _, _ in frames] == [0, 1, 2]


def test_pose_json_does_not_clobber_and_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "poses.json"
    out.write_text("precious")
    with pytest.raises(VunetError, match="already exists"):
        write_pose_json(out, {}, make_track())
    assert out.read_text() == "precious"
    write_pose_json(out, {}, make_track(2), overwrite=True)
    assert read_pose_json(out)[0]["frame_count"] == 2

    def broken():
        yield from make_track(2)
        raise VunetError("clip.mp4", "damaged")

    fresh = tmp_path / "fresh.json"
    with pytest.raises(VunetError, match="damaged"):
        write_pose_json(fresh, {}, broken())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["poses.json"]


@pytest.mark.parametrize("content, problem", [
    ("this is not json", "not a valid pose JSON"),
    ('{"version": 1, "frames": [{"index": 0, "time": 0, "keypoints": [[1, 2]', "not a valid pose JSON"),
    ('{"version": 7, "frames": []}', "unsupported pose file version"),
    ('{"version": 1, "frames": [{"index": 0, "keypoints": [[1, 2]], "scores": [1]}]}', "malformed"),
    ('{"hello": "world"}', "not a pose file"),
    ('{"people": [{"pose_keypoints_2d": [1, 2, 3, 4]}]}', "x, y, c triples"),
    ('{"people": [{"pose_keypoints_2d": [1, 2, 3, 4, 5, 6]}]}', "not BODY_25 or COCO-18"),
])
def test_bad_pose_files_are_one_line_errors(tmp_path, content, problem):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(VunetError, match=problem) as e:
        header, frames = read_pose_json(bad)
        list(frames)
    assert str(bad) in str(e.value) and "\n" not in str(e.value)


def openpose_person(coco_xy: np.ndarray, layout: str, score: float = 0.8) -> list[float]:
    """OpenPose keypoint list for a COCO-17 pose (neck = mid-shoulders, mid-hip, feet unset)."""
    from vunet_video.pose.io import OPENPOSE_BODY25_TO_COCO, OPENPOSE_COCO18_TO_COCO

    table, n = (OPENPOSE_BODY25_TO_COCO, 25) if layout == "body25" else (OPENPOSE_COCO18_TO_COCO, 18)
    kp = np.zeros((n, 3), np.float32)
    kp[table, :2] = coco_xy
    kp[table, 2] = score
    kp[1] = [*(coco_xy[5] + coco_xy[6]) / 2, score]
    return kp.ravel().tolist()


@pytest.mark.parametrize("layout", ["body25", "coco18"])
def test_openpose_import(tmp_path, layout):
    frames = tmp_path / "openpose"
    frames.mkdir()
    truth = []
    for i in range(4):
        main = person(500 + 10 * i, 400)
        side = person(150, 420, 0.5)
        people = [side, main] if i % 2 else [main, side]
        kps = [openpose_person(p.xy, layout) for p in people]
        if i == 3:  # right wrist not found: OpenPose writes 0, 0, 0
            at = next(n for n, p in enumerate(people) if p is main)
            k = np.array(kps[at]).reshape(-1, 3)
            k[4] = 0
            kps[at] = k.ravel().tolist()
        doc = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": k} for k in kps]}
        (frames / f"clip_{i:012d}_keypoints.json").write_text(json.dumps(doc))
        truth.append(main)
    with pytest.raises(VunetError, match="fps"):
        read_pose_json(frames)
    header, it = read_pose_json(frames, fps=25)
    assert header["backend"] == "openpose" and header["fps"] == 25 and header["frame_count"] == 4
    got = list(it)
    assert [(i, t) for i, t, _ in got] == [(i, pytest.approx(i / 25)) for i in range(4)]
    for (_, _, pose), want in zip(got, truth):
        vis = pose.visible()
        np.testing.assert_allclose(pose.xy[vis], want.xy[vis], atol=1e-4)
    assert got[2][2].visible().all()
    assert not got[3][2].visible()[INDEX["right_wrist"]]
    # A single OpenPose file is one frame at time 0.
    header, it = read_pose_json(frames / "clip_000000000000_keypoints.json")
    ((index, time, pose),) = list(it)
    assert (index, time) == (0, 0.0)
    np.testing.assert_allclose(pose.xy, truth[0].xy, atol=1e-4)


# ----------------------------------------------------------------------------- `vunet-video pose`

DRIVING = SHARED / "data" / "dev" / "driving" / "unianimate_source_video.mp4"


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> Path:
    """The first 10 frames of a dev driving video at half size (346x554, 16 fps), H.264."""
    import av

    if not DRIVING.is_file():
        pytest.skip(f"shared driving video not found at {DRIVING}")
    out = tmp_path_factory.mktemp("clip") / "short.mp4"
    with av.open(str(DRIVING)) as src, av.open(str(out), "w") as dst:
        vs = src.streams.video[0]
        stream = dst.add_stream("libx264", rate=vs.average_rate)
        stream.width, stream.height, stream.pix_fmt = 346, 554, "yuv420p"
        for i, frame in enumerate(src.decode(vs)):
            if i == 10:
                break
            small = cv2.resize(frame.to_ndarray(format="rgb24"), (346, 554), interpolation=cv2.INTER_AREA)
            dst.mux(stream.encode(av.VideoFrame.from_ndarray(small, format="rgb24")))
        dst.mux(stream.encode(None))
    return out


def run_cli(*args: str):
    from typer.testing import CliRunner

    from vunet_video.cli import app

    return CliRunner().invoke(app, ["pose", *map(str, args)])


def test_pose_cli_on_a_short_video(tmp_path, short_clip):
    import av

    out, preview = tmp_path / "poses.json", tmp_path / "stickman.mp4"
    result = run_cli(short_clip, "-o", out, "--preview", preview, "--backend", "mediapipe", "--quiet")
    assert result.exit_code == 0, result.output
    header, frames = read_pose_json(out)
    frames = list(frames)
    with av.open(str(short_clip)) as c:
        n_source, rate = c.streams.video[0].frames, c.streams.video[0].average_rate
    assert n_source == 10
    assert header["frame_count"] == len(frames) == n_source
    assert header["backend"] == "mediapipe" and header["smoothed"] is True
    assert (header["width"], header["height"]) == (346, 554) and header["fps"] == pytest.approx(16.0)
    assert [i for i, _, _ in frames] == list(range(10))
    assert [t for _, t, _ in frames] == pytest.approx([i / 16 for i in range(10)], abs=1e-3)
    assert sum(not p.is_empty() for _, _, p in frames) >= 9  # one dancer, in view throughout
    with av.open(str(preview)) as c:
        vs = c.streams.video[0]
        assert vs.average_rate == rate
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(vs)]
    assert len(decoded) == n_source and decoded[0].shape == (554, 346, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["poses.json", "stickman.mp4"]
    # Again without --overwrite: refused, files untouched.
    before = out.read_bytes()
    again = run_cli(short_clip, "-o", out, "--quiet")
    assert again.exit_code == 1 and "already exists" in again.output
    assert out.read_bytes() == before


@needs_shared
def test_pose_cli_on_a_photo(tmp_path):
    out, preview = tmp_path / "pose.json", tmp_path / "pose.png"
    result = run_cli(SUBJECTS / "ccp_heldout_2093.jpg", "-o", out, "--preview", preview, "-q")
    assert result.exit_code == 0, result.output
    header, frames = read_pose_json(out)
    ((index, time, pose),) = list(frames)
    assert header["fps"] is None and header["frame_count"] == 1 and (index, time) == (0, 0.0)
    assert pose.visible().sum() >= 15
    assert cv2.imread(str(preview)).shape == (832, 550, 3)


def test_pose_cli_bad_inputs_fail_in_one_line(tmp_path):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((300, 200, 3), 200, np.uint8))
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n")
    cases = [(tmp_path / "missing.mp4", "no such file"), (text, "not a video"), (blank, "no person")]
    for source, problem in cases:
        out = tmp_path / "out.json"
        result = run_cli(source, "-o", out, "--preview", tmp_path / "out.mp4", "-q")
        assert result.exit_code == 1, (source, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and problem in lines[0], lines
        assert str(source) in lines[0] and "Traceback" not in result.output
        assert sorted(p.name for p in tmp_path.iterdir()) == ["blank.png", "notes.mp4"]


def test_pose_cli_real_console_has_no_traceback(tmp_path):
    """The real entry point (python -m vunet_video) in a real process: stderr is exactly
    one line, with no MediaPipe/TFLite start-up notices or warnings around it."""
    import subprocess
    import sys

    import vunet_video

    # The same vunet_video as this process (source tree or installed wheel), whatever the cwd.
    env = {**os.environ, "PYTHONPATH": str(Path(vunet_video.__file__).resolve().parents[1])}
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((300, 200, 3), 200, np.uint8))
    for source, problem in ((tmp_path / "nope.mp4", "no such file"), (blank, "no person found in the photo")):
        proc = subprocess.run([sys.executable, "-m", "vunet_video", "pose", str(source), "-o", str(tmp_path / "p.json"),
                               "--backend", "mediapipe"], capture_output=True, text=True, cwd=tmp_path, env=env)
        assert proc.returncode == 1
        assert proc.stderr.strip().splitlines() == [f"error: {source}: {problem}"]
        assert not (tmp_path / "p.json").exists()
