"""The animate product end to end: real photos, real clips, real pose model, real codecs.

The VUNet is a tiny randomly initialised one (64 px, saved with save_weights) so the tests
neither wait for nor depend on training: what is checked is everything around the model
(frame counts, timing, sound, exports, backgrounds, retargeting input, errors). Driving
clips are the first frames of the dev dance video, downscaled with PyAV.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from vunet_video import Animator, VunetError
from vunet_video.pose import read_pose_json, write_pose_json
from vunet_video.pose.keypoints import Pose
from vunet_video.render.compose import Compositor, FlickerMeter, TemporalFilter
from vunet_video.render.plate import SHADOW_REACH, person_hole
from vunet_video.render.framing import Box
from vunet_video.model.stickman import draw_stickman
from vunet_video.video import probe, read_image

from conftest import cli, make_clip, one_line_error

REPO = Path(__file__).resolve().parents[1]
FRAMES = 12  # frames in the main test clip (24 fps: 0.5 s)


# ----------------------------------------------------------------------------- fixtures

def make_empty_clip(dst: Path, frames: int = 4) -> Path:
    """A clip of a plain wall: nobody in it."""
    with av.open(str(dst), "w") as out:
        vo = out.add_stream("libx264", rate=24)
        vo.width, vo.height, vo.pix_fmt = 144, 256, "yuv420p"
        rng = np.random.default_rng(0)
        for n in range(frames):
            img = np.clip(rng.normal(150, 4, (256, 144, 3)), 0, 255).astype(np.uint8)
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = n
            out.mux(vo.encode(f))
        out.mux(vo.encode(None))
    return dst


@pytest.fixture(scope="session")
def media(shared, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("clips")
    dance = shared / "data" / "dev" / "driving" / "musepose_dance.mp4"
    subjects = shared / "data" / "dev" / "subjects"
    return {
        "clip": make_clip(dance, folder / "dance.mp4", FRAMES, 144),
        "short": make_clip(dance, folder / "short.mp4", 6, 144),
        "long": make_clip(dance, folder / "long.mp4", 72, 144, audio=False),
        "silent": make_clip(dance, folder / "silent.mp4", 6, 144, audio=False),
        "empty": make_empty_clip(folder / "empty.mp4"),
        "subject": subjects / "deepfashion_women_blouse_00004955.jpg",
        "street": subjects / "ultralytics_bus.jpg",
    }


@pytest.fixture(scope="module")
def animator(tiny_weights) -> Animator:
    return Animator(tiny_weights, size=192)


@pytest.fixture(scope="module")
def encoded(animator, media):
    return animator.encode_subject(media["subject"])


def audio_span(path: Path) -> tuple[float, float]:
    """(start, end) in seconds of the audio stream's packets."""
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        spans = [(float(p.pts * s.time_base), float((p.pts + p.duration) * s.time_base))
                 for p in c.demux(s) if p.pts is not None and p.duration]
    return min(a for a, _ in spans), max(b for _, b in spans)


def assert_sound_covers(path: Path, duration: float) -> None:
    """The sound runs from the first frame to the last one's end, give or take one AAC
    packet (1024 samples, 23 ms at 44.1 kHz; packet times include the encoder's priming)."""
    start, end = audio_span(path)
    assert 0.0 <= start < 0.024
    assert abs(end - duration) < 0.024


# ----------------------------------------------------------------------------- end to end

def test_cli_animate_matches_the_driving_clip(media, tiny_weights, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default output name lands here
    result = cli("animate", media["subject"], media["clip"], "--weights", tiny_weights, "--size", 160, "--quiet")
    assert result.exit_code == 0, result.output
    out = tmp_path / f"{media['subject'].stem}_dance.mp4"
    src, got = probe(media["clip"]), probe(out)
    assert got.frame_count == src.frame_count == FRAMES
    assert got.rate == src.rate == Fraction(24)
    assert got.duration == pytest.approx(src.duration, abs=1e-3)
    assert got.has_audio
    # The sound is the clip's, cut where the video ends (within one AAC packet, 21 ms).
    assert_sound_covers(out, FRAMES / 24)
    assert max(got.width, got.height) == 160
    assert f"{FRAMES} frames" in result.stdout
    assert not list(tmp_path.glob(".*partial*"))


def test_compare_writes_driving_skeleton_and_result_side_by_side(media, tiny_weights, tmp_path, encoded):
    base = ["--weights", tiny_weights, "--size", 160, "--finetune-steps", 0, "--quiet"]
    out = tmp_path / "out.mp4"
    result = cli("animate", media["subject"], media["clip"], "-o", out, "--compare", "side", *base)
    assert result.exit_code == 0, result.output
    side = tmp_path / "out_compare.mp4"
    assert f"comparison (side): {side}" in result.stdout
    got, src, res = probe(side), probe(media["clip"]), probe(out)
    assert got.frame_count == res.frame_count == FRAMES and got.rate == src.rate and got.has_audio
    assert_sound_covers(side, FRAMES / 24)
    # driving | skeleton | result, one height (the output's, 160 here); each panel keeps its shape
    driving_w = round(src.width * got.height / src.height / 2) * 2
    result_w = got.width - 2 * driving_w
    assert got.height == res.height and abs(result_w - res.width) <= 2  # (rounded to even widths)
    with av.open(str(side)) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    with av.open(str(out)) as c:
        rendered = cv2.resize(next(c.decode(video=0)).to_ndarray(format="rgb24"), (result_w, got.height)).astype(int)
    assert np.abs(frame[:, -result_w:] - rendered).mean() < 6  # the right panel is the result
    assert frame[:, driving_w:2 * driving_w].mean() < frame[:, :driving_w].mean()  # the dimmed skeleton panel
    # grid: two rows
    result = cli("animate", media["subject"], media["clip"], "-o", tmp_path / "g.mp4", "--compare", "grid", *base)
    assert result.exit_code == 0, result.output
    grid = probe(tmp_path / "g_compare.mp4")
    assert grid.frame_count == FRAMES and grid.height == 2 * min(res.height, 360)  # two rows of panels
    # Refused before any work: an existing comparison, a pose file (no frames to show), keypoints, batch.
    (tmp_path / "new_compare.mp4").write_bytes(b"x")
    assert "already exists" in one_line_error(
        cli("animate", media["subject"], media["clip"], "-o", tmp_path / "new.mp4", "--compare", "side", *base))
    assert not (tmp_path / "new.mp4").exists() and (tmp_path / "new_compare.mp4").read_bytes() == b"x"
    pose_file = _pose_file(tiny_weights, encoded, media, tmp_path)
    assert "needs a driving video" in one_line_error(
        cli("animate", media["subject"], pose_file, "-o", tmp_path / "p.mp4", "--compare", "side", *base))
    assert "needs an export that renders frames" in one_line_error(
        cli("animate", media["subject"], media["clip"], "-o", tmp_path / "k.json", "--compare", "side",
            "--export", "keypoints", *base))
    assert "compare" in one_line_error(cli("animate", media["subject"], media["clip"], "--compare", "both", *base))
    from vunet_video.batch import check_run

    with pytest.raises(VunetError, match="batch writes no comparisons or timelines"):
        check_run(tiny_weights, overrides={"output.compare": "side"})


def test_timeline_places_the_render_and_the_driving_sound_frame_accurately(media, tiny_weights, tmp_path):
    import opentimelineio as otio
    from urllib.parse import unquote, urlparse

    def local(url: str) -> Path:
        return Path(unquote(urlparse(url).path))

    base = ["--weights", tiny_weights, "--size", 128, "--finetune-steps", 0, "--quiet", "--start", 0.25]
    # ProRes 4444 with alpha (the editor preset) and a PNG sequence
    mov, pngs = tmp_path / "person.mov", tmp_path / "frames"
    for args in (("-o", mov, "--preset", "editor"), ("-o", pngs, "--export", "png", "--background", "alpha")):
        result = cli("animate", media["subject"], media["clip"], *args, "--timeline", *base)
        assert result.exit_code == 0, result.output
    src = probe(media["clip"])
    start = round(0.25 * 24)  # frames of the driving clip before the first rendered one
    for otio_file, frames in ((tmp_path / "person.otio", probe(mov).frame_count),
                              (tmp_path / "frames.otio", len(list(pngs.glob("*.png"))))):
        assert frames == FRAMES - start
        timeline = otio.adapters.read_from_file(str(otio_file))
        video, audio = timeline.tracks
        assert (video.kind, audio.kind) == (otio.schema.TrackKind.Video, otio.schema.TrackKind.Audio)
        (clip,), (sound,) = list(video), list(audio)
        assert clip.source_range.duration == otio.opentime.RationalTime(frames, 24)
        assert clip.source_range.start_time.value == 0 and clip.duration().rate == float(src.rate)
        ref = clip.media_reference
        if isinstance(ref, otio.schema.ImageSequenceReference):
            assert ref.number_of_images_in_sequence() == frames
            first = local(ref.target_url_for_image_number(0))
            assert first.is_file() and first.parent == pngs.resolve()
        else:
            assert local(ref.target_url) == mov.resolve()
        # The sound: the driving clip's own, cut at the first rendered frame, as long as the render
        assert local(sound.media_reference.target_url) == media["clip"].resolve()
        assert sound.source_range.start_time == otio.opentime.RationalTime(start, 24)
        assert sound.source_range.duration == clip.source_range.duration
    (tmp_path / "again.otio").write_text("x")
    assert "again.otio" in one_line_error(cli("animate", media["subject"], media["clip"], "-o",
                                              tmp_path / "again.mov", "--preset", "editor", "--timeline", *base))
    assert not (tmp_path / "again.mov").exists() and (tmp_path / "again.otio").read_text() == "x"


def test_start_end_range_and_on_frame(animator, encoded, media, tmp_path):
    seen = []
    out = tmp_path / "range.mp4"
    result = animator.animate(encoded, media["clip"], out, start=0.125, end=0.3,
                              on_frame=lambda i, t, rgba: seen.append((i, t, rgba.shape, rgba.dtype)))
    # Frames at 3/24 ... 7/24 s: start <= t < end.
    assert [s[0] for s in seen] == [3, 4, 5, 6, 7]
    np.testing.assert_allclose([s[1] for s in seen], np.arange(3, 8) / 24, atol=1e-6)
    w, h = encoded.frame_size
    assert all(s[2] == (h, w, 4) and s[3] == np.uint8 for s in seen)
    info = probe(out)
    assert (info.frame_count, result.frames) == (5, 5)
    assert info.duration == pytest.approx(5 / 24, abs=1e-3)
    assert info.has_audio and result.audio
    assert_sound_covers(out, 5 / 24)


def test_subject_is_fine_tuned_once_and_renders_with_its_own_copy(animator, encoded, media, tiny_weights, tmp_path):
    # With finetune_steps a copy of the model is tuned on the photo; the shared model stays as
    # loaded. The default preset tunes nothing since 0.3.24 (finetune_budget_at_0.3.23.md).
    assert animator.settings.model.finetune_steps == 0
    plain = encoded
    assert plain.synth is animator.synth
    tuner = Animator(tiny_weights, size=192, finetune_steps=25)
    encoded = tuner.encode_subject(media["subject"])
    assert encoded.synth is not None and encoded.synth.model is not tuner.synth.model
    k = "decoder.out.weight"
    assert not torch.equal(encoded.synth.model.state_dict()[k], tuner.synth.model.state_dict()[k])
    exporter = Animator(tiny_weights, size=192, export="keypoints", finetune_steps=25)  # renders nothing: no tune
    assert exporter.encode_subject(media["subject"]).synth is exporter.synth
    # The tuned copy is what renders: its frames differ from the untuned model's (by less
    # than the model's share of the picture: with render.detail "photo" most of the person
    # is the photo's own moved pixels, the same for both; 0.05 measured since 0.3.19 keeps the
    # model's matte off the mesh closer to the limbs, 0.1+ before; 0.007 since 0.3.21's join
    # takes a moved limb's covered edge from the photo too. The same model would give 0).
    frames = {}
    for name, subject in (("tuned", encoded), ("plain", plain)):
        got = []
        animator.animate(subject, media["short"], tmp_path / f"{name}.mp4", end=0.1,
                         on_frame=lambda i, t, rgba: got.append(rgba.astype(np.int16)))
        frames[name] = got
    assert np.abs(frames["tuned"][0] - frames["plain"][0]).mean() > 0.002


def test_keypoints_export_and_pose_json_driving(tiny_weights, encoded, media, tmp_path):
    keypoints = tmp_path / "poses.json"
    exporter = Animator(tiny_weights, size=192, export="keypoints")
    result = exporter.animate(encoded, media["clip"], keypoints)
    header, frames = read_pose_json(keypoints)
    frames = list(frames)
    assert result.frames == header["frame_count"] == len(frames) == FRAMES
    assert [f[0] for f in frames] == list(range(FRAMES))
    np.testing.assert_allclose([f[1] for f in frames], np.arange(FRAMES) / 24, atol=1e-6)
    assert (header["width"], header["height"]) == encoded.frame_size
    assert header["fps"] == 24.0
    # The retargeted poses have the subject's torso length, not the dancer's.
    from vunet_video.render.retarget import EDGES, HIPS, NECK, bone_lengths, extended
    torso = EDGES.index((HIPS, NECK))
    subject_torso = bone_lengths(extended(encoded.pose))[torso]
    assert bone_lengths(extended(frames[0][2]))[torso] == pytest.approx(subject_torso, rel=0.25)

    # The pose file drives a render: same frames and rate; sound only when asked for.
    video = tmp_path / "from_json.mp4"
    animator = Animator(tiny_weights, size=192)
    result = animator.animate(encoded, keypoints, video)
    info = probe(video)
    assert (info.frame_count, info.rate, info.has_audio) == (FRAMES, Fraction(24), False)
    with_sound = animator.animate(encoded, keypoints, tmp_path / "with_sound.mp4", audio=media["clip"])
    assert with_sound.audio and probe(tmp_path / "with_sound.mp4").has_audio

    # OpenPose output (a folder of BODY_25 files, no frame rate in them) drives it too.
    from vunet_video.pose.io import OPENPOSE_BODY25_TO_COCO
    openpose = tmp_path / "openpose"
    openpose.mkdir()
    for i, (_, _, pose) in enumerate(frames[:3]):
        body25 = np.zeros((25, 3))
        seen = pose.visible()
        body25[OPENPOSE_BODY25_TO_COCO[seen], :2] = pose.xy[seen]
        body25[OPENPOSE_BODY25_TO_COCO[seen], 2] = pose.score[seen]
        (openpose / f"clip_{i:012d}_keypoints.json").write_text(
            json.dumps({"people": [{"pose_keypoints_2d": body25.ravel().tolist()}]}))
    result = animator.animate(encoded, openpose, tmp_path / "openpose.mp4", fps=12)
    info = probe(tmp_path / "openpose.mp4")
    assert (result.frames, info.frame_count, info.rate) == (3, 3, Fraction(12))


def test_a_dancer_crossing_a_wide_frame_keeps_the_subject_in_the_canvas(tiny_weights, encoded, shared, tmp_path):
    """The rooftop dancer travels a quarter of their 1280 px frame between 1.5 s and 4 s; the
    subject, framed tightly by the photo, walked off the canvas with it. retarget.keep_in_frame
    (the default) keeps both shoulders in, in every frame."""
    rooftop = shared / "data" / "dev" / "driving" / "kaiakol_dance_rooftop.mp4"
    w, _ = encoded.frame_size
    shoulders = [5, 6]

    def outside(keep: bool) -> int:
        out = tmp_path / f"keep_{keep}.json"
        Animator(tiny_weights, size=192, export="keypoints", **{"retarget.keep_in_frame": keep}).animate(
            encoded, rooftop, out, start=1.5, end=4.0)
        _, frames = read_pose_json(out)
        xs = np.array([pose.xy[shoulders, 0] for _, _, pose in frames])
        assert len(xs) >= 60 and np.isfinite(xs).all()
        return int(((xs < 0) | (xs >= w)).any(axis=1).sum())

    assert outside(True) == 0
    assert outside(False) >= 5  # what it guards against (7 of these 63 frames when written)


def test_frames_without_a_driving_person_hold_the_last_pose(tiny_weights, encoded, media, tmp_path):
    header, frames = read_pose_json(_pose_file(tiny_weights, encoded, media, tmp_path))
    gappy = tmp_path / "gappy.json"
    write_pose_json(gappy, header, ((i, t, Pose.empty() if i in (4, 5) else p) for i, t, p in frames))
    still = Animator(tiny_weights, size=192, **{"render.temporal": 0.0})
    got = {}
    result = still.animate(encoded, gappy, None, on_frame=lambda i, t, rgba: got.__setitem__(i, rgba))
    assert result.frames == FRAMES and result.held_frames == 2
    np.testing.assert_array_equal(got[4], got[3])
    np.testing.assert_array_equal(got[5], got[3])
    assert not np.array_equal(got[6], got[3])


def _pose_file(tiny_weights, encoded, media, tmp_path) -> Path:
    path = tmp_path / "driving.json"
    if not path.exists():
        Animator(tiny_weights, size=192, export="keypoints").animate(encoded, media["clip"], path)
    return path


def test_png_and_prores_exports_are_frame_accurate_with_alpha(tiny_weights, media, tmp_path):
    editor = Animator(tiny_weights, preset="editor", size=240, export="png")
    street = editor.encode_subject(media["street"])  # a small person in a wide photo
    folder = tmp_path / "frames"
    result = editor.animate(street, media["short"], folder)
    pngs = sorted(folder.glob("*.png"))
    assert result.frames == len(pngs) == 6
    first = cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED)
    assert first.shape == (street.frame_size[1], street.frame_size[0], 4)
    assert first[..., 3][0, 0] == 0 and first[..., 3][-1, -1] == 0  # transparent background
    assert (first[..., 3] > 0).mean() > 0.02                      # ... around an opaque person

    mov = tmp_path / "person.mov"
    Animator(tiny_weights, preset="editor", size=240).animate(street, media["short"], mov)
    info = probe(mov)
    assert (info.frame_count, info.rate, info.has_audio) == (6, Fraction(24), True)
    with av.open(str(mov)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "prores"
        decoded = next(c.decode(stream)).to_ndarray(format="rgba")
    # Two separate runs: MediaPipe's XNNPACK threads can move a joint by a fraction of a
    # pixel between them, which shifts a few matte pixels at the crop's edge (seen: 8 of
    # 43,200 by up to 10 levels). ProRes itself must keep the matte within 2 levels.
    diff = np.abs(decoded[..., 3].astype(int) - first[..., 3].astype(int))
    assert (diff > 2).mean() < 1e-3
    assert abs((decoded[..., 3] > 127).mean() - (first[..., 3] > 127).mean()) < 1e-3


def test_cli_option_beats_the_preset(media, tiny_weights, tmp_path):
    # The editor preset says alpha + ProRes; the options make it an opaque H.264 video.
    out = tmp_path / "o.mp4"
    result = cli("animate", media["street"], media["short"], "-o", out, "--preset", "editor", "--export", "video",
                 "--background", "color", "--color", "#00b140", "--weights", tiny_weights, "--size", 128, "-q")
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24")
    np.testing.assert_allclose(frame[2, -3], (0, 177, 64), atol=6)  # a corner shows the colour


def test_silent_driving_video_gives_a_silent_video(media, tiny_weights, tmp_path):
    out = tmp_path / "silent_out.mp4"
    result = cli("animate", media["subject"], media["silent"], "-o", out, "--weights", tiny_weights,
                 "--size", 128, "-q", "--no-smooth", "--no-retarget")
    assert result.exit_code == 0, result.output
    info = probe(out)
    assert (info.frame_count, info.has_audio) == (6, False)


def test_photo_with_several_people_animates_the_main_one_and_says_so(tiny_weights, media, shared):
    # MediaPipe alone sees one person; with a person detector every person is posed.
    detector = shared / "models" / "det" / "yolox_nano_416x416.onnx"
    animator = Animator(tiny_weights, size=240, det_model=str(detector), background="color")
    subject = animator.encode_subject(media["street"])
    assert subject.people >= 2
    assert any(f"{subject.people} people in the photo; animating the most prominent one" in n for n in subject.notes)
    result = animator.animate(subject, media["short"], None)
    assert result.frames == 6 and any("people in the photo" in n for n in result.notes)


# ----------------------------------------------------------------------------- bad inputs

def test_subject_without_a_person_is_a_one_line_error(media, tiny_weights, tmp_path):
    wall = tmp_path / "wall.png"
    cv2.imwrite(str(wall), np.full((300, 200, 3), 180, np.uint8))
    out = tmp_path / "o.mp4"
    line = one_line_error(cli("animate", wall, media["short"], "-o", out, "--weights", tiny_weights, "-q"))
    assert str(wall) in line and "no person" in line
    assert not out.exists()


def test_existing_output_is_not_clobbered(media, tiny_weights, tmp_path):
    out = tmp_path / "o.mp4"
    out.write_bytes(b"keep me")
    line = one_line_error(cli("animate", media["subject"], media["short"], "-o", out, "--weights", tiny_weights, "-q"))
    assert "already exists" in line and "--overwrite" in line
    assert out.read_bytes() == b"keep me"
    result = cli("animate", media["subject"], media["short"], "-o", out, "--weights", tiny_weights, "-q",
                 "--size", 96, "--overwrite")
    assert result.exit_code == 0 and probe(out).frame_count == 6


def test_unwritable_or_missing_output_folder(media, tiny_weights, tmp_path):
    line = one_line_error(cli("animate", media["subject"], media["short"], "-o", tmp_path / "nope" / "o.mp4",
                              "--weights", tiny_weights, "-q"))
    assert "output folder does not exist" in line
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    line = one_line_error(cli("animate", media["subject"], media["short"], "-o", a_file / "o.mp4",
                              "--weights", tiny_weights, "-q"))
    assert "not a folder" in line


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_output_folder(media, tiny_weights, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        line = one_line_error(cli("animate", media["subject"], media["short"], "-o", locked / "o.mp4",
                                  "--weights", tiny_weights, "-q"))
        assert "not writable" in line
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_driving_clip_with_nobody_leaves_nothing(media, tiny_weights, tmp_path):
    out = tmp_path / "o.mp4"
    line = one_line_error(cli("animate", media["subject"], media["empty"], "-o", out, "--weights", tiny_weights, "-q"))
    assert "no person found in any driving frame" in line
    assert list(tmp_path.iterdir()) == []


def test_other_bad_inputs_are_one_line_errors(media, tiny_weights, tmp_path):
    base = ["--weights", tiny_weights, "-q", "-o", tmp_path / "o.mp4"]
    assert "no such file" in one_line_error(cli("animate", media["subject"], tmp_path / "missing.mp4", *base))
    assert "H.264 has no alpha" in one_line_error(cli("animate", media["subject"], media["short"], *base,
                                                      "--background", "alpha"))
    assert "no such checkpoint" in one_line_error(cli("animate", media["subject"], media["short"], "-q",
                                                      "--weights", tmp_path / "none.safetensors"))
    assert "is a still image" in one_line_error(cli("animate", media["subject"], media["subject"], *base))
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- compositing

def test_subject_background_has_no_ghost_of_the_original_person(encoded):
    photo, plate, pose = encoded.image, encoded.plate, encoded.pose
    person = pose.mask > 0.5
    hole = person_hole(pose.mask, pose, encoded.image.shape[:2])
    assert person.mean() > 0.05
    # Outside the painted region the scene is untouched, but for the person's cast shadow on
    # this studio wall (plate.without_cast_shadow): near them only, and only ever lightened ...
    ys, _ = np.nonzero(hole)
    reach = SHADOW_REACH * (ys.max() - ys.min() + 1)
    far = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, 3) > reach + 8
    np.testing.assert_array_equal(plate[far], photo[far])
    assert (plate[~hole].astype(int) >= photo[~hole].astype(int) - 1).all()
    # ... and where the person stood it now looks like the wall around them, not like them.
    ring = cv2.dilate(hole.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool) & ~hole
    wall = photo[ring].astype(float).mean(axis=0)
    before = np.abs(photo[person].astype(float) - wall).mean()
    after = np.abs(plate[person].astype(float) - wall).mean()
    assert before > 40 and after < 0.25 * before


def test_a_subject_in_their_own_pose_keeps_the_real_scene_around_them(tiny_weights, shared, tmp_path):
    """A subject driven by their own pose (a clip driving its own first frame, a dancer who
    barely moves) stands where the photo's person stood: around them the output shows the
    photo's own scene, not the plate's guess (render.plate.PhotoWherePersonStays)."""
    still = Animator(tiny_weights, size=256, **{"retarget.enabled": False, "render.temporal": 0.0})
    subject = still.encode_subject(shared / "data" / "dev" / "subjects" / "ccp_heldout_2093.jpg")
    assert subject.unmoved is not None and subject.unmoved.usable  # a street: nothing lifted
    w, h = subject.frame_size
    own = tmp_path / "own.json"
    write_pose_json(own, {"fps": 10, "width": w, "height": h, "smoothed": True},
                    ((i, i / 10, subject.pose) for i in range(3)))
    hole = person_hole(subject.pose.mask, subject.pose, (h, w))
    ring = hole & (cv2.resize(subject.pose.mask, (w, h)) < 0.05)

    def ring_error() -> float:
        got = []
        still.animate(subject, own, None, on_frame=lambda i, t, rgba: got.append(rgba[..., :3].copy()))
        return float(np.mean([np.abs(f[ring].astype(float) - subject.image[ring]).mean() for f in got]))

    kept = ring_error()
    subject.unmoved = None  # the plate alone, as before
    plate_only = ring_error()
    assert kept < 0.5 * plate_only, (kept, plate_only)


def test_compositor_places_the_crop_through_the_box_and_keeps_alpha():
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[..., 0] = 200
    alpha = np.zeros((64, 64), np.float32)
    alpha[16:48, 16:48] = 1.0  # the crop's middle half
    box = Box(100.0, 50.0, 128.0)  # 2x upscale into a 300 x 400 canvas
    rgba = Compositor((400, 300), "alpha")(rgb, alpha, box)
    assert rgba[..., 3].max() == 255 and rgba[0, 0, 3] == 0
    ys, xs = np.nonzero(rgba[..., 3] > 127)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == pytest.approx((132, 195, 82, 145), abs=1)
    assert (rgba[ys, xs, 0] == 200).all()
    colour = Compositor((400, 300), "color", color="#0000ff")(rgb, alpha, box)
    assert tuple(colour[0, 0, :3]) == (0, 0, 255) and tuple(colour[100, 150, :3]) == (200, 0, 0)
    with pytest.raises(VunetError, match="unknown background"):
        Compositor((10, 10), "beach")
    # Without the matte channel: the same RGB (an H.264 video keeps nothing else).
    rgb_only = Compositor((400, 300), "color", color="#0000ff", matte=False)(rgb, 0.5 * alpha, box)
    half = Compositor((400, 300), "color", color="#0000ff")(rgb, 0.5 * alpha, box)
    assert rgb_only.shape == (300, 400, 3) and np.array_equal(rgb_only, half[..., :3])
    with pytest.raises(ValueError, match="needs matte=True"):
        Compositor((10, 10), "alpha", matte=False)


def test_temporal_filter_reduces_flicker_and_follows_motion(media):
    # A real person crop, re-rendered with frame-to-frame noise (the decoder's shimmer).
    photo = read_image(media["subject"])
    crop = cv2.resize(photo[100:1000, 50:700], (64, 64), interpolation=cv2.INTER_AREA)
    alpha = np.zeros((64, 64), np.float32)
    alpha[8:60, 16:48] = 1.0
    rng = np.random.default_rng(1)
    box = Box(0.0, 0.0, 64.0)
    comp = Compositor((64, 64), "color", color="black")
    figures = {}
    for strength in (0.0, 0.5):
        filt, meter = TemporalFilter(strength), FlickerMeter()
        for _ in range(12):
            noisy = np.clip(crop + rng.normal(0, 6, crop.shape), 0, 255).astype(np.uint8)
            meter.update(comp(*filt(noisy, alpha, box), box))
        figures[strength] = meter.summary()
    assert figures[0.5]["person_mad"] < 0.7 * figures[0.0]["person_mad"]
    # A large change (the person moved) passes straight through: no trail.
    filt = TemporalFilter(0.5)
    filt(crop, alpha, box)
    moved = np.roll(crop, 20, axis=1)
    out_rgb, out_alpha = filt(moved, np.roll(alpha, 20, axis=1), box)
    assert out_alpha[30, 10] == 0.0 and out_alpha[30, 40] == 1.0


def test_temporal_filter_follows_the_moving_box(media):
    """The previous crop is warped into the current box before blending: a still scene
    seen through a moving, rescaling box comes out as the current crop, not a double image."""
    from vunet_video.render.framing import crop
    photo = read_image(media["subject"])
    alpha = np.ones((64, 64), np.float32)
    first, second = Box(100.0, 50.0, 600.0), Box(160.0, 110.0, 520.0)
    crop1, crop2 = crop(photo, first, 64), crop(photo, second, 64)
    filt = TemporalFilter(0.5, threshold=1.0)  # threshold 1: every pixel blended half and half
    filt(crop1, alpha, first)
    out, _ = filt(crop2, alpha, second)
    inner = (slice(4, 60), slice(4, 60))
    warped_error = np.abs(out[inner].astype(float) - crop2[inner]).mean()
    unwarped_error = np.abs((crop1[inner].astype(float) + crop2[inner]) / 2 - crop2[inner]).mean()
    assert warped_error < 4 and unwarped_error > 3 * warped_error


# ----------------------------------------------------------------------------- single images

def test_render_transfer_and_sample_commands(media, tiny_weights, tmp_path, encoded):
    json_pose = _pose_file(tiny_weights, encoded, media, tmp_path)
    base = ["--weights", tiny_weights]
    photo_shape = cv2.imread(str(media["subject"])).shape
    # At the photo's resolution, in its scene (detail "photo", the default) ...
    out = tmp_path / "render.png"
    assert cli("render", media["subject"], json_pose, "-o", out, "--frame", 3, *base).exit_code == 0
    assert cv2.imread(str(out)).shape == photo_shape
    # ... or the model's crop.
    out1 = tmp_path / "render_crop.png"
    assert cli("render", media["subject"], json_pose, "-o", out1, "--frame", 3, "--detail", "model",
               *base).exit_code == 0
    assert cv2.imread(str(out1)).shape == (64, 64, 3)
    assert "detail 'crisp' is not one of photo, model" in one_line_error(
        cli("render", media["subject"], json_pose, "-o", tmp_path / "x.png", "--detail", "crisp", *base))
    # A stickman image in the model's convention is used as the shape input itself.
    stick = tmp_path / "stick.png"
    cv2.imwrite(str(stick), cv2.cvtColor(draw_stickman(encoded.pose, encoded.image.shape[:2]), cv2.COLOR_RGB2BGR))
    out2 = tmp_path / "render2.png"
    assert cli("render", media["subject"], stick, "-o", out2, *base).exit_code == 0
    assert cv2.imread(str(out2)).shape == (64, 64, 3)
    out3 = tmp_path / "transfer.png"
    assert cli("transfer", media["subject"], media["street"], "-o", out3, *base).exit_code == 0
    street = cv2.imread(str(media["street"]))
    f = min(1.0, 1280 / max(street.shape[:2]))
    assert cv2.imread(str(out3)).shape == (round(street.shape[0] * f), round(street.shape[1] * f), 3)
    grid = tmp_path / "grid.png"
    assert cli("sample", json_pose, "-n", 3, "-o", grid, *base).exit_code == 0
    assert cv2.imread(str(grid)).shape == (64, 64 * 4, 3)
    # Existing outputs are kept.
    assert "already exists" in one_line_error(cli("sample", json_pose, "-n", 2, "-o", grid, *base))
    # The fine-tune shows its progress (a tune not in the cache: its own step count), except with --quiet.
    shown = cli("transfer", media["subject"], media["street"], "-o", tmp_path / "t3.png", "--finetune-steps", 3,
                *base)
    assert shown.exit_code == 0 and "fine-tune on subject" in shown.stderr and "/3 " in shown.stderr
    quiet = cli("render", media["subject"], json_pose, "-o", tmp_path / "r4.png", "--finetune-steps", 4, "--quiet",
                *base)
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_editor_sample_script(media, tiny_weights, tmp_path):
    out = tmp_path / "editor_frames"
    run = subprocess.run([sys.executable, str(REPO / "samples" / "editor_export.py"), str(media["subject"]),
                          str(media["short"]), str(out), "--weights", str(tiny_weights)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(list(out.glob("*.jpg"))) == 6
    lines = (out / "times.csv").read_text().splitlines()
    assert lines[0] == "index,time" and len(lines) == 7
    assert json.dumps(lines[1].split(",")[0]) == '"0"'


def test_public_api_is_lazy_and_complete():
    code = ("import sys, vunet_video; assert 'torch' not in sys.modules and 'cv2' not in sys.modules; "
            "names = ['Animator', 'load_model', 'Synthesizer', 'render_in_pose', 'transfer_appearance', "
            "'sample_appearances', 'VunetError', 'Pose']; "
            "assert all(callable(getattr(vunet_video, n)) for n in names); assert set(names) <= set(dir(vunet_video))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    with pytest.raises(AttributeError):
        import vunet_video
        vunet_video.NoSuchThing
