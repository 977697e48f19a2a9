"""Each stage's cheaper settings against its default, with the quality figure behind the choice.

    python benchmarks/stage_settings.py [--seconds 4] [--only encode,pose,precision,runtime,int8,int8bf16,quality,threads,exports]

Nine measurements (issue 11, "every stage at its cheapest honest setting"), on the dev
driving clips (`../shared/data/dev/driving/`) and a dev subject:

* encode: x264 presets at equal CRF (the default 18) on the dev clips' frames scaled to a
  1280 px longer side: ms per frame (one encoder, its own threads), bitrate, and SSIM of the
  decoded video against the frames given (luma, Gaussian 11 px window).
* pose: `pose.stride` 1 (every frame posed), 2, 3 and 4 (joints between interpolated), on
  the dev clips through the real DrivingSource (tracking and One Euro smoothing included),
  decoded as DrivingSource does (no deblocking) and, for strides 1 and 2, with it:
  pose-stage ms and CPU ms per frame, and PCK of each against stride 1 deblocked at 0.05
  and 0.1 of the person's box (joints seen in its pose), with the mean joint distance in %
  of it.
* precision: the decoder in fp32 and in bf16 (autocast + channels_last) in the real
  `animate` (render.detail "photo", fine-tune as in the default preset): SSIM of bf16's
  output frames against fp32's inside the person's box, and pose fidelity of each
  (MediaPipe on the output frames against the target pose, mean limb-angle error, as
  benchmarks/full_resolution.py measures it), with the render stage's ms per frame.
* runtime: the fp32 decoder in torch and in ONNX Runtime (`model.runtime`), the same
  figures as for precision. ONNX Runtime is what a CPU without native bf16 uses.
* int8: that decoder in fp32 and quantized to 8-bit integers (`model.precision` int8,
  model/onnx_decoder.py), the same figures, with the quantization's seconds; then the
  longest dev clip whole, end to end, fp32 and int8 runs interleaved.
* int8bf16: on a CPU with native bf16, the video decoder in torch bf16 (auto's choice there
  before 0.3.14) against int8 (auto's since), both scored against torch fp32, the same figures;
  then the longest clip end to end, bf16 and int8 interleaved.
* quality: the whole default preset against its settings before issue 11 (fp32, the pose
  on every frame, x264 medium, batches of 4), on the output: pose fidelity and the flicker
  figures of render/compose.py's FlickerMeter.
* threads: end-to-end frames/s with torch's and OpenCV's thread counts varied.
* exports: ProRes 4444 from FFmpeg's prores_ks encoder with its default single thread and with
  frame threads, and from its prores_aw encoder (PSNR of each against the frames given), and
  the PNG sequence with OpenCV's defaults (what the PNG export uses) and at compression
  levels 1 and 3: ms per frame and size, on RGBA output frames of the dev subject.

Writes benchmarks/results/stage_settings.{md,json}. Run it on a quiet machine: every figure
is a time or a ratio from the same run.
"""

from __future__ import annotations

import argparse
import copy
import functools
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from full_resolution import (DRIVING, RecordingAnimator, limb_angle_errors, machine,  # noqa: E402
                             read_rendered_person, scoring_box, ssim_l1)

RESULTS = REPO / "benchmarks" / "results"
SUBJECT = REPO.parent / "shared" / "data" / "dev" / "subjects" / "deepfashion_women_blouse_00004955.jpg"
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "medium")
LONG_SIDE = 1280


# ----------------------------------------------------------------------------- encode

def clip_frames(path: Path, seconds: float, long_side: int = LONG_SIDE) -> list[np.ndarray]:
    from vunet_video.video import VideoReader

    frames = []
    with VideoReader(path, end=seconds) as reader:
        for frame in reader:
            h, w = frame.image.shape[:2]
            k = long_side / max(h, w)
            size = (round(w * k) // 2 * 2, round(h * k) // 2 * 2)
            frames.append(cv2.resize(frame.image, size, interpolation=cv2.INTER_AREA))
    return frames


def luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def grey_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two grey uint8 images (Gaussian 11 px window, sigma 1.5; Wang et al. 2004)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x):
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    ma, mb = blur(a), blur(b)
    va, vb, cov = blur(a * a) - ma * ma, blur(b * b) - mb * mb, blur(a * b) - ma * mb
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
    return float(s.mean())


def encode_row(frames: list[np.ndarray], fps: float, preset: str, crf: int = 18) -> dict:
    import av

    buf = io.BytesIO()
    out = av.open(buf, mode="w", format="mp4")
    stream = out.add_stream("libx264", rate=round(fps), options={"crf": str(crf), "preset": preset})
    stream.height, stream.width = frames[0].shape[:2]
    stream.pix_fmt = "yuv420p"
    t = time.perf_counter()
    for i, image in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
            format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
        frame.pts = i
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))
    seconds = time.perf_counter() - t
    out.close()
    data = buf.getvalue()
    decoded = []
    with av.open(io.BytesIO(data)) as src:
        for frame in src.decode(video=0):
            decoded.append(frame.to_ndarray(format="gray"))  # Y plane (limited range)
    # Y of the input, the same way (limited range, BT.709) for a like-for-like SSIM.
    ref = [av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p", dst_colorspace="ITU709",
                                                                   dst_color_range="MPEG").to_ndarray()[:f.shape[0]]
           for f in frames]
    ssim = float(np.mean([grey_ssim(a, b) for a, b in zip(ref, decoded)]))
    return {"ms": 1000 * seconds / len(frames), "kbps": len(data) * 8 / (len(frames) / fps) / 1000, "ssim": ssim}


def measure_encode(seconds: float) -> dict:
    from vunet_video.video import probe

    rows = {p: [] for p in PRESETS}
    for clip in DRIVING:
        frames = clip_frames(clip, seconds)
        fps = probe(clip).fps
        print(f"encode: {clip.name}, {len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]}", file=sys.stderr)
        for preset in PRESETS:
            rows[preset].append(encode_row(frames, fps, preset) | {"clip": clip.name})
    return rows


# ----------------------------------------------------------------------------- pose

def poses(clip: Path, seconds: float, stride: int, deblock: bool = False):
    """The clip's driving poses as `animate` makes them (DrivingSource), the pose stage's
    busy seconds, and the process's CPU seconds for the pass (decoding, FFmpeg's and
    MediaPipe's threads included). deblock: decode with the codec's deblocking filter, as
    DrivingSource did before 0.3.17 (it skips it now: VideoReader's deblock=False)."""
    from vunet_video.pose.driving import DrivingSource
    from vunet_video.presets import load_settings

    settings = load_settings("default", {"pose.stride": stride})
    source = DrivingSource(clip, settings.pose, settings.smoothing, end=seconds)
    source.reader.deblock = deblock
    cpu = time.process_time()
    try:
        out = [pose for _, _, pose in source]
    finally:
        source.close()
    return out, source.clock.seconds["pose"], time.process_time() - cpu


# The pose rows: (label, pose.stride, deblocked). The first is the reference.
POSE_ROWS = (("1, deblocked", 1, True), ("1", 1, False), ("2, deblocked", 2, True), ("2", 2, False),
             ("3", 3, False), ("4", 4, False))


def measure_pose(seconds: float) -> dict:
    from vunet_video.train.metrics import pck

    rows = {}
    for clip in DRIVING:
        base = None
        for label, stride, deblock in POSE_ROWS:
            got, pose_s, cpu_s = poses(clip, seconds, stride, deblock)
            row = {"clip": clip.name, "frames": len(got), "ms": 1000 * pose_s / len(got),
                   "cpu_ms": 1000 * cpu_s / len(got)}
            rows.setdefault(label, []).append(row)
            if base is None:
                base = got
                continue
            counts = {0.05: [0, 0], 0.1: [0, 0]}
            dists = []
            for p, q in zip(got, base):
                ok_q, ok_p = q.visible(), p.visible()
                for a in counts:
                    c, n = pck(p.xy, ok_p, q.xy, ok_q, a)
                    counts[a][0] += c
                    counts[a][1] += n
                if ok_q.sum() >= 2:
                    pts = q.xy[ok_q]
                    size = max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]))
                    both = ok_q & ok_p
                    dists += list(np.linalg.norm(p.xy[both] - q.xy[both], axis=1) / size * 100)
            row.update({"pck05": counts[0.05][0] / max(1, counts[0.05][1]),
                        "pck10": counts[0.1][0] / max(1, counts[0.1][1]),
                        "mean_dist_pct": float(np.mean(dists)) if dists else None})
        print(f"pose: {clip.name} done", file=sys.stderr)
    return rows


# ----------------------------------------------------------------------------- precision

def _decoder_variants(seconds: float, clips: int, variants: dict[str, dict]) -> list[dict]:
    """`animate` at LONG_SIDE px with each variant's overrides (the first is the reference,
    run twice: two runs of the same settings show how much the output varies by itself), on
    the first `clips` dev clips. Per clip: each other variant's SSIM against the reference
    inside the person's box, the repeat's, each one's limb error and render ms per frame."""
    from vunet_video.pose import make_estimator

    names = list(variants)
    runs, quantize_s = {}, {}
    for run in [names[0], names[0] + " again"] + names[1:]:
        animator = RecordingAnimator(**variants[run.removesuffix(" again")], **{"render.size": LONG_SIDE})
        subject = animator.encode_subject(SUBJECT)
        for clip in DRIVING[:clips]:
            kept = {}
            with tempfile.TemporaryDirectory() as tmp:
                result = animator.animate(subject, clip, Path(tmp) / "out.mp4", end=seconds,
                                          on_frame=lambda i, t, rgba: kept.__setitem__(i, rgba.copy()))
            runs[(run, clip.name)] = (kept, dict(animator.targets),
                                      1000 * result.profile["stages"]["render"] / result.frames)
        decoder = getattr(subject.synth or animator.synth, "_onnx_decoder", None)
        if decoder is not None and decoder.quantized:  # (int8: once per model, in its first clip's render stage)
            quantize_s[run] = decoder.quantize_s
            if decoder.from_cache:
                quantize_s[run + " from cache"] = True
        print(f"decoder variants: {run} done", file=sys.stderr)
    estimator = make_estimator("mediapipe")
    rows = []
    try:
        for clip in DRIVING[:clips]:
            ref, targets, _ = runs[(names[0], clip.name)]
            moved = max(float(np.nanmax(np.abs(targets[i].xy - runs[(run, clip.name)][1][i].xy), initial=0.0))
                        for run in [names[0] + " again"] + names[1:] for i in targets)
            row = {"clip": clip.name, "frames_scored": len(sorted(ref)[::3]), "target_difference_px": moved}
            for run in [names[0] + " again"] + names[1:]:
                frames = runs[(run, clip.name)][0]
                ssims = []
                for i in sorted(ref)[::3]:
                    x0, y0, x1, y1 = scoring_box(targets[i], ref[i].shape)
                    ssims.append(ssim_l1(np.ascontiguousarray(ref[i][y0:y1, x0:x1, :3]),
                                         np.ascontiguousarray(frames[i][y0:y1, x0:x1, :3]))[0])
                row[f"ssim {run}"] = float(np.mean(ssims))
            for run in names:
                frames, errors = runs[(run, clip.name)][0], []
                for i in sorted(ref)[::3]:
                    rgb = np.ascontiguousarray(frames[i][..., :3])
                    errors += limb_angle_errors(targets[i], read_rendered_person(rgb, targets[i], estimator), rgb.shape)
                row[f"limb_error {run}"] = float(np.mean(errors))
                row[f"render_ms {run}"] = runs[(run, clip.name)][2]
                if run in quantize_s:
                    row[f"quantize_s {run}"] = quantize_s[run]
                    row[f"quantized_from_cache {run}"] = quantize_s.get(run + " from cache", False)
            rows.append(row)
    finally:
        estimator.close()
    return rows


def measure_precision(seconds: float, clips: int = 2) -> dict:
    """The decoder in fp32 and in bf16 (torch both)."""
    rows = _decoder_variants(seconds, clips, {"fp32": {"model.precision": "fp32", "model.runtime": "torch"},
                                              "bf16": {"model.precision": "bf16"}})
    return {"rows": [{"clip": r["clip"], "frames_scored": r["frames_scored"], "ssim_bf16_vs_fp32": r["ssim bf16"],
                      "ssim_fp32_repeat": r["ssim fp32 again"], "target_difference_px": r["target_difference_px"],
                      "limb_error_fp32": r["limb_error fp32"], "limb_error_bf16": r["limb_error bf16"],
                      "render_ms_fp32": r["render_ms fp32"], "render_ms_bf16": r["render_ms bf16"]} for r in rows]}


def decoder_alone(batch: int = 8, repeats: int = 15) -> dict:
    """ms per frame of the shipped model's decoder alone (random inputs, batches of `batch`,
    one thread, median of `repeats`): torch fp32 as the video path held it before, torch
    fp32 channels_last, and ONNX Runtime; the other pipeline stages idle, unlike in animate."""
    import torch

    from vunet_video.model.io import load_model
    from vunet_video.model.onnx_decoder import OnnxDecoder
    from vunet_video.model.parts import NUM_PARTS

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = load_model(device="cpu").eval()
        size, part = model.cfg.image_size, model.cfg.part_size
        stick, warp = torch.rand(batch, 3, size, size), torch.rand(batch, 4, size, size)
        with torch.no_grad():
            latents = model.encode(torch.rand(1, 6 * NUM_PARTS, part, part))
        onnx = OnnxDecoder(model)
        channels_last = copy.deepcopy(model).to(memory_format=torch.channels_last)
        runs = {"torch": lambda: model.decode(stick, latents, warp=warp, blend="weight"),
                "torch channels_last": lambda: channels_last.decode(
                    stick.contiguous(memory_format=torch.channels_last), latents,
                    warp=warp.contiguous(memory_format=torch.channels_last), blend="weight"),
                "onnxruntime": lambda: onnx(stick, latents, warp)}
        out = {}
        with torch.inference_mode():
            for name, run in runs.items():
                for _ in range(3):
                    run()
                times = []
                for _ in range(repeats):
                    t = time.perf_counter()
                    run()
                    times.append(time.perf_counter() - t)
                out[name] = 1000 * float(np.median(times)) / batch
        return out
    finally:
        torch.set_num_threads(threads)


def measure_runtime(seconds: float, clips: int = 2) -> dict:
    """The fp32 decoder in torch and in ONNX Runtime (model.runtime): alone, then in animate."""
    alone = decoder_alone()
    return {"alone": alone,
            "rows": _decoder_variants(seconds, clips, {"torch": {"model.precision": "fp32", "model.runtime": "torch"},
                                                       "onnxruntime": {"model.precision": "fp32",
                                                                       "model.runtime": "auto"}})}


def measure_int8(seconds: float, clips: int = 2, repeats: int = 2, variants: dict | None = None) -> dict:
    """The CPU decoder in ONNX Runtime, fp32 against int8 (model.precision "int8": quantized
    once per subject, calibrated on the subject alone; the second clip reuses it); then the
    whole of the longest dev clip end to end, the variants but the first interleaved `repeats`
    times, each run with a fresh Animator and subject (so int8 pays its quantization in every
    run). variants: name -> overrides, the first the reference the others' SSIM is against."""
    from vunet_video import Animator

    variants = variants or {"fp32": {"model.precision": "fp32", "model.runtime": "auto"},
                            "int8": {"model.precision": "int8"}}
    out = {"rows": _decoder_variants(seconds, clips, variants)}
    if len(variants) > 2:  # (the reference only scores the others)
        variants = dict(list(variants.items())[1:])
    clip = DRIVING[2]  # sports2d_lateral_raise.mp4, 18 s
    runs = {name: [] for name in variants}
    for _ in range(repeats):
        for name, overrides in variants.items():
            animator = Animator(**overrides, **{"render.size": LONG_SIDE})
            with tempfile.TemporaryDirectory() as tmp:
                result = animator.animate(animator.encode_subject(SUBJECT), clip, Path(tmp) / "out.mp4")
            runs[name].append({"frames_per_s": result.frames / result.profile["wall"],
                               "first_frame_s": result.profile["first_frame"],
                               "render_s": result.profile["stages"]["render"], "frames": result.frames})
            print(f"int8 end to end: {name} {runs[name][-1]['frames_per_s']:.2f} frames/s", file=sys.stderr)
    out["end_to_end"] = {"clip": clip.name, "runs": runs}
    return out


def measure_int8_bf16(seconds: float, clips: int = 2, repeats: int = 2) -> dict:
    """On a CPU with native bf16: the video decoder in torch bf16 (model.precision "bf16",
    the default there before 0.3.14) against ONNX Runtime int8 (model.precision "auto" since
    0.3.14), both scored against torch fp32; then end to end as measure_int8."""
    return measure_int8(seconds, clips, repeats,
                        {"fp32": {"model.precision": "fp32", "model.runtime": "torch"},
                         "bf16": {"model.precision": "bf16"}, "int8": {"model.precision": "auto"}})


# ----------------------------------------------------------------------------- the whole default

# The default preset's settings before issue 11 (as benchmarks/pipeline.py's "settings before").
BEFORE = {"model.precision": "fp32", "pose.stride": 1, "output.x264_preset": "medium", "render.batch_size": 4}


def measure_quality(seconds: float, clips: int = 2) -> dict:
    """The default preset against its settings before, on the output people see: pose
    fidelity of the output frames and FlickerMeter's figures, same subject and clips."""
    from vunet_video.pose import make_estimator
    from vunet_video.render.compose import FlickerMeter

    runs = {}
    for label, overrides in (("before", BEFORE), ("after", {})):
        animator = RecordingAnimator(**{"render.size": LONG_SIDE, **overrides})
        subject = animator.encode_subject(SUBJECT)
        for clip in DRIVING[:clips]:
            kept, meter = {}, FlickerMeter()

            def on_frame(i, t, rgba):
                meter.update(rgba)
                if i % 3 == 0:
                    kept[i] = rgba.copy()

            with tempfile.TemporaryDirectory() as tmp:
                result = animator.animate(subject, clip, Path(tmp) / "out.mp4", end=seconds, on_frame=on_frame)
            runs[(label, clip.name)] = (kept, dict(animator.targets), meter.summary(), result.frames / result.seconds)
        print(f"quality: {label} done", file=sys.stderr)
    estimator = make_estimator("mediapipe")
    rows = []
    try:
        for clip in DRIVING[:clips]:
            for label in ("before", "after"):
                kept, targets, flicker, rate = runs[(label, clip.name)]
                errors = []
                for i, rgba in kept.items():
                    rgb = np.ascontiguousarray(rgba[..., :3])
                    errors += limb_angle_errors(targets[i], read_rendered_person(rgb, targets[i], estimator), rgb.shape)
                rows.append({"clip": clip.name, "settings": label, "limb_error": float(np.mean(errors)),
                             "limbs": len(errors), "rate": rate, **flicker})
    finally:
        estimator.close()
    return {"rows": rows}


def measure_threads(seconds: float) -> dict:
    """End-to-end frames/s on one clip with torch's and OpenCV's thread counts while the
    stages run varied (stages.library_threads replaced; in one process, alternated twice, so
    that a noisy moment does not decide)."""
    import vunet_video.stages as stages
    from vunet_video.pipeline import Animator

    animator = Animator(**{"render.size": LONG_SIDE})
    subject = animator.encode_subject(SUBJECT)
    clip = DRIVING[1]  # the 1080x1920 dance: the costliest decode
    cores = stages.usable_cores()
    shipped = max(1, cores // stages.PIPELINE_THREADS)
    variants = [(f"torch {shipped}, OpenCV {shipped} (the default: stages.library_threads)", shipped, shipped),
                (f"torch {cores}, OpenCV {cores} (the libraries' own defaults)", cores, cores),
                (f"torch {cores}, OpenCV {shipped}", cores, shipped), (f"torch {shipped}, OpenCV {cores}", shipped, cores)]
    rates = {name: [] for name, _, _ in variants}
    original = stages.library_threads
    try:
        for _ in range(2):
            for name, t, c in variants:
                stages.library_threads = functools.partial(original, threads=(t, c))
                result = animator.animate(subject, clip, None, end=seconds)
                rates[name].append(result.frames / result.seconds)
    finally:
        stages.library_threads = original
    return {"clip": clip.name, "rows": [{"variant": k, "rates": v} for k, v in rates.items()]}


# ----------------------------------------------------------------------------- exports

def measure_exports(seconds: float) -> dict:
    import av

    from vunet_video.pipeline import Animator

    animator = Animator(**{"render.background": "alpha", "output.export": "prores", "render.size": LONG_SIDE})
    frames = []
    animator.animate(SUBJECT, DRIVING[0], None, end=min(seconds, 2.0),
                     on_frame=lambda i, t, rgba: frames.append(rgba.copy()))
    h, w = frames[0].shape[:2]
    rows = []
    variants = (("ProRes 4444, prores_ks, FFmpeg default (one thread)", "prores_ks", {"profile": "4444"}, None),
                ("ProRes 4444, prores_ks, frame threads", "prores_ks", {"profile": "4444"}, "AUTO"),
                ("ProRes 4444, prores_aw (FFmpeg's other encoder), frame threads", "prores_aw", {"profile": "4"},
                 "AUTO"))
    for label, codec, options, threads in variants:
        buf = io.BytesIO()
        out = av.open(buf, mode="w", format="mov")
        stream = out.add_stream(codec, rate=25, options=options | {"vendor": "apl0"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuva444p10le"
        if threads:
            stream.codec_context.thread_type, stream.codec_context.thread_count = threads, 0
        t = time.perf_counter()
        for i, rgba in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgba, format="rgba").reformat(
                format="yuva444p10le", dst_colorspace="ITU709", dst_color_range="MPEG")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        seconds_taken = time.perf_counter() - t
        out.close()
        # Fidelity: the decoded frames against the frames given (colour where opaque, and alpha).
        errors = {"rgb": [], "alpha": []}
        with av.open(io.BytesIO(buf.getvalue())) as src:
            for frame, rgba in zip(src.decode(video=0), frames):
                back = frame.reformat(format="rgba", src_colorspace="ITU709", src_color_range="MPEG").to_ndarray()
                opaque = rgba[..., 3] > 250
                errors["rgb"].append(np.mean((back[..., :3][opaque].astype(float) - rgba[..., :3][opaque]) ** 2))
                errors["alpha"].append(np.mean((back[..., 3].astype(float) - rgba[..., 3]) ** 2))
        psnr = {k: float(10 * np.log10(255 ** 2 / max(np.mean(v), 1e-12))) for k, v in errors.items()}
        rows.append({"export": label, "ms": 1000 * seconds_taken / len(frames),
                     "kb_per_frame": len(buf.getvalue()) / len(frames) / 1000, "psnr_rgb": psnr["rgb"],
                     "psnr_alpha": psnr["alpha"]})
    for level in (None, 1, 3):  # None: OpenCV's defaults, which the PNG export uses
        params = [] if level is None else [cv2.IMWRITE_PNG_COMPRESSION, level]
        t, size = time.perf_counter(), 0
        for rgba in frames:
            ok, data = cv2.imencode(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA), params)
            size += len(data)
        label = "PNG, OpenCV's defaults (the PNG export)" if level is None else f"PNG, compression {level}"
        rows.append({"export": label, "ms": 1000 * (time.perf_counter() - t) / len(frames),
                     "kb_per_frame": size / len(frames) / 1000})
    return {"frames": len(frames), "size": [w, h], "rows": rows}


# ----------------------------------------------------------------------------- report

def seconds(report: dict, section: str) -> float:
    return report.get("seconds_of", {}).get(section, report["seconds"])


def markdown(report: dict) -> str:
    lines = ["# Stage settings: each cheaper setting against the default, with its quality figure", "",
             "Made by `python benchmarks/stage_settings.py` (each section with the clip length it names; the "
             "machine of the sections that name none:", "", report["machine"] + ")", ""]
    if "encode" in report:
        lines += ["## H.264 encoding: x264 presets at CRF 18", "",
                  f"The dev clips' first {seconds(report, 'encode'):g} s, scaled to a {LONG_SIDE} px longer side; one "
                  "encoder with x264's own threads; SSIM of the decoded luma against the frames given.", "",
                  "| preset | ms per frame | frames/s | kbit/s | SSIM |", "| --- | ---: | ---: | ---: | ---: |"]
        base = np.mean([r["kbps"] for r in report["encode"]["medium"]])
        for preset, rows in report["encode"].items():
            ms, kbps, ssim = (np.mean([r[k] for r in rows]) for k in ("ms", "kbps", "ssim"))
            lines.append(f"| {preset} | {ms:.1f} | {1000 / ms:.0f} | {kbps:.0f} ({kbps / base:.2f}x medium) | "
                         f"{ssim:.4f} |")
        lines.append("")
    if "pose" in report:
        lines += ["## Pose stage: posing every Nth frame, decoding without deblocking", "",
                  f"The dev clips' first {seconds(report, 'pose'):g} s through DrivingSource (MediaPipe, tracking, One "
                  "Euro smoothing). PCK against the poses of every frame decoded in full (the first row) at 0.05 and "
                  "0.1 of the person's box. \"deblocked\": the clip decoded with H.264's deblocking filter, as before "
                  "0.3.17; the other rows skip it, as DrivingSource does now. Pose ms: the pose stage's busy time; "
                  "CPU ms: the whole pass's CPU time (decoding, posing, all threads).", "",
                  "| pose.stride | pose ms per frame | CPU ms per frame | PCK@0.05 | PCK@0.1 | "
                  "mean joint distance (% of box) |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for n, (label, rows) in enumerate(report["pose"].items()):
            ms, cpu = (np.mean([r.get(k, np.nan) for r in rows]) for k in ("ms", "cpu_ms"))
            if n == 0:
                lines.append(f"| {label} | {ms:.1f} | {cpu:.2f} | (reference) | | |")
                continue
            p5, p10, d = (np.mean([r[k] for r in rows]) for k in ("pck05", "pck10", "mean_dist_pct"))
            lines.append(f"| {label} | {ms:.1f} | {cpu:.2f} | {p5:.3f} | {p10:.3f} | {d:.2f} |")
        if "2" in report["pose"]:
            lines += ["", "Per clip (PCK@0.05 at stride 2, the default): " + ", ".join(
                f"{r['clip']} {r['pck05']:.3f}" for r in report["pose"]["2"] if "pck05" in r), ""]
    if "precision" in report:
        lines += ["## Decoder precision: fp32 against bf16 (autocast + channels_last)", "",
                  f"`animate` at {LONG_SIDE} px, render.detail \"photo\", the default fine-tune; first "
                  f"{seconds(report, 'precision'):g} s; every third frame scored.", "",
                  "| clip | SSIM bf16 vs fp32 (person box) | SSIM fp32 vs a second fp32 run | limb error fp32 | "
                  "limb error bf16 | render ms/frame fp32 | bf16 |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in report["precision"]["rows"]:
            lines.append(f"| {r['clip']} | {r['ssim_bf16_vs_fp32']:.4f} | {r['ssim_fp32_repeat']:.4f} | "
                         f"{r['limb_error_fp32']:.1f} deg | "
                         f"{r['limb_error_bf16']:.1f} deg | {r['render_ms_fp32']:.1f} | {r['render_ms_bf16']:.1f} |")
        lines.append("")
    if "runtime" in report:
        lines += ["## The fp32 decoder: torch against ONNX Runtime (`model.runtime`)", "",
                  f"`animate` at {LONG_SIDE} px, model.precision fp32, render.detail \"photo\", the default "
                  f"fine-tune; first {seconds(report, 'runtime'):g} s; every third frame scored. Measured on "
                  f"{report.get('runtime_machine', report['machine'])}.", ""]
        if "alone" in report["runtime"]:
            alone = report["runtime"]["alone"]
            lines += ["The decoder alone (the shipped model, batches of 8, one thread, the other stages idle), ms per "
                      "frame: " + ", ".join(f"{k} {v:.1f}" for k, v in alone.items()) +
                      f" (ONNX Runtime {alone['torch'] / alone['onnxruntime']:.2f}x torch's speed). In `animate` "
                      "below, four threads share the two cores, so each stage's busy time includes waiting for one.",
                      ""]
        lines += ["| clip | SSIM onnxruntime vs torch (person box) | SSIM torch vs a second torch run | "
                  "limb error torch | onnxruntime | render ms/frame torch | onnxruntime | ratio |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in report["runtime"]["rows"]:
            lines.append(f"| {r['clip']} | {r['ssim onnxruntime']:.4f} | {r['ssim torch again']:.4f} | "
                         f"{r['limb_error torch']:.1f} deg | {r['limb_error onnxruntime']:.1f} deg | "
                         f"{r['render_ms torch']:.1f} | {r['render_ms onnxruntime']:.1f} | "
                         f"{r['render_ms torch'] / r['render_ms onnxruntime']:.2f}x |")
        lines.append("")
    if "int8" in report:
        rows = report["int8"]["rows"]
        quantize = next((r["quantize_s int8"] for r in rows if "quantize_s int8" in r), float("nan"))
        lines += ["## The CPU decoder on 8-bit integers (`model.precision` int8)", "",
                  f"`animate` at {LONG_SIDE} px, render.detail \"photo\", the default fine-tune; first "
                  f"{seconds(report, 'int8'):g} s; every third frame scored; fp32 and int8 both in ONNX Runtime. "
                  f"The int8 decoder is calibrated on the subject alone (its pose and seven with the arms moved) "
                  f"and quantized once ({quantize:.1f} s, inside the first clip's render time), then kept for the "
                  f"second clip. Measured on "
                  f"{report.get('int8_machine', report['machine'])}.", "",
                  "| clip | SSIM int8 vs fp32 (person box) | SSIM fp32 vs a second fp32 run | limb error fp32 | "
                  "int8 | render ms/frame fp32 | int8 | ratio |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in rows:
            lines.append(f"| {r['clip']} | {r['ssim int8']:.4f} | {r['ssim fp32 again']:.4f} | "
                         f"{r['limb_error fp32']:.1f} deg | {r['limb_error int8']:.1f} deg | "
                         f"{r['render_ms fp32']:.1f} | {r['render_ms int8']:.1f} | "
                         f"{r['render_ms fp32'] / r['render_ms int8']:.2f}x |")
        lines.append("")
        if "end_to_end" in report["int8"]:
            e2e = report["int8"]["end_to_end"]
            runs = e2e["runs"]
            lines += [f"The whole of {e2e['clip']} ({runs['fp32'][0]['frames']} frames) end to end, the runs "
                      "interleaved, each with a fresh subject encoding (int8 quantizes in every run): "
                      + "; ".join(f"{name} " + ", ".join(f"{r['frames_per_s']:.2f}" for r in rs) + " frames/s "
                                  "(first frame " + ", ".join(f"{r['first_frame_s']:.1f}" for r in rs) + " s, render "
                                  "stage " + ", ".join(f"{r['render_s']:.1f}" for r in rs) + " s)"
                                  for name, rs in runs.items()) + ".", ""]
    if "int8bf16" in report:
        rows = report["int8bf16"]["rows"]
        quantize = next((r["quantize_s int8"] for r in rows if "quantize_s int8" in r), float("nan"))
        cached = any(r.get("quantized_from_cache int8") for r in rows)
        lines += ["## int8 against bf16 where bf16 is native (`model.precision` auto since 0.3.14)", "",
                  f"`animate` at {LONG_SIDE} px, render.detail \"photo\", the default fine-tune; first "
                  f"{seconds(report, 'int8bf16'):g} s; every third frame scored against torch fp32's frames. bf16: "
                  "the decoder in torch (model.precision bf16, auto's choice before 0.3.14); int8: ONNX Runtime on "
                  "8-bit integers (model.precision auto), quantized once per subject "
                  + (f"({quantize:.1f} s)" if not cached else "(here taken from the user's cache, as the runs "
                     "after a photo's first get it)") + f". Measured on "
                  f"{report.get('int8bf16_machine', report['machine'])}.", "",
                  "| clip | SSIM bf16 vs fp32 | SSIM int8 vs fp32 | SSIM fp32 vs a second fp32 run | limb error fp32 "
                  "| bf16 | int8 | render ms/frame bf16 | int8 | ratio |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in rows:
            lines.append(f"| {r['clip']} | {r['ssim bf16']:.4f} | {r['ssim int8']:.4f} | {r['ssim fp32 again']:.4f} | "
                         f"{r['limb_error fp32']:.1f} deg | {r['limb_error bf16']:.1f} deg | "
                         f"{r['limb_error int8']:.1f} deg | {r['render_ms bf16']:.1f} | {r['render_ms int8']:.1f} | "
                         f"{r['render_ms bf16'] / r['render_ms int8']:.2f}x |")
        e2e = report["int8bf16"]["end_to_end"]
        runs = e2e["runs"]
        lines += ["", f"The whole of {e2e['clip']} ({runs['bf16'][0]['frames']} frames) end to end, the runs "
                  "interleaved, each with a fresh Animator and subject encoding (the tune and the int8 decoder "
                  "from the user's cache): "
                  + "; ".join(f"{name} " + ", ".join(f"{r['frames_per_s']:.2f}" for r in rs) + " frames/s "
                              "(first frame " + ", ".join(f"{r['first_frame_s']:.1f}" for r in rs) + " s)"
                              for name, rs in runs.items()) + ".", ""]
    if "quality" in report:
        lines += ["## The whole default against its settings before: pose fidelity and flicker", "",
                  f"`animate` at {LONG_SIDE} px, the dev subject, first {seconds(report, 'quality'):g} s of two clips. Settings "
                  "before: " + ", ".join(f"{k} {v}" for k, v in BEFORE.items()) + ". Limb error: MediaPipe on every "
                  "third output frame against its target pose (degrees). Flicker: FlickerMeter "
                  "(render/compose.py) over all frames; frames/s with the flicker meter's optical flow running in "
                  "on_frame (so not the pipeline's rate).", "",
                  "| clip | settings | limb error | person MAD | person warp error | background MAD | frames/s |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        for r in report["quality"]["rows"]:
            lines.append(f"| {r['clip']} | {r['settings']} | {r['limb_error']:.1f} deg ({r['limbs']} limbs) | "
                         f"{r['person_mad']:.2f} | {r['person_warp_error']:.2f} | {r['background_mad']:.2f} | "
                         f"{r['rate']:.1f} |")
        lines.append("")
    if "threads" in report:
        t = report["threads"]
        lines += ["## Thread counts", "",
                  f"`animate` on {t['clip']} ({seconds(report, 'threads'):g} s, {LONG_SIDE} px, no output file), torch's and "
                  "OpenCV's thread counts while the four stage threads run varied in one process, each variant run "
                  "twice (frames/s per run). x264 "
                  "keeps its own threads (measured by hand: 1, 2 or 4 threads gave the same rate within the noise).",
                  "", "| variant | frames/s |", "| --- | --- |"]
        for r in t["rows"]:
            lines.append(f"| {r['variant']} | {', '.join(f'{x:.1f}' for x in r['rates'])} |")
        lines.append("")
    if "exports" in report:
        e = report["exports"]
        lines += ["## Editor exports", "",
                  f"{e['frames']} RGBA frames ({e['size'][0]}x{e['size'][1]}, background alpha) of the dev subject.",
                  "PSNR of the decoded frames against the frames given: colour where the person is opaque, and "
                  "the alpha channel (PNG is lossless).", "",
                  "| export | ms per frame | frames/s | kB per frame | PSNR colour | PSNR alpha |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for r in e["rows"]:
            fidelity = (f"{r['psnr_rgb']:.1f} dB | {r['psnr_alpha']:.1f} dB" if "psnr_rgb" in r else "lossless | "
                        "lossless")
            lines.append(f"| {r['export']} | {r['ms']:.1f} | {1000 / r['ms']:.1f} | {r['kb_per_frame']:.0f} | "
                         f"{fidelity} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=4.0, help="seconds of each clip")
    ap.add_argument("--only", default="encode,pose,precision,runtime,int8,int8bf16,quality,threads,exports")
    args = ap.parse_args()
    parts = args.only.split(",")
    path = RESULTS / "stage_settings.json"
    report = json.loads(path.read_text()) if path.exists() else {}
    # Sections kept from an earlier run keep the length they were measured at.
    for part in ("encode", "pose", "precision", "runtime", "int8", "int8bf16", "quality", "threads", "exports"):
        if part in report and "seconds" in report:
            report.setdefault("seconds_of", {}).setdefault(part, report["seconds"])
    report["seconds"] = args.seconds
    if set(parts) >= {"encode", "pose", "precision", "quality", "threads", "exports"} or "machine" not in report:
        report["machine"] = machine()  # (the sections that name no machine of their own)
    report.setdefault("seconds_of", {}).update({part: args.seconds for part in parts})
    if "encode" in parts:
        report["encode"] = measure_encode(args.seconds)
    if "pose" in parts:
        report["pose"] = {str(k): v for k, v in measure_pose(args.seconds).items()}
    if "precision" in parts:
        report["precision"] = measure_precision(args.seconds)
    if "runtime" in parts:
        report["runtime"] = measure_runtime(args.seconds)
        report["runtime_machine"] = machine()
    if "int8" in parts:
        report["int8"] = measure_int8(args.seconds)
        report["int8_machine"] = machine()
    if "int8bf16" in parts:
        report["int8bf16"] = measure_int8_bf16(args.seconds)
        report["int8bf16_machine"] = machine()
    if "quality" in parts:
        report["quality"] = measure_quality(args.seconds)
    if "threads" in parts:
        report["threads"] = measure_threads(args.seconds)
    if "exports" in parts:
        report["exports"] = measure_exports(args.seconds)
    path.write_text(json.dumps(report, indent=1))
    text = markdown(report)
    (RESULTS / "stage_settings.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
