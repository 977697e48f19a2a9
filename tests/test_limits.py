"""Limits on inputs and outputs: each is one line naming the file (the CLI: `error: ...`,
exit 1), before any work, leaving no output.

Pixel limit on photos (decompression bombs), the output size that render.size = 0 gives,
output names too long for the file system, an output that is one of the inputs, and the
typed fields of pose files. Real files, the real CLI; the model is a tiny random one.
"""

from __future__ import annotations

import json
import struct
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from vunet_video import VunetError
from vunet_video.files import check_output_path, refuse_overwriting_inputs
from vunet_video.pose import read_pose_json, write_pose_json
from vunet_video.pose.keypoints import NUM_JOINTS, Pose
from vunet_video.video import read_image

from conftest import cli, one_line_error

# ----------------------------------------------------------------------------- helpers


def png_bomb(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A valid 1-bit grey PNG of width x height, all black: about 100 kB on disk for 900
    megapixels, written row by row (never held whole)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter byte + packed pixels
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def standing(cx: float = 100.0, cy: float = 120.0) -> Pose:
    """A standing person, all 17 joints."""
    xy = np.array([[0, -80], [-5, -85], [5, -85], [-10, -82], [10, -82], [-25, -60], [25, -60], [-35, -30],
                   [35, -30], [-40, 0], [40, 0], [-15, 0], [15, 0], [-17, 45], [17, 45], [-18, 90], [18, 90]],
                  np.float32) + np.array([cx, cy], np.float32)
    return Pose(xy, np.full(NUM_JOINTS, 0.9, np.float32))


def pose_file(path: Path, frames: int = 4) -> Path:
    header = {"source": "made", "backend": "test", "fps": 25.0, "width": 200, "height": 240, "smoothed": True}
    write_pose_json(path, header, ((i, i / 25, standing(100 + i)) for i in range(frames)))
    return path


@pytest.fixture
def photo(tmp_path) -> Path:
    """A small image (nobody in it: only what is checked before posing may be reached)."""
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), np.full((64, 48, 3), 128, np.uint8))
    return path


# ----------------------------------------------------------------------------- pixel limit

def test_bomb_photo_is_refused_before_decoding(tmp_path, tiny_weights, monkeypatch):
    bomb = png_bomb(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 1 << 20
    poses = pose_file(tmp_path / "poses.json")
    out = tmp_path / "out.mp4"
    line = one_line_error(cli("animate", bomb, poses, "-o", out, "--weights", tiny_weights, "--quiet"))
    assert str(bomb) in line and "30000x30000" in line and "100 megapixels" in line
    assert "VUNET_MAX_IMAGE_PIXELS" in line
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bomb.png", "poses.json"]
    # Checked before the model is loaded: weights that do not exist are never reached.
    for command in (["animate", bomb, poses, "-o", out], ["render", bomb, poses, "-o", tmp_path / "r.png"],
                    ["transfer", bomb, bomb, "-o", tmp_path / "t.png"]):
        line = one_line_error(cli(*command, "--weights", tmp_path / "missing.safetensors"))
        assert "30000x30000" in line and "missing.safetensors" not in line
    # The same through the API, and from the environment variable (checked before decoding).
    with pytest.raises(VunetError, match="900 megapixels"):
        read_image(bomb)
    monkeypatch.setenv("VUNET_MAX_IMAGE_PIXELS", "1000000000")
    with pytest.raises(VunetError, match="over the limit of 1 megapixels"):
        read_image(bomb, max_pixels=1000 * 1000)  # the keyword wins over the variable


def test_pixel_limit_can_be_raised_and_is_checked(tmp_path, photo, monkeypatch):
    with pytest.raises(VunetError, match=r"48x64 .* over the limit of 0.001 megapixels"):
        read_image(photo, max_pixels=1000)
    assert read_image(photo, max_pixels=0).shape == (64, 48, 3)  # 0: no limit
    monkeypatch.setenv("VUNET_MAX_IMAGE_PIXELS", "1000")
    with pytest.raises(VunetError, match="VUNET_MAX_IMAGE_PIXELS"):
        read_image(photo)
    monkeypatch.setenv("VUNET_MAX_IMAGE_PIXELS", "5000")
    assert read_image(photo).shape == (64, 48, 3)
    monkeypatch.setenv("VUNET_MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(VunetError, match="whole number"):
        read_image(photo)


def test_files_pillow_does_not_know_still_go_to_opencv(tmp_path):
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image at all" * 10)
    with pytest.raises(VunetError, match="not an image OpenCV can read"):
        read_image(junk)


# ----------------------------------------------------------------------------- output names

def test_output_names_too_long_for_the_file_system(tmp_path, photo, tiny_weights, monkeypatch):
    poses = pose_file(tmp_path / "poses.json")
    too_long = tmp_path / ("a" * 300 + ".mp4")
    line = one_line_error(cli("animate", photo, poses, "-o", too_long, "--weights", tiny_weights, "--quiet"))
    assert "file name too long" in line
    # Fits alone but not as the temporary ".<stem>.partial.mp4" it is written under.
    with pytest.raises(VunetError, match="too long"):
        check_output_path(tmp_path / ("b" * 246 + ".mp4"))
    assert check_output_path(tmp_path / ("b" * 200 + ".mp4")).name.startswith("b")
    # The png export's folder.
    line = one_line_error(cli("animate", photo, poses, "-o", tmp_path / ("c" * 250), "--export", "png",
                              "--weights", tiny_weights, "--quiet"))
    assert "file name too long" in line
    # The default name, <subject>_<driving>.mp4, from two long input names.
    long_photo = tmp_path / ("p" * 150 + ".png")
    long_photo.write_bytes(photo.read_bytes())
    long_poses = pose_file(tmp_path / ("d" * 150 + ".json"))
    monkeypatch.chdir(tmp_path)
    line = one_line_error(cli("animate", long_photo, long_poses, "--weights", tiny_weights, "--quiet"))
    assert "file name too long" in line and "_ddd" in line


# ----------------------------------------------------------------------------- outputs that are inputs

def test_output_that_is_an_input_is_refused(tmp_path, photo, tiny_weights):
    poses = pose_file(tmp_path / "poses.json")
    before = poses.read_bytes()
    line = one_line_error(cli("animate", photo, poses, "-o", poses, "--export", "keypoints", "--overwrite",
                              "--weights", tiny_weights, "--quiet"))
    assert "is also an input" in line and str(poses) in line
    # Another name for the same file.
    link = tmp_path / "link.json"
    link.symlink_to(poses)
    line = one_line_error(cli("animate", photo, poses, "-o", link, "--export", "keypoints", "--overwrite",
                              "--weights", tiny_weights, "--quiet"))
    assert "is also an input" in line
    # The --audio file.
    sound = tmp_path / "sound.mp4"
    sound.write_bytes(b"stand-in")
    line = one_line_error(cli("animate", photo, poses, "-o", sound, "--audio", sound, "--overwrite",
                              "--weights", tiny_weights, "--quiet"))
    assert "is also an input" in line and sound.read_bytes() == b"stand-in"
    # Stills: before the model loads.
    line = one_line_error(cli("render", photo, poses, "-o", photo, "--overwrite", "--weights", tiny_weights))
    assert "is also an input" in line
    assert poses.read_bytes() == before
    refuse_overwriting_inputs(tmp_path / "new.mp4", photo, None, poses)  # different files: fine


# ----------------------------------------------------------------------------- pose files

def frame(**changes) -> dict:
    rec = {"index": 0, "time": 0.0, "keypoints": [[10.0, 20.0]] * NUM_JOINTS, "scores": [0.9] * NUM_JOINTS}
    rec.update(changes)
    return rec


def project(frames: list, **header) -> str:
    head = {"version": 1, "fps": 25.0, "width": 200, "height": 240}
    head.update(header)
    return json.dumps({**head, "frames": frames})


@pytest.mark.parametrize("content, problem", [
    (project([frame()], fps=-5), "'fps' is -5"),
    (project([frame()], fps="fast"), "'fps' is \"fast\""),
    (project([frame()], width="wide"), "'width' is \"wide\""),
    (project([frame()], height=[1]), "'height' is \\[1\\]"),
    (project([frame(keypoints=[["a", 1]] * NUM_JOINTS)]), r"frame 0 .*keypoints\[0\]"),
    (project([frame(), frame(scores=[True] * NUM_JOINTS)]), r"frame 1 .*scores\[0\] = true"),
    (project([frame(time="noon")]), "time = \"noon\""),
    (project([frame(index=-1)]), "index = -1"),
    (project([frame()])[:-40], "not a valid pose JSON"),  # cut short
    ('{"people": [3]}', "'people' entry 0 is not an object"),
    ('{"people": [{"pose_keypoints_2d": [1, 2, "x"]}]}', "entry 0: pose_keypoints_2d holds \"x\""),
    ('{"people": [{"pose_keypoints_2d": [1, 2, NaN]}]}', "holds NaN, not a finite number"),
])
def test_bad_pose_fields_are_one_line_errors_before_any_frame_is_used(tmp_path, content, problem):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(VunetError, match=problem) as e:
        read_pose_json(bad)  # raised here, not while the frames are iterated
    assert str(bad) in str(e.value) and "\n" not in str(e.value)


def test_pose_file_cut_short_fails_before_rendering(tmp_path, photo, tiny_weights):
    poses = pose_file(tmp_path / "poses.json", frames=40)
    text = poses.read_text()
    poses.write_text(text[: len(text) * 3 // 4])
    header, _ = read_pose_json(pose_file(tmp_path / "whole.json", frames=40))
    assert header["frame_count"] == 40
    out = tmp_path / "out.mp4"
    line = one_line_error(cli("animate", photo, poses, "-o", out, "--weights", tiny_weights, "--quiet"))
    assert "not a valid pose JSON" in line and not out.exists()


def test_openpose_folder_fps_must_be_positive(tmp_path, photo, tiny_weights):
    folder = tmp_path / "openpose"
    folder.mkdir()
    for i in range(2):
        flat = np.concatenate([standing().xy, np.full((NUM_JOINTS, 1), 0.9)], axis=1)
        body = np.zeros((18, 3))
        from vunet_video.pose.io import OPENPOSE_COCO18_TO_COCO

        body[OPENPOSE_COCO18_TO_COCO] = flat
        (folder / f"f_{i:04d}_keypoints.json").write_text(json.dumps({"people": [
            {"pose_keypoints_2d": body.ravel().tolist()}]}))
    line = one_line_error(cli("animate", photo, folder, "--fps", -5, "-o", tmp_path / "out.mp4",
                              "--weights", tiny_weights, "--quiet"))
    assert "fps -5.0 is not a positive number" in line and str(folder) in line
    header, frames = read_pose_json(folder, fps=25)
    assert header["frame_count"] == 2 and len(list(frames)) == 2


# ----------------------------------------------------------------------------- output size

def test_render_size_0_caps_the_output_at_1280(shared, tmp_path, tiny_weights):
    from vunet_video import Animator

    small = read_image(shared / "data" / "dev" / "subjects" / "deepfashion_women_blouse_00004955.jpg")
    h, w = small.shape[:2]
    scale = 2400 / max(h, w)
    big = cv2.resize(small, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
    photo = tmp_path / "big.png"
    cv2.imwrite(str(photo), cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
    poses = pose_file(tmp_path / "poses.json")

    animator = Animator(tiny_weights, finetune_steps=0, export="keypoints")
    result = animator.animate(photo, poses, tmp_path / "out.json")
    assert max(result.frame_size) == 1280
    assert any("scaled down to 1280 px" in n for n in result.notes)
    subject = Animator(tiny_weights, finetune_steps=0, size=2400).encode_subject(photo)
    assert max(subject.frame_size) == 2400 and not any("scaled down" in n for n in subject.notes)


# ----------------------------------------------------------------------------- checked before any work

def test_unreadable_audio_file_is_reported_before_any_work(tmp_path, photo, tiny_weights):
    # The photo has nobody in it: reaching the subject's pose would give another error.
    garbage = tmp_path / "sound.m4a"
    garbage.write_bytes(b"not audio at all" * 64)
    out = tmp_path / "out.mp4"
    line = one_line_error(cli("animate", photo, pose_file(tmp_path / "poses.json"), "--audio", garbage,
                              "-o", out, "--weights", tiny_weights, "--quiet"))
    assert "sound.m4a: cannot read audio" in line and not out.exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_output_folder_that_takes_no_files_is_reported_before_any_work(tmp_path, photo, tiny_weights):
    # os.access() says /proc is writable to root; only trying to create a file tells.
    line = one_line_error(cli("animate", photo, pose_file(tmp_path / "poses.json"), "-o", "/proc/out.mp4",
                              "--weights", tiny_weights, "--quiet"))
    assert "/proc: output folder is not writable" in line


# ----------------------------------------------------------------------------- rtmlib offline

def test_rtmlib_without_model_files_or_network_is_one_line(shared, tmp_path, monkeypatch):
    """No local model files and no way to download them: one line saying the model could
    not be fetched and how to give a local file, not the urllib traceback."""
    from conftest import make_clip
    from vunet_video.pose import rtmlib_backend

    clip = make_clip(shared / "data" / "dev" / "driving" / "unianimate_source_video.mp4", tmp_path / "clip.mp4", 2,
                     96, audio=False)
    for var in (rtmlib_backend.POSE_MODEL_ENV, rtmlib_backend.DET_MODEL_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_cache"))  # nothing cached
    # Port 9 of this machine (discard) refuses at once: the same path as no network, fast.
    monkeypatch.setattr(rtmlib_backend, "default_model_urls",
                        lambda: ("http://127.0.0.1:9/rtmpose-m_body7.zip", "http://127.0.0.1:9/yolox_m_humanart.zip"))
    out = tmp_path / "poses.json"
    line = one_line_error(cli("pose", clip, "-o", out, "--backend", "rtmlib"))
    assert "yolox_m_humanart.zip" in line and "could not fetch the model" in line
    assert "VUNET_DET_MODEL" in line and str(tmp_path / "empty_cache") in line
    assert not out.exists()
    # A local file that is no ONNX model: one line naming it.
    fake = tmp_path / "det.onnx"
    fake.write_bytes(b"not a model")
    monkeypatch.setenv(rtmlib_backend.DET_MODEL_ENV, str(fake))
    line = one_line_error(cli("pose", clip, "-o", out, "--backend", "rtmlib"))
    assert f"{fake}: cannot load the model" in line and not out.exists()


# ----------------------------------------------------------------------------- weights

@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_are_one_line_naming_the_file(tmp_path, photo, value):
    import torch

    from vunet_video.model.io import load_model, save_weights
    from vunet_video.model.vunet import VUNet, VUNetConfig

    model = VUNet(VUNetConfig(image_size=64, base_channels=8, max_channels=32))
    name, param = next(iter(model.named_parameters()))
    with torch.no_grad():
        param.view(-1)[0] = value
    path = tmp_path / "diverged.safetensors"
    save_weights(model, path)
    with pytest.raises(VunetError, match=f"{name} has 1 NaN/Inf") as e:
        load_model(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)
    # All-NaN weights, through the CLI: exit 1, one line, no output.
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    save_weights(model, path)
    out = tmp_path / "out.mp4"
    line = one_line_error(cli("animate", photo, pose_file(tmp_path / "poses.json"), "-o", out, "--weights", path,
                              "--quiet"))
    assert str(path) in line and "non-finite" in line and not out.exists()


# ----------------------------------------------------------------------------- damaged videos

def damaged_clip(shared: Path, dst: Path, keep_packets: int) -> Path:
    """A real 12-frame H.264 clip (index first, 'faststart'), whose frame data after the
    first `keep_packets` packets is replaced with random bytes: it opens, its index is
    whole, and little or nothing of it decodes."""
    import av

    whole = dst.with_name("whole_" + dst.name)
    with av.open(str(shared / "data" / "dev" / "driving" / "unianimate_source_video.mp4")) as inp, \
            av.open(str(whole), "w", options={"movflags": "faststart"}) as out:
        vo = out.add_stream("libx264", rate=16)
        vo.width, vo.height, vo.pix_fmt = 96, 154, "yuv420p"
        for n, frame in enumerate(inp.decode(video=0)):
            if n == 12:
                break
            small = frame.reformat(width=96, height=154, format="yuv420p")
            small.pts = n
            out.mux(vo.encode(small))
        out.mux(vo.encode(None))
    with av.open(str(whole)) as c:
        packets = [p for p in c.demux(video=0) if p.size]
    cut = packets[keep_packets - 1].pos + packets[keep_packets - 1].size if keep_packets else packets[0].pos
    data = whole.read_bytes()
    dst.write_bytes(data[:cut] + np.random.default_rng(1).bytes(len(data) - cut))
    whole.unlink()
    return dst


@pytest.mark.parametrize("keep", [0, 1])
def test_video_that_decodes_to_nothing_is_damaged_not_empty_of_people(shared, tmp_path, tiny_weights, keep):
    """keep=0: no packet decodes (found by probing); keep=1: the first packet alone decodes
    when probed, but not in the threaded decode of the run. Either way the clip is reported
    as damaged, not as a clip with nobody in it."""
    from vunet_video.pose.driving import DrivingSource
    from vunet_video.presets import load_settings

    clip = damaged_clip(shared, tmp_path / "damaged.mp4", keep)
    subject = shared / "data" / "dev" / "subjects" / "deepfashion_women_blouse_00004955.jpg"
    out = tmp_path / "out.mp4"
    line = one_line_error(cli("animate", subject, clip, "-o", out, "--weights", tiny_weights, "--finetune-steps", 0,
                              "--quiet"))
    assert str(clip) in line and "no frame could be decoded" in line and "person" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.mp4"]
    class Nobody:
        name = "nobody"

        def __call__(self, image):
            return []

    settings = load_settings("default")
    with pytest.raises(VunetError, match="no frame could be decoded"):
        list(DrivingSource(clip, settings.pose, settings.smoothing, estimator=Nobody()))


# ----------------------------------------------------------------------------- overflowing numbers

@pytest.mark.parametrize("content, problem", [
    (project([frame(keypoints=[[1e308, 20.0]] * NUM_JOINTS)]), r"keypoints\[0\] = \[1e\+308, 20.0\]"),
    (project([frame(keypoints=[[10.0, -1e39]] * NUM_JOINTS)]), r"keypoints\[0\]"),
    (project([frame(scores=[1e308] * NUM_JOINTS)]), r"scores\[0\] = 1e\+308"),
    (project([frame()], fps=1e308), "'fps' is 1e\\+308"),
    (project([frame()], width=1e308), "'width' is 1e\\+308"),
    (project([frame(index=10**30)]), "index = 1000000000000000000000000000000"),
    (project([frame(time=1e308)]), "time = 1e\\+308"),
    ('{"people": [{"pose_keypoints_2d": [1e308, 2, 0.5]}]}', "holds 1e\\+308"),
])
def test_overflowing_numbers_in_pose_files_are_refused_without_warnings(tmp_path, content, problem):
    """Numbers that are finite in JSON but overflow float32 (1e308): one line naming the
    file and the field, and no RuntimeWarning on the way (warnings are errors here)."""
    bad = tmp_path / "big.json"
    bad.write_text(content)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(VunetError, match=problem) as e:
            read_pose_json(bad)
    assert str(bad) in str(e.value) and "\n" not in str(e.value)


# ----------------------------------------------------------------------------- video limits

def test_video_frame_size_and_duration_limits(shared, tmp_path, monkeypatch):
    """Checked from the header before a frame is decoded; raised by the environment
    variables or the keywords (0: none). The duration is that of the selected range."""
    from conftest import make_clip
    from vunet_video.video import VideoReader, probe
    from vunet_video.video.reader import MAX_VIDEO_PIXELS_ENV, MAX_VIDEO_SECONDS_ENV

    clip = make_clip(shared / "data" / "dev" / "driving" / "unianimate_source_video.mp4", tmp_path / "clip.mp4", 16,
                     96, audio=False)  # 96x154, 16 frames at 16 fps: 1 s
    assert probe(clip).frame_count == 16  # under the defaults
    with pytest.raises(VunetError, match=r"96x154 .* over the limit of 0.01 megapixels; set VUNET_MAX_VIDEO_PIXELS"):
        VideoReader(clip, max_pixels=10_000)
    monkeypatch.setenv(MAX_VIDEO_PIXELS_ENV, "10000")
    with pytest.raises(VunetError, match="VUNET_MAX_VIDEO_PIXELS") as e:
        probe(clip)
    assert str(clip) in str(e.value)
    assert len(VideoReader(clip, max_pixels=0)) == 16  # the keyword wins; 0: no limit
    monkeypatch.setenv(MAX_VIDEO_PIXELS_ENV, "0")
    monkeypatch.setenv(MAX_VIDEO_SECONDS_ENV, "0.5")
    with pytest.raises(VunetError, match=r"1 s long, over the limit of 0.5 s; set VUNET_MAX_VIDEO_SECONDS"):
        VideoReader(clip)
    assert sum(1 for _ in VideoReader(clip, end=0.25)) == 4  # a range within the limit is fine
    monkeypatch.setenv(MAX_VIDEO_SECONDS_ENV, "soon")
    with pytest.raises(VunetError, match="give a number"):
        probe(clip)
    # Through the CLI: one line, before any work.
    monkeypatch.setenv(MAX_VIDEO_SECONDS_ENV, "")
    monkeypatch.setenv(MAX_VIDEO_PIXELS_ENV, "10000")
    out = tmp_path / "poses.json"
    line = one_line_error(cli("pose", clip, "-o", out))
    assert "over the limit" in line and not out.exists()
