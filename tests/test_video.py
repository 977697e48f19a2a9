"""Video in and out, with real codecs on small clips made here with PyAV.

Synthetic clips are 64x48 at 12 fps: a red 4x4 marker in the stored picture's top-left
corner (to see where rotation puts it) and a green 8x8 square that moves 4 px right per
frame (so frames differ and their order shows). Dev driving clips from ../shared are read
for their first frames only.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from vunet_video.errors import VunetError
from vunet_video.video import (
    PngSequenceWriter,
    ProResWriter,
    VideoReader,
    VideoWriter,
    exact_rate,
    probe,
    read_image,
)

W, H, FPS, N = 64, 48, 12, 12
AUDIO_RATE = 44100
BEEP_AT = 1.0  # seconds: the synthetic sound is silent before, a 440 Hz tone after


def frame_image(i: int, w: int = W, h: int = H) -> np.ndarray:
    img = np.full((h, w, 3), 40, np.uint8)
    img[:4, :4] = (255, 0, 0)
    img[20:28, 4 * i : 4 * i + 8] = (0, 255, 0)
    return img


def beep(seconds: float, rate: int = AUDIO_RATE) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (0.5 * np.sin(2 * np.pi * 440 * t) * (t >= BEEP_AT)).astype(np.float32)


def make_clip(
    path: Path,
    n: int = N,
    fps: int = FPS,
    size: tuple[int, int] = (W, H),
    audio: str | None = None,
    audio_seconds: float | None = None,
    rotation: int | None = None,
    pts: list[int] | None = None,
    gop: int | None = None,
    noise: bool = False,
    options: dict | None = None,
) -> Path:
    """Encode a test clip. audio: None, "aac" (copyable) or "pcm" (must be transcoded)."""
    w, h = size
    container = av.open(str(path), "w", options=options or {})
    video = container.add_stream("libx264", rate=fps)
    video.width, video.height, video.pix_fmt = w, h, "yuv420p"
    if gop:
        video.codec_context.gop_size = gop
    if rotation is not None:
        video.set_display_rotation(rotation)
    sound = None
    if audio == "aac":
        sound = container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
    elif audio == "pcm":
        sound = container.add_stream("pcm_s16le", rate=AUDIO_RATE, layout="mono")
    rng = np.random.default_rng(0)
    for i in range(n):
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8) if noise else frame_image(i, w, h)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        if pts is not None:
            frame.pts, frame.time_base = pts[i], Fraction(1, fps)
        container.mux(video.encode(frame))
    container.mux(video.encode(None))
    if sound is not None:
        samples = beep(audio_seconds or n / fps)
        if audio == "pcm":
            data, fmt = (samples * 32767).astype(np.int16)[None], "s16"
        else:
            data, fmt = samples[None], "flt"
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
        frame.sample_rate, frame.pts = AUDIO_RATE, 0
        container.mux(sound.encode(frame))
        container.mux(sound.encode(None))
    container.close()
    return path


def red_marker(img: np.ndarray) -> tuple[float, float]:
    """(row, col) centre of the red marker."""
    ys, xs = np.nonzero((img[..., 0] > 150) & (img[..., 1] < 100) & (img[..., 2] < 100))
    assert len(ys), "red marker not found"
    return float(ys.mean()), float(xs.mean())


def green_square_x(img: np.ndarray) -> float:
    ys, xs = np.nonzero((img[..., 1] > 150) & (img[..., 0] < 100))
    return float(xs.mean())


def decoded_audio(path: Path) -> tuple[np.ndarray, int, float]:
    """(mono samples, rate, time of the first sample) of a file's first audio stream."""
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        chunks, start = [], None
        for frame in c.decode(stream):
            if start is None:
                start = float(frame.pts * frame.time_base) if frame.pts is not None else 0.0
            chunks.append(frame.to_ndarray().astype(np.float32).reshape(frame.layout.nb_channels, -1)[0])
        return np.concatenate(chunks), stream.rate, start or 0.0


def onset(samples: np.ndarray, rate: int) -> float:
    """Seconds to the first sample of the tone."""
    loud = np.nonzero(np.abs(samples) > 0.1 * np.abs(samples).max())[0]
    return loud[0] / rate


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    return {
        "plain": make_clip(d / "plain.mp4"),
        "gop4": make_clip(d / "gop4.mp4", gop=4),  # key frames 0, 4, 8: seeks land mid-clip
        "aac": make_clip(d / "aac.mp4", n=24, audio="aac"),
        "pcm": make_clip(d / "pcm.mkv", n=24, audio="pcm"),
        "ts": make_clip(d / "aac.ts", n=24, audio="aac"),  # streams start at 0.14-0.17 s
        "mkv": make_clip(d / "plain.mkv"),
        "vfr": make_clip(d / "vfr.mp4", fps=24, pts=[0, 1, 2, 4, 5, 8, 9, 10, 14, 15, 16, 20]),
    }


# --------------------------------------------------------------------------- reading


def test_probe_reports_what_was_encoded(clips):
    info = probe(clips["plain"])
    assert (info.width, info.height, info.frame_count, info.rotation) == (W, H, N, 0)
    assert info.rate == Fraction(FPS) and info.fps == FPS
    assert info.duration == pytest.approx(N / FPS)
    assert info.codec == "h264" and not info.has_audio and info.frame_count_exact
    assert probe(clips["aac"]).has_audio


def test_container_without_frame_count_is_counted(clips):
    # Matroska stores no frame count; it is counted from the packets.
    info = probe(clips["mkv"])
    assert info.frame_count == N and info.frame_count_exact


@pytest.mark.parametrize("backend", ["auto", "decord", "pyav"])
def test_frames_come_in_order_with_source_times(clips, backend):
    with VideoReader(clips["plain"], backend=backend) as reader:
        frames = [(f.index, f.time, green_square_x(f.image), f.image.shape) for f in reader]
    assert reader.backend == ("pyav" if backend == "auto" else backend)
    assert [f[0] for f in frames] == list(range(N))
    assert [f[1] for f in frames] == pytest.approx([i / FPS for i in range(N)], abs=1e-4)
    assert [f[2] for f in frames] == pytest.approx([4 * i + 3.5 for i in range(N)], abs=0.6)
    assert all(f[3] == (H, W, 3) for f in frames)


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_start_end_select_a_range_keeping_source_numbers(clips, backend):
    with VideoReader(clips["gop4"], backend=backend, start=0.5, end=0.75) as reader:
        got = [(f.index, green_square_x(f.image)) for f in reader]
    assert [g[0] for g in got] == [6, 7, 8]
    assert [g[1] for g in got] == pytest.approx([27.5, 31.5, 35.5], abs=0.6)
    with VideoReader(clips["plain"], backend=backend, start=0.25, end=0.75) as reader:
        got = [(f.index, round(f.time * FPS), green_square_x(f.image)) for f in reader]
    assert [g[0] for g in got] == [3, 4, 5, 6, 7, 8]
    assert [g[1] for g in got] == [3, 4, 5, 6, 7, 8]
    assert [g[2] for g in got] == pytest.approx([4 * i + 3.5 for i in range(3, 9)], abs=0.6)
    assert len(reader) == 6


def test_start_past_the_end_is_refused(clips):
    with pytest.raises(VunetError, match="plain.mp4.*past the end"):
        VideoReader(clips["plain"], start=5.0)


def test_close_stops_a_pass_early(clips):
    reader = VideoReader(clips["plain"])
    frames = iter(reader)
    assert [next(frames).index, next(frames).index] == [0, 1]
    reader.close()
    assert next(frames, None) is None
    assert len(list(reader)) == N  # a new pass starts from the beginning


def assert_backends_agree(path: Path, count: int) -> None:
    with VideoReader(path, backend="decord") as a, VideoReader(path, backend="pyav") as b:
        pairs = list(zip(range(count), a, b))
    assert len(pairs) == count
    for _, fa, fb in pairs:
        assert (fa.index, fa.time) == (fb.index, pytest.approx(fb.time, abs=1e-4))
        diff = np.abs(fa.image.astype(np.int16) - fb.image)
        assert diff.mean() < 1.0 and diff.max() <= 8, (path.name, fa.index)


def test_decord_and_pyav_decode_the_same_frames(clips):
    assert_backends_agree(clips["plain"], N)


def test_decord_and_pyav_agree_on_a_dev_clip(shared):
    assert_backends_agree(shared / "data/dev/driving/unianimate_source_video.mp4", 8)


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_rotated_clip_reads_upright(tmp_path, degrees):
    path = make_clip(tmp_path / f"rot{degrees}.mp4", n=4, rotation=degrees)
    info = probe(path)
    assert info.rotation == degrees
    assert (info.width, info.height) == ((H, W) if degrees in (90, 270) else (W, H))
    with VideoReader(path) as reader:
        assert reader.backend == "pyav"  # decord ignores the display matrix
        first = next(iter(reader)).image
    assert first.shape == (info.height, info.width, 3)
    # The display matrix turns the stored picture counter-clockwise: the stored top-left
    # marker ends up bottom-left (90), bottom-right (180), top-right (270).
    expected = {90: (info.height - 2.5, 1.5), 180: (info.height - 2.5, info.width - 2.5), 270: (1.5, info.width - 2.5)}
    assert red_marker(first) == pytest.approx(expected[degrees], abs=0.6)
    # OpenCV applies the same metadata with its own code: the pictures must agree.
    cap = cv2.VideoCapture(str(path))
    ok, bgr = cap.read()
    cap.release()
    assert ok and bgr.shape == first.shape
    assert np.abs(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.int16) - first).mean() < 2
    with pytest.raises(VunetError, match=f"rot{degrees}.mp4.*decord"):
        VideoReader(path, backend="decord")


def test_variable_frame_rate_gives_real_timestamps(clips):
    info = probe(clips["vfr"])
    assert info.variable_fps and info.frame_count == N
    with VideoReader(clips["vfr"]) as reader:
        assert reader.backend == "pyav"
        times = [f.time for f in reader]
    assert times == pytest.approx([p / 24 for p in [0, 1, 2, 4, 5, 8, 9, 10, 14, 15, 16, 20]], abs=1e-4)
    with VideoReader(clips["vfr"], start=0.3) as reader:
        assert [f.index for f in reader] == [5, 6, 7, 8, 9, 10, 11]  # 8/24 s is the first >= 0.3


MEMORY_PROBE = """
import os, sys
from vunet_video.video import VideoReader
def resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
base = peak = resident()
with VideoReader(sys.argv[1], backend=sys.argv[2]) as reader:
    for frame in reader:
        peak = max(peak, resident())
print(frame.index + 1, peak - base)
"""


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc to read resident memory")
@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_reading_holds_one_frame_at_a_time(shared, backend):
    # Resident memory of a fresh process while it reads a whole clip; glibc is told to
    # return freed blocks to the system at once so the figure is what is alive.
    path = shared / "data/dev/driving/unianimate_source_video.mp4"
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    run = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(path), backend], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    frames, growth = map(int, run.stdout.split())
    all_frames = frames * 692 * 1108 * 3  # what keeping every frame would take: 345 MB
    assert frames == 150
    assert growth < all_frames / 2.5, f"{backend}: resident memory grew {growth / 2**20:.0f} MB"


def test_a_frames_pixels_read_late_are_its_own(shared):
    """A frame's RGB is converted when first read (the pose stage skips the frames between
    the ones it poses). Read after later frames were decoded, and after the pass ended, it
    must still be that frame's picture, upright, not a reused decoder buffer."""
    path = shared / "data/dev/driving/musepose_dance.mp4"
    with VideoReader(path, end=1.0) as reader:
        eager = {f.index: f.image.copy() for f in reader}
    with VideoReader(path, end=1.0) as reader:
        kept = list(reader)  # no pixels read during the pass
    assert [f.index for f in kept] == sorted(eager)
    for frame in kept[::5]:
        assert frame.image.shape == (1920, 1080, 3)
        assert np.array_equal(frame.image, eager[frame.index]), frame.index
    assert not np.array_equal(kept[0].image, kept[-1].image)


def test_decoding_without_deblocking_gives_nearly_the_same_frames(shared):
    """deblock=False (the driving clip's frames, which only the pose estimator sees) skips
    H.264's in-loop deblocking: the same frames, numbered and timed alike, whose pixels
    drift from the true ones by about a level (the skipped filter's effect carries to the
    frames predicted from them, until the next key frame)."""
    path = shared / "data/dev/driving/kaiakol_dance_rooftop.mp4"
    with VideoReader(path, end=2.0) as full, VideoReader(path, end=2.0, deblock=False) as fast:
        pairs = list(zip(full, fast))
        assert len(pairs) == 50 and len(list(full)) == len(list(fast))
    diffs = []
    for a, b in pairs:
        assert (a.index, a.time, a.image.shape) == (b.index, b.time, b.image.shape)
        diffs.append(np.abs(a.image.astype(np.int16) - b.image).mean())
    assert max(diffs) < 3.0, max(diffs)  # (measured: 0.84 on average, at most 1.36, over the whole clip)
    assert np.mean(diffs) > 0.05  # the filter was skipped: not the same pictures


def test_dev_portrait_clip_streams_upright(shared):
    path = shared / "data/dev/driving/musepose_dance.mp4"
    info = probe(path)
    assert (info.width, info.height, info.frame_count, info.fps, info.has_audio) == (1080, 1920, 288, 24.0, True)
    with VideoReader(path) as reader:
        frames = []
        for frame in reader:
            frames.append((frame.index, frame.time, frame.image.shape))
            if frame.index == 0:
                cap = cv2.VideoCapture(str(path))  # OpenCV applies any rotation metadata
                ok, bgr = cap.read()
                cap.release()
                assert ok and bgr.shape == frame.image.shape
            if len(frames) == 30:
                break
    assert [f[0] for f in frames] == list(range(30))
    assert all(b[1] > a[1] for a, b in zip(frames, frames[1:]))
    assert all(f[2] == (1920, 1080, 3) for f in frames)


def test_second_dev_clip_streams(shared):
    path = shared / "data/dev/driving/unianimate_source_video.mp4"
    with VideoReader(path, start=2.0) as reader:
        assert reader.info.rate == 16
        frames = [(f.index, f.time, f.image.shape) for f, _ in zip(reader, range(30))]
    assert frames[0][:2] == (32, 2.0)
    assert [f[0] for f in frames] == list(range(32, 62))
    assert all(b[1] > a[1] for a, b in zip(frames, frames[1:]))
    assert all(f[2] == (1108, 692, 3) for f in frames)


# --------------------------------------------------------------------------- bad input


def header_only(path: Path) -> Path:
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=FPS)
    stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
    container.start_encoding()
    container.close()
    return path


def no_video_packets(path: Path) -> Path:
    """A Matroska file with a video track that holds no frames, beside a sound track."""
    container = av.open(str(path), "w")
    video = container.add_stream("libx264", rate=FPS)
    video.width, video.height, video.pix_fmt = W, H, "yuv420p"
    sound = container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
    frame = av.AudioFrame.from_ndarray(beep(0.5)[None], format="flt", layout="mono")
    frame.sample_rate, frame.pts = AUDIO_RATE, 0
    container.mux(sound.encode(frame))
    container.mux(sound.encode(None))
    container.close()
    return path


def test_bad_videos_raise_one_line_errors_naming_the_file(tmp_path, clips):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), np.full((40, 50, 3), 128, np.uint8))
    whole = clips["plain"].read_bytes()
    cut = tmp_path / "cut.mp4"  # index (moov) at the end: cut off with the second half
    cut.write_bytes(whole[: len(whole) // 2])
    stub = tmp_path / "stub.mp4"  # index at the front, but only the first 40 bytes of data
    fast = make_clip(tmp_path / "fast.mp4", n=24, noise=True, options={"movflags": "faststart"})
    data = fast.read_bytes()
    stub.write_bytes(data[: data.index(b"mdat") + 40])
    unknown = tmp_path / "unknown_codec.mp4"  # sample description renamed from avc1 to zzzz
    at = whole.index(b"avc1", whole.index(b"stsd"))
    unknown.write_bytes(whole[:at] + b"zzzz" + whole[at + 4 :])
    cases = {
        tmp_path / "missing.mp4": "no such file",
        unknown: "codec cannot be decoded",
        text: "not a video",
        photo: "still image",
        header_only(tmp_path / "empty.mp4"): "no video stream",
        header_only(tmp_path / "empty.mkv"): "ends before its first frame",
        no_video_packets(tmp_path / "soundonly.mkv"): "the video has no frames",
        cut: "not a video",
        stub: "no frame could be decoded",
        tmp_path: "not a file",
    }
    for path, problem in cases.items():
        for call in (probe, VideoReader):
            with pytest.raises(VunetError) as caught:
                call(path)
            message = str(caught.value)
            assert path.name in message and problem in message and "\n" not in message, message


def test_truncated_video_yields_what_decodes_then_stops(tmp_path):
    full = make_clip(tmp_path / "full.mp4", n=36, noise=True, gop=6, options={"movflags": "faststart"})
    data = full.read_bytes()
    cut = tmp_path / "half.mp4"
    cut.write_bytes(data[: len(data) // 2])
    info = probe(cut)
    assert info.truncated and not info.frame_count_exact and 0 < info.frame_count < 36
    with VideoReader(cut) as reader:
        assert reader.backend == "pyav"
        indices = [f.index for f in reader]
    assert 0 < len(indices) <= info.frame_count
    assert indices == list(range(len(indices)))


def test_read_image_applies_exif_orientation_and_converts_to_rgb(tmp_path):
    img = np.zeros((20, 40, 3), np.uint8)
    img[:4, :4] = (255, 0, 0)
    jpeg = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 100])[1].tobytes()
    # A minimal EXIF block (TIFF 6.0 / EXIF 2.3): big-endian IFD with one entry,
    # Orientation (0x0112, SHORT) = 6, "rotate 90 degrees clockwise to display".
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0) + b"\0\0\0\0"
    app1 = b"Exif\x00\x00" + tiff
    (tmp_path / "turned.jpg").write_bytes(jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:])
    rgb = read_image(tmp_path / "turned.jpg")
    assert rgb.shape == (40, 20, 3) and rgb.dtype == np.uint8
    assert red_marker(rgb) == pytest.approx((1.5, 18.5), abs=1.0)  # top-left -> top-right

    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., 2], rgba[..., 3] = 200, 255  # blue in RGBA order
    cv2.imwrite(str(tmp_path / "alpha.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    cv2.imwrite(str(tmp_path / "grey.png"), np.full((10, 12), 77, np.uint8))
    assert read_image(tmp_path / "alpha.png")[0, 0].tolist() == [0, 0, 200]
    assert read_image(tmp_path / "grey.png")[0, 0].tolist() == [77, 77, 77]

    (tmp_path / "notes.png").write_text("not an image")
    for path, problem in ((tmp_path / "notes.png", "not an image"), (tmp_path / "none.jpg", "no such file")):
        with pytest.raises(VunetError, match=f"{path.name}: .*{problem}"):
            read_image(path)


# --------------------------------------------------------------------------- writing


def test_writer_round_trip(tmp_path):
    out = tmp_path / "out.mp4"
    with VideoWriter(out, FPS) as writer:
        for i in range(N):
            writer.write(frame_image(i))
    assert writer.size == (W, H) and writer.frames_written == N
    info = probe(out)
    assert (info.frame_count, info.rate, info.width, info.height, info.has_audio) == (N, FPS, W, H, False)
    with VideoReader(out) as reader:
        for frame in reader:
            assert frame.time == pytest.approx(frame.index / FPS, abs=1e-4)
            assert np.abs(frame.image.astype(np.int16) - frame_image(frame.index)).mean() < 3
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]  # no partial file left


def test_writer_keeps_an_exact_ntsc_rate(tmp_path):
    rate = Fraction(30000, 1001)
    assert exact_rate(30000 / 1001) == rate and exact_rate(24) == 24 and exact_rate(rate) is rate
    out = tmp_path / "ntsc.mp4"
    with VideoWriter(out, 30000 / 1001) as writer:
        for i in range(N):
            writer.write(frame_image(i))
    info = probe(out)
    assert info.rate == rate and not info.variable_fps
    with VideoReader(out, backend="pyav") as reader:
        assert [f.time for f in reader] == pytest.approx([i * 1001 / 30000 for i in range(N)], abs=1e-4)


def test_odd_size_is_padded_by_repeating_the_edge(tmp_path):
    out = tmp_path / "odd.mp4"
    img = np.zeros((47, 63, 3), np.uint8)
    img[:, :, 0] = np.linspace(0, 255, 63).astype(np.uint8)[None]
    with VideoWriter(out, FPS) as writer:
        for _ in range(3):
            writer.write(img)
    assert writer.size == (64, 48)
    back = next(iter(VideoReader(out))).image
    assert back.shape == (48, 64, 3)
    assert np.abs(back[:47, :63].astype(np.int16) - img).mean() < 3
    assert np.abs(back[:, 63].astype(np.int16) - back[:, 62]).max() <= 6


def test_aac_sound_is_copied_packet_for_packet(tmp_path, clips):
    out = tmp_path / "with_sound.mp4"
    with VideoWriter(out, FPS, audio_from=clips["aac"]) as writer:
        assert writer.has_audio
        for i in range(N * 2):
            writer.write(frame_image(i % N))
    with av.open(str(clips["aac"])) as a, av.open(str(out)) as b:
        src = [bytes(p) for p in a.demux(a.streams.audio[0]) if p.size]
        got = [bytes(p) for p in b.demux(b.streams.audio[0]) if p.size]
        assert b.streams.audio[0].codec_context.name == "aac"
    assert got == src[: len(got)] and len(got) >= len(src) - 2  # copied, not re-encoded
    samples, rate, start = decoded_audio(out)
    assert len(samples) / rate == pytest.approx(2.0, abs=0.05)
    assert start + onset(samples, rate) == pytest.approx(BEEP_AT, abs=0.03)


@pytest.mark.parametrize("source", ["aac", "ts", "pcm"])
@pytest.mark.parametrize("section", [(0.0, None), (0.5, 1.5)])
def test_sound_is_trimmed_to_the_rendered_section_in_sync(tmp_path, clips, source, section):
    # The tone starts 1.0 s into the source: at 1.0 s of output when rendering the whole
    # clip, at 0.5 s when rendering source seconds [0.5, 1.5).
    start, end = section
    seconds = (end or 2.0) - start
    out = tmp_path / f"section_{source}.mp4"
    with VideoWriter(out, FPS, audio_from=clips[source], audio_start=start, audio_end=end) as writer:
        for i in range(round(seconds * FPS)):
            writer.write(frame_image(i % N))
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == "aac"
    samples, rate, first = decoded_audio(out)
    assert first + len(samples) / rate == pytest.approx(seconds, abs=0.05)
    assert first + onset(samples, rate) == pytest.approx(BEEP_AT - start, abs=0.03)


def test_sound_stops_with_the_last_frame(tmp_path, clips):
    out = tmp_path / "short.mp4"
    with VideoWriter(out, FPS, audio_from=clips["pcm"]) as writer:  # 2 s of sound
        for i in range(6):  # 0.5 s of video
            writer.write(frame_image(i))
    samples, rate, start = decoded_audio(out)
    assert start + len(samples) / rate == pytest.approx(0.5, abs=0.05)


def test_silent_source_gives_a_silent_video(tmp_path, clips):
    out = tmp_path / "silent.mp4"
    with VideoWriter(out, FPS, audio_from=clips["plain"]) as writer:
        for i in range(3):
            writer.write(frame_image(i))
    assert not writer.has_audio
    info = probe(out)
    assert not info.has_audio and info.frame_count == 3


def test_output_is_all_or_nothing(tmp_path):
    out = tmp_path / "result.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(out, FPS) as writer:
            for i in range(5):
                writer.write(frame_image(i))
            raise RuntimeError("renderer crashed")
    assert list(tmp_path.iterdir()) == []

    with pytest.raises(VunetError, match="result.mp4: no frames"):
        with VideoWriter(out, FPS):
            pass
    assert list(tmp_path.iterdir()) == []

    out.write_bytes(b"earlier result")
    with pytest.raises(VunetError, match=r"result.mp4: already exists \(use --overwrite"):
        VideoWriter(out, FPS)
    with pytest.raises(RuntimeError):
        with VideoWriter(out, FPS, overwrite=True) as writer:
            writer.write(frame_image(0))
            raise RuntimeError("renderer crashed")
    assert out.read_bytes() == b"earlier result"
    with VideoWriter(out, FPS, overwrite=True) as writer:
        for i in range(4):
            writer.write(frame_image(i))
    assert probe(out).frame_count == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.mp4"]


def test_unusable_output_paths_are_refused(tmp_path):
    with pytest.raises(VunetError, match="nowhere.*output folder does not exist"):
        VideoWriter(tmp_path / "nowhere" / "out.mp4", FPS)
    with pytest.raises(VunetError, match="out.avi: unsupported output extension"):
        VideoWriter(tmp_path / "out.avi", FPS)
    with pytest.raises(VunetError, match="gone.mp4: no such file"):
        VideoWriter(tmp_path / "out.mp4", FPS, audio_from=tmp_path / "gone.mp4")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(VunetError, match="locked: output folder is not writable"):
            VideoWriter(locked / "out.mp4", FPS)


# --------------------------------------------------------------------------- exports


def rgba_frame(i: int) -> np.ndarray:
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., :3] = frame_image(i)
    rgba[..., 3] = np.linspace(0, 255, W).astype(np.uint8)[None]  # alpha ramp left to right
    return rgba


def test_png_sequence_keeps_alpha_exactly(tmp_path):
    folder = tmp_path / "frames"
    with PngSequenceWriter(folder) as writer:
        for i in range(3):
            writer.write(rgba_frame(i))
        writer.write(frame_image(3))  # RGB is saved opaque
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"frame_{i:06d}.png" for i in range(4)]
    for i in range(3):
        bgra = cv2.imread(str(folder / names[i]), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGBA), rgba_frame(i))
    assert (cv2.imread(str(folder / names[3]), cv2.IMREAD_UNCHANGED)[..., 3] == 255).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


def test_png_sequence_replaces_only_a_previous_export(tmp_path):
    folder = tmp_path / "frames"
    with PngSequenceWriter(folder) as writer:
        writer.write(rgba_frame(0))
        writer.write(rgba_frame(1))
    with pytest.raises(VunetError, match=r"frames: already exists \(use --overwrite"):
        PngSequenceWriter(folder)
    with pytest.raises(RuntimeError):
        with PngSequenceWriter(folder, overwrite=True) as writer:
            writer.write(rgba_frame(5))
            raise RuntimeError("renderer crashed")
    assert len(list(folder.iterdir())) == 2
    with PngSequenceWriter(folder, overwrite=True) as writer:
        writer.write(rgba_frame(5))
    assert [p.name for p in folder.iterdir()] == ["frame_000000.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]

    (folder / "notes.txt").write_text("mine")
    with pytest.raises(VunetError, match="frames: holds files other than PNGs"):
        PngSequenceWriter(folder, overwrite=True)


def test_prores_4444_keeps_alpha_and_sound(tmp_path, clips):
    out = tmp_path / "cutout.mov"
    with ProResWriter(out, FPS, audio_from=clips["aac"]) as writer:
        for i in range(N):
            writer.write(rgba_frame(i))
    with av.open(str(out)) as c:
        video = c.streams.video[0]
        assert video.codec_context.name == "prores" and video.profile == "4444"
        assert c.streams.audio and c.streams.audio[0].codec_context.name == "aac"
        for i, frame in enumerate(c.decode(video)):
            assert frame.format.name.startswith("yuva444p")
            back = frame.to_ndarray(format="rgba")
            want = rgba_frame(i)
            assert np.abs(back[..., 3].astype(np.int16) - want[..., 3]).max() <= 1
            assert np.abs(back[..., :3].astype(np.int16) - want[..., :3]).mean() < 2
    assert i == N - 1
    with pytest.raises(VunetError, match="cutout.mp4: unsupported output extension"):
        ProResWriter(tmp_path / "cutout.mp4", FPS)

