"""Benchmark the bars of issue 10 (full-resolution rendering) for both render paths in one run.

    python benchmarks/full_resolution.py [--quick] [--seconds 3] [--every 3] [--no-finetune-row]
                                         [--speed-seconds 2] [--repeats 2] [--heldout 4]

Two paths, same inputs, same run: render.detail = "model" (before: the model's 128 px crop
scaled up) and "photo" (after: the photo's own pixels moved by the skinned mesh, the model
painting what they do not cover). Both use "model.finetune_steps" = 0 (the fine-tune costs
~20 s per subject and changes only the model's share); one extra row repeats bar 1 and 2 with
the default fine-tune for one subject.

1. Pose fidelity. Every dev subject x every dev driving clip (first --seconds of the clip):
   MediaPipe on every --every-th output frame against the target pose that frame was rendered
   from; score = mean limb-angle error (degrees) over upper arms, forearms, thighs and shins
   visible (score >= 0.3) in both. Target <= 6 degrees.
2. Detail. On the same frames: mean Sobel gradient magnitude inside the output matte
   (alpha > 0.5), divided by the same measure on the subject photo inside its person mask at
   the output's scale (the canvas is the photo scaled to render.size). Target >= 0.8.
3. Full-resolution reconstruction. The held-out clips (the test set of the model card, read
   from benchmarks/results/eval_heldout.json): the subject is the clip's first frame, the
   driving video the clip itself, the output at the clip's own resolution. SSIM and L1 against
   the real frames inside the person's box, for the unchanged first frame, "model" and "photo".
   Background "subject" for both paths, i.e. the first frame with the person painted out.
4. Speed. End-to-end frames/s at the default output size, an .mp4 written to a temp folder
   (so decode, pose and encode are all included), subject encoding outside the timing. Speed
   rows: one subject, every dev clip, the paths alternated --repeats times, the best run of
   each counting (the machine is shared), with CPU time as a second opinion. The bar 1 runs
   (both paths back to back per subject x clip) are timed too.

Writes benchmarks/results/full_resolution.{json,md} and contact sheets
benchmarks/results/full_resolution_<subject>_<clip>.png (rows: "model", "photo", target
stickman) and full_resolution_recon_<clip>.png (rows: real, "model", "photo").
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ["VUNET_SHARED"]) if os.environ.get("VUNET_SHARED") else REPO.parent / "shared"
SUBJECTS = sorted((SHARED / "data" / "dev" / "subjects").glob("*.*"))
DRIVING = sorted((SHARED / "data" / "dev" / "driving").glob("*.mp4"))
RESULTS = REPO / "benchmarks" / "results"
PATHS = ("model", "photo")           # before, after
FINETUNE_SUBJECT, FINETUNE_CLIP = "deepfashion_women_blouse_00004955", "musepose_dance"  # the extra fine-tuned row

from vunet_video.pipeline import Animator, EncodedSubject  # noqa: E402
from vunet_video.pose import estimate_image_pose, make_estimator  # noqa: E402
from vunet_video.pose.keypoints import INDEX as J  # noqa: E402
from vunet_video.pose.keypoints import BONES, FLIP_PERM, MIN_SCORE, Pose  # noqa: E402

LIMBS = {
    "upper arms": [("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow")],
    "forearms": [("left_elbow", "left_wrist"), ("right_elbow", "right_wrist")],
    "thighs": [("left_hip", "left_knee"), ("right_hip", "right_knee")],
    "shins": [("left_knee", "left_ankle"), ("right_knee", "right_ankle")],
}
LIMB_PAIRS = [(J[a], J[b]) for pairs in LIMBS.values() for a, b in pairs]
LIMB_GROUP = [group for group, pairs in LIMBS.items() for _ in pairs]  # LIMB_PAIRS' group, in order


# ----------------------------------------------------------------------------- rendering

class RecordingAnimator(Animator):
    """An Animator that keeps the target pose of every frame it renders, by driving-frame
    index. `_targets` is the one place the pipeline makes them, so the scores compare each
    frame with exactly the pose it was rendered from (no second keypoints run needed)."""

    def _targets(self, subject, source, stats, clock):
        self.targets = {}
        for index, t, target in super()._targets(subject, source, stats, clock):
            self.targets[index] = target
            yield index, t, target


def make_animators(finetune_steps: int, synth=None, **overrides) -> dict[str, RecordingAnimator]:
    """One animator per path, sharing one loaded model."""
    out = {}
    for path in PATHS:
        out[path] = RecordingAnimator(synthesizer=synth, **{"render.detail": path,
                                                            "model.finetune_steps": finetune_steps}, **overrides)
        synth = out[path].synth
    return out


def run(animator: RecordingAnimator, subject: EncodedSubject, driving: Path, seconds: float, every: int,
        folder: Path) -> dict:
    """Render `driving`'s first `seconds` into an .mp4 in `folder`; keep every `every`-th
    frame (RGBA) with its target pose. Only the frame copy happens inside the timed run."""
    kept, stamps = {}, []

    def keep(index, t, rgba):
        stamps.append(time.perf_counter())  # when each frame is out: steady rate without the set-up
        if index % every == 0:
            kept[index] = rgba.copy()

    out = folder / f"{driving.stem}_{animator.settings.render.detail}.mp4"
    cpu0 = time.process_time()  # all threads of this process, encoder (PyAV) included
    result = animator.animate(subject, driving, out, on_frame=keep, end=seconds, overwrite=True)
    if not animator.targets:
        raise RuntimeError("no target poses recorded: Animator._targets changed; update RecordingAnimator")
    cpu_s = time.process_time() - cpu0
    out.unlink(missing_ok=True)
    steady_s = stamps[-1] - stamps[0] if len(stamps) > 1 else None
    return {"frames": result.frames, "seconds": result.seconds, "held": result.held_frames, "steady_s": steady_s,
            "cpu_s": cpu_s,
            "kept": {i: (rgba, animator.targets[i]) for i, rgba in sorted(kept.items())}}


# ----------------------------------------------------------------------------- scores

def in_frame(pose: Pose, shape) -> np.ndarray:
    """Joints seen (score >= MIN_SCORE) and inside the canvas. A half-body subject's target
    legs lie below the photo's edge: they are not in the output, so not compared."""
    h, w = shape[:2]
    x, y = np.nan_to_num(pose.xy, nan=-1.0).T
    return pose.visible(MIN_SCORE) & (x >= 0) & (x < w) & (y >= 0) & (y < h)


def limb_angle_errors(target: Pose, found: Pose, shape, groups: dict | None = None) -> list[float]:
    """Angle (degrees, 0-180) between each limb of the target and of the detected pose, for
    the limbs whose two joints are visible, in the frame, in both. groups: a dict that
    each error is also appended to, under its limb group (LIMBS' keys), or None."""
    ok_t, ok_f = in_frame(target, shape), in_frame(found, shape)
    errors = []
    for (a, b), group in zip(LIMB_PAIRS, LIMB_GROUP):
        if ok_t[a] and ok_t[b] and ok_f[a] and ok_f[b]:
            vt, vf = target.xy[b] - target.xy[a], found.xy[b] - found.xy[a]
            d = np.degrees(np.arctan2(vf[1], vf[0]) - np.arctan2(vt[1], vt[0]))
            errors.append(float(abs((d + 180.0) % 360.0 - 180.0)))
            if groups is not None:
                groups.setdefault(group, []).append(errors[-1])
    return errors


def sharpness(rgb: np.ndarray, mask: np.ndarray) -> float:
    """Mean Sobel gradient magnitude of the grey image inside mask (bool)."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    mag = cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3))
    return float(mag[mask].mean()) if mask.any() else float("nan")


def score_frames(kept: dict, estimator, photo_sharpness: float) -> dict:
    """Bars 1 and 2 on the kept frames of one run."""
    errors, any_side, ratios, faint, missed, groups = [], [], [], [], 0, {}
    for rgba, target in kept.values():
        rgb = np.ascontiguousarray(rgba[..., :3])
        found = read_rendered_person(rgb, target, estimator)
        if found.is_empty(MIN_SCORE):
            missed += 1
        frame_errors = limb_angle_errors(target, found, rgb.shape, groups)
        errors += frame_errors
        # The same with the detection's left and right labels swapped, keeping the better of
        # the two per frame: tells a body drawn wrong from one the estimator reads mirrored
        # (a person seen from behind is ambiguous to it).
        swapped = Pose(found.xy[FLIP_PERM], found.score[FLIP_PERM])
        swapped_errors = limb_angle_errors(target, swapped, rgb.shape)
        any_side += min((frame_errors, swapped_errors), key=lambda e: np.mean(e) if e else np.inf)
        ratios.append(sharpness(rgb, rgba[..., 3] > 127) / photo_sharpness)
        faint.append(faint_share(rgba[..., 3]))
    return {"faint_matte": float(np.mean(faint)) if faint else None,
            "limb_error_deg": float(np.mean(errors)) if errors else None, "limbs": len(errors),
            "limb_error_any_side_deg": float(np.mean(any_side)) if any_side else None, "limbs_any_side": len(any_side),
            "frames_scored": len(kept), "no_person_found": missed,
            "limb_groups": {g: [float(np.sum(v)), len(v)] for g, v in groups.items()},  # (sum of errors, count)
            "detail_ratio": float(np.nanmean(ratios)) if ratios else None}


def faint_share(alpha: np.ndarray) -> float:
    """Faint matte pixels (0.04-0.6 of opaque) per solid one (over 0.5): the model's smudges
    off the body, with the soft edges of hair and limbs. Reported, not a bar: lower means fewer
    grey smudges, not a better edge."""
    a = alpha.astype(np.float32) / 255.0
    return float(((a > 0.04) & (a < 0.6)).sum() / max(1, int((a > 0.5).sum())))


def read_rendered_person(rgb: np.ndarray, target: Pose, estimator) -> Pose:
    """MediaPipe's pose of the rendered person, read inside the target's box (padded by a
    quarter of its size): MediaPipe follows one person, and a photo's bystanders left in
    the background plate (the bus photo) would otherwise be read instead."""
    bb = target.bbox(MIN_SCORE)
    if bb is None:
        return estimate_image_pose(rgb, estimator)
    pad = 0.25 * max(bb[2] - bb[0], bb[3] - bb[1])
    h, w = rgb.shape[:2]
    x0, y0 = max(0, int(bb[0] - pad)), max(0, int(bb[1] - pad))
    x1, y1 = min(w, int(np.ceil(bb[2] + pad))), min(h, int(np.ceil(bb[3] + pad)))
    found = estimate_image_pose(np.ascontiguousarray(rgb[y0:y1, x0:x1]), estimator)
    return Pose(found.xy + np.float32([x0, y0]), found.score)


def ssim_l1(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """SSIM (Gaussian 11 px window, colour in [0, 1]) and L1 (0-255) of two RGB crops."""
    import torch

    from vunet_video.train.metrics import ssim

    ta, tb = (torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255.0 for x in (a, b))
    return float(ssim(ta, tb, data_range=1.0)[0]), float(np.abs(a.astype(np.float32) - b).mean())


def scoring_box(target: Pose, shape) -> tuple[int, int, int, int]:
    """The person's box: a pose's joint extent, padded by 10% of its height on every
    side for hair, hands and feet (the joints stop at the eyes, wrists and ankles), clipped
    to the frame. Tighter than the render's person_box, so the shared background counts little."""
    x0, y0, x1, y1 = target.bbox(MIN_SCORE)
    pad = 0.10 * max(y1 - y0, x1 - x0)
    h, w = shape[:2]
    return (max(0, int(x0 - pad)), max(0, int(y0 - pad)), min(w, int(np.ceil(x1 + pad))),
            min(h, int(np.ceil(y1 + pad))))


# ----------------------------------------------------------------------------- contact sheets

def tile(rgb: np.ndarray, height: int, label: str = "") -> np.ndarray:
    scale = height / rgb.shape[0]
    out = cv2.resize(rgb, (max(1, round(rgb.shape[1] * scale)), height), interpolation=cv2.INTER_AREA)
    if label:
        cv2.putText(out, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def stickman(pose: Pose, shape) -> np.ndarray:
    """The target pose drawn on white at the canvas's size (left limbs blue, right red)."""
    canvas = np.full((*shape[:2], 3), 255, np.uint8)
    ok = pose.visible(MIN_SCORE)
    width = max(2, shape[0] // 150)
    for a, b in BONES:
        if ok[a] and ok[b]:
            colour = (40, 80, 230) if a % 2 == 1 and b % 2 == 1 else (230, 60, 40) if a % 2 == 0 and b % 2 == 0 \
                else (60, 60, 60)
            cv2.line(canvas, tuple(int(v) for v in pose.xy[a]), tuple(int(v) for v in pose.xy[b]), colour, width,
                     cv2.LINE_AA)
    return canvas


def save_sheet(rows: list[list[np.ndarray]], path: Path, height: int = 300, limit: int = 1_000_000) -> None:
    """Rows of equal-height tiles stacked; made smaller until the PNG is under `limit` bytes."""
    while True:
        lines = [np.hstack([tile(img, height, label) for img, label in row]) for row in rows]
        width = max(line.shape[1] for line in lines)
        lines = [np.pad(line, ((0, 2), (0, width - line.shape[1]), (0, 0)), constant_values=255) for line in lines]
        ok, png = cv2.imencode(".png", cv2.cvtColor(np.vstack(lines), cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if len(png) < limit or height < 120:
            path.write_bytes(png.tobytes())
            return
        height = int(height * 0.85)


def pick(indices: list[int], n: int = 4) -> list[int]:
    """n indices spread evenly over the list."""
    return [indices[round(k)] for k in np.linspace(0, len(indices) - 1, min(n, len(indices)))]


def sheet_for_pair(runs: dict, subject: EncodedSubject, path: Path) -> None:
    """Old path above new path, then the target stickman, for four frames of one run."""
    frames = pick(sorted(runs["model"]["kept"]))
    rows = [[(subject.image, "subject")] + [(runs[p]["kept"][i][0][..., :3], f"{p} #{i}") for i in frames]
            for p in PATHS]
    blank = np.full_like(subject.image, 255)
    rows.append([(blank, "target")] + [(stickman(runs["model"]["kept"][i][1], subject.image.shape), f"#{i}")
                                       for i in frames])
    save_sheet(rows, path)


# ----------------------------------------------------------------------------- the bars

def bars_1_2_4(animators: dict, subjects: list[Path], driving: list[Path], seconds: float, every: int,
               estimator, sheets: bool, tag: str = "") -> list[dict]:
    """Every subject x clip through both paths, back to back: pose fidelity, detail, speed."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for s, photo in enumerate(subjects):
            t0 = time.perf_counter()
            subject = animators["photo"].encode_subject(photo)  # both paths: same size, plate, appearance
            encode_s = time.perf_counter() - t0
            photo_sharp = sharpness(subject.image, subject.pose.mask > 0.5)
            for c, clip in enumerate(driving):
                order = PATHS if (s + c) % 2 == 0 else PATHS[::-1]  # neither path always runs first
                runs = {p: run(animators[p], subject, clip, seconds, every, Path(tmp)) for p in order}
                row = {"subject": photo.stem, "driving": clip.stem, "size": list(subject.frame_size),
                       "subject_encode_s": round(encode_s, 2), "photo_sharpness": photo_sharp}
                for p in PATHS:
                    r = runs[p]
                    row[p] = {"frames": r["frames"], "seconds": r["seconds"], "fps": r["frames"] / r["seconds"],
                              "steady_s": r["steady_s"],
                              "steady_fps": (r["frames"] - 1) / r["steady_s"] if r["steady_s"] else None,
                              "held_frames": r["held"], **score_frames(r["kept"], estimator, photo_sharp)}
                rows.append(row)
                print(f"{tag}{photo.stem} x {clip.stem}: " + "; ".join(
                    f"{p} {row[p]['limb_error_deg'] or float('nan'):.1f} deg, detail {row[p]['detail_ratio']:.2f}, "
                    f"{row[p]['fps']:.1f} fps" for p in PATHS), flush=True)
                if sheets:
                    sheet_for_pair(runs, subject, RESULTS / f"full_resolution_{photo.stem}_{clip.stem}.png")
    return rows


def bar_4(animators: dict, photo: Path, driving: list[Path], seconds: float, repeats: int) -> list[dict]:
    """Speed rows: one subject, each clip rendered by the two paths in turn, `repeats` times
    (model, photo, model, photo, ...). The best run of each path counts: other work on a
    shared machine only ever slows a run down, so the fastest is the least disturbed."""
    subject = animators["photo"].encode_subject(photo)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in driving:
            times, cpu = {p: [] for p in PATHS}, {p: [] for p in PATHS}
            for _ in range(repeats):
                for p in PATHS:
                    r = run(animators[p], subject, clip, seconds, every=10**9, folder=Path(tmp))
                    times[p].append(r["seconds"])
                    cpu[p].append(r["cpu_s"])
            row = {"subject": photo.stem, "driving": clip.stem, "size": list(subject.frame_size),
                   "frames": r["frames"], "seconds": times, "cpu_seconds": cpu,
                   **{f"fps_{p}": r["frames"] / min(times[p]) for p in PATHS}}
            row["ratio"] = row["fps_photo"] / row["fps_model"]
            # CPU time is less exposed to other processes than wall time: a second opinion on the ratio
            row["cpu_ratio"] = min(cpu["model"]) / min(cpu["photo"])
            rows.append(row)
            print(f"speed {clip.stem}: model {row['fps_model']:.1f}, photo {row['fps_photo']:.1f} frames/s "
                  f"(best of {repeats}), ratio {row['ratio']:.2f}, CPU-time ratio {row['cpu_ratio']:.2f}", flush=True)
    return rows


def heldout_clips(limit: int) -> list[Path]:
    """The model card's test clips (whole clips held out of training)."""
    groups = json.loads((RESULTS / "eval_heldout.json").read_text())["groups"]
    clips = [SHARED / "data" / "train" / "videos" / f"{g}.mp4" for g in groups]
    return [c for c in clips if c.exists()][:limit]


def bar_3(synth, clips: list[Path], seconds: float, every: int, estimator) -> list[dict]:
    """Reconstruct each held-out clip from its own first frame at its own resolution. The
    person's box comes from MediaPipe on the real frame (the target's when it finds nobody);
    how far the target joints lie from the real ones is reported too, since a misplaced
    target costs SSIM however sharp the render."""
    from vunet_video.video import VideoReader

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            with VideoReader(clip, end=seconds) as reader:
                real = {f.index: f.image for f in reader}
            first = real[min(real)]
            # size 0: the canvas is the first frame's own size, i.e. the clip's resolution
            animators = make_animators(0, synth, size=0, background="subject")
            subject = animators["photo"].encode_subject(first)
            runs = {p: run(animators[p], subject, clip, seconds, every, Path(tmp)) for p in PATHS}
            scores = {m: {"ssim": [], "l1": []} for m in ("unchanged", *PATHS)}
            offsets = []
            frames = [i for i in sorted(runs["photo"]["kept"]) if i != min(real)]  # frame 0 is the input
            for i in frames:
                target = runs["photo"]["kept"][i][1]
                pose = estimate_image_pose(real[i], estimator)
                both = pose.visible(MIN_SCORE) & target.visible(MIN_SCORE)
                if both.any():
                    offsets.append(float(np.median(np.linalg.norm(pose.xy[both] - target.xy[both], axis=1))))
                x0, y0, x1, y1 = scoring_box(pose if both.sum() >= 4 else target, first.shape)
                truth = real[i][y0:y1, x0:x1]
                candidates = {"unchanged": first, **{p: runs[p]["kept"][i][0][..., :3] for p in PATHS}}
                for m, image in candidates.items():
                    s, l1 = ssim_l1(np.ascontiguousarray(image[y0:y1, x0:x1]), truth)
                    scores[m]["ssim"].append(s)
                    scores[m]["l1"].append(l1)
            row = {"clip": clip.stem, "size": list(subject.frame_size), "frames_scored": len(frames),
                   "target_offset_px": float(np.mean(offsets)) if offsets else None,
                   **{m: {k: float(np.mean(v)) for k, v in sc.items()} for m, sc in scores.items()}}
            rows.append(row)
            print(f"recon {clip.stem}: " + "; ".join(f"{m} SSIM {row[m]['ssim']:.3f} L1 {row[m]['l1']:.1f}"
                                                     for m in scores), flush=True)
            shown = pick(frames)
            sheet = [[(real[i], f"real #{i}") for i in shown]]
            sheet += [[(runs[p]["kept"][i][0][..., :3], f"{p} #{i}") for i in shown] for p in PATHS]
            save_sheet(sheet, RESULTS / f"full_resolution_recon_{clip.stem}.png", height=256)
    return rows


# ----------------------------------------------------------------------------- summary and report

def _group_mean(rows: list[dict], path: str, group: str) -> float | None:
    """Mean limb error of one limb group over rows; None where none was compared."""
    total, count = (sum(r[path]["limb_groups"].get(group, [0, 0])[k] for r in rows) for k in (0, 1))
    return total / count if count else None


def pooled(rows: list[dict], path: str) -> dict:
    """Totals over rows: limb error weighted by limbs, detail by frames, speed as total frames / total s."""
    limbs = sum(r[path]["limbs"] for r in rows)
    frames = sum(r[path]["frames"] for r in rows)
    seconds = sum(r[path]["seconds"] for r in rows)
    scored = [r for r in rows if r[path]["detail_ratio"] is not None]
    limbs_any = sum(r[path]["limbs_any_side"] for r in rows)
    return {"limb_error_deg": sum((r[path]["limb_error_deg"] or 0) * r[path]["limbs"] for r in rows) / max(limbs, 1),
            "limbs": limbs,
            "limb_error_any_side_deg": sum((r[path]["limb_error_any_side_deg"] or 0) * r[path]["limbs_any_side"]
                                           for r in rows) / max(limbs_any, 1),
            "detail_ratio": float(np.average([r[path]["detail_ratio"] for r in scored],
                                             weights=[r[path]["frames_scored"] for r in scored])),
            "faint_matte": float(np.average([r[path].get("faint_matte") or 0.0 for r in scored],
                                            weights=[r[path]["frames_scored"] for r in scored])),
            "limb_groups": {g: _group_mean(rows, path, g) for g in LIMBS},
            "frames": frames, "seconds": seconds, "fps": frames / seconds,
            "steady_fps": sum(r[path]["frames"] - 1 for r in rows) / sum(r[path]["steady_s"] for r in rows),
            # each pair's two runs were back to back, so their ratio is the least disturbed by other load
            "median_pair_ratio": float(np.median([r[path]["fps"] / r["model"]["fps"] for r in rows]))}


def machine() -> str:
    import torch

    from vunet_video.model.io import native_bf16

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    name = platform.processor() or platform.machine()
    try:
        name = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    # (Whether bf16 is native decides the decoder's path: the figures of one kind of CPU
    # do not carry over to the other.)
    return (f"{name} ({'native' if native_bf16('cpu') else 'no native'} bf16), {os.cpu_count()} logical cores, "
            f"torch {torch.__version__} ({'CUDA' if torch.cuda.is_available() else 'CPU'}), "
            f"Python {platform.python_version()}; load average (1, 5, 15 min) {load}")


def markdown(report: dict) -> str:
    s, a = report["summary"]["model"], report["summary"]["photo"]
    sp = report["speed_summary"]
    cpu_ratio = (sum(min(r["cpu_seconds"]["model"]) for r in report["speed"]) /
                 sum(min(r["cpu_seconds"]["photo"]) for r in report["speed"]))
    lines = [
        "# Full-resolution rendering: the bars of issue 10, both paths in one run",
        "",
        f"Made by `{report['command']}` on {report['date']}.",
        "",
        f"- machine at start: {report['machine_start']}",
        f"- machine at end: {report['machine_end']}",
        "- before = `render.detail = \"model\"` (the model's 128 px crop scaled up); after = `\"photo\"` (the "
        "photo's own pixels moved by the skinned mesh, the model painting the rest).",
        "- both paths with `model.finetune_steps = 0` (no per-subject fine-tune) unless a row says otherwise; "
        "all other settings are the default preset's (output at the photo's size, background \"subject\").",
        f"- the first {report['seconds']:g} s of each clip; bars 1-2 score every {report['every']}rd frame.",
        "",
        "## Summary",
        "",
        "| bar | target | before (model) | after (photo) |",
        "| --- | --- | ---: | ---: |",
        f"| 1. pose fidelity: mean limb-angle error, all subjects x clips | <= 6 deg | {s['limb_error_deg']:.1f} deg "
        f"| {a['limb_error_deg']:.1f} deg |",
        f"| 1b. the same, left/right labels of the reading allowed to swap per frame | | "
        f"{s['limb_error_any_side_deg']:.1f} deg | {a['limb_error_any_side_deg']:.1f} deg |",
        f"| 2. detail: person-region sharpness / photo's | >= 0.8 | {s['detail_ratio']:.2f} | "
        f"{a['detail_ratio']:.2f} |",
        f"| 2b. faint matte (0.04-0.6) per solid pixel: smudges and soft edges, reported | | "
        f"{s.get('faint_matte', float('nan')):.3f} | {a.get('faint_matte', float('nan')):.3f} |",
    ]
    for r in report["reconstruction"]:
        lines.append(f"| 3. reconstruction {r['clip']} ({r['size'][0]}x{r['size'][1]}): SSIM / L1 (unchanged first "
                     f"frame: {r['unchanged']['ssim']:.3f} / {r['unchanged']['l1']:.1f}) | beat both | "
                     f"{r['model']['ssim']:.3f} / {r['model']['l1']:.1f} | {r['photo']['ssim']:.3f} / "
                     f"{r['photo']['l1']:.1f} |")
    lines += [
        f"| 4. speed: end-to-end frames/s, speed rows (best of {report['repeats']} per path and clip, pooled) "
        f"| photo >= 85% of model | {sp['model']:.2f} | {sp['photo']:.2f} (**{sp['photo'] / sp['model']:.0%}**) |",
        f"| 4b. the same over all bar-1 runs (one run each, more exposed to other load) | | {s['fps']:.2f} | "
        f"{a['fps']:.2f} ({a['fps'] / s['fps']:.0%}) |",
        "",
        "## 1, 2 per subject (pooled over the four clips)",
        "",
        "| subject | limb err model | limb err photo | any side model | any side photo | detail model | detail photo |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[f"| {name} | {m['limb_error_deg']:.1f} | {p['limb_error_deg']:.1f} | {m['limb_error_any_side_deg']:.1f} | "
          f"{p['limb_error_any_side_deg']:.1f} | {m['detail_ratio']:.2f} | {p['detail_ratio']:.2f} |"
          for name, (m, p) in report["per_subject"].items()],
        "",
        "Limb error of the photo path by limb (degrees, pooled over the four clips): which limbs the readings miss.",
        "",
        "| subject | " + " | ".join(LIMBS) + " |",
        "| --- |" + " ---: |" * len(LIMBS),
        *[f"| {name} | " + " | ".join("-" if p["limb_groups"][g] is None else f"{p['limb_groups'][g]:.1f}"
                                      for g in LIMBS) + " |"
          for name, (_, p) in report["per_subject"].items()],
        "",
        "## 1, 2, 4 per subject x clip",
        "",
        "Limb error in degrees (limbs with both joints seen and inside the frame in both the target and MediaPipe's "
        "reading of the output inside the target's box padded by a quarter of its size; 'limbs' counts them, over "
        "all scored frames); detail = "
        "mean Sobel magnitude inside the matte / the photo's inside its mask; frames/s end to end (decode, pose, "
        "render, compose, H.264 encode).",
        "",
        "| subject | clip | size | limb err model | limb err photo | limbs (m/p) | no person (m/p) | detail model "
        "| detail photo | fps model | fps photo | photo/model |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def num(v, fmt):
        return "-" if v is None else format(v, fmt)

    for r in report["pairs"] + report.get("finetune_pairs", []):
        m, p = r["model"], r["photo"]
        name = r["subject"] + (" (fine-tuned)" if r.get("finetune") else "")
        lines.append(f"| {name} | {r['driving']} | {r['size'][0]}x{r['size'][1]} | {num(m['limb_error_deg'], '.1f')} "
                     f"| {num(p['limb_error_deg'], '.1f')} | {m['limbs']}/{p['limbs']} | {m['no_person_found']}/"
                     f"{p['no_person_found']} | {num(m['detail_ratio'], '.2f')} | {num(p['detail_ratio'], '.2f')} | "
                     f"{m['fps']:.2f} | {p['fps']:.2f} | {p['fps'] / m['fps']:.0%} |")
    if report.get("finetune_summary"):
        fs = report["finetune_summary"]
        lines += ["", f"With the default fine-tune ({report['finetune_steps']} steps) on {FINETUNE_SUBJECT} x "
                      f"{FINETUNE_CLIP} (the \"(fine-tuned)\" row): limb error model "
                      f"{fs['model']['limb_error_deg']:.1f} / photo "
                      f"{fs['photo']['limb_error_deg']:.1f} deg; detail model {fs['model']['detail_ratio']:.2f} / "
                      f"photo {fs['photo']['detail_ratio']:.2f}. The same pair without it: see its row above."]
    lines += [
        "",
        "## 3. Reconstruction of the held-out clips",
        "",
        "The subject is the clip's first frame, the driving video the clip itself, output at the clip's own size, "
        "background \"subject\" (the first frame with the person painted out) for both paths. Scored against the "
        f"real frames (every {report['every']}rd, frame 0 excluded) inside the person's box: the joint extent of "
        "MediaPipe's pose of the real frame, padded by 10% of its size. SSIM on colour in [0, 1] (11 px Gaussian "
        "window); L1 in 0-255. Last column: median distance between the target's joints (the clip's own pose "
        "retargeted onto its first frame) and MediaPipe's on the real frame; a misplaced target costs SSIM "
        "however sharp the render.",
        "",
        "| clip | size | frames | unchanged SSIM | model SSIM | photo SSIM | unchanged L1 | model L1 | photo L1 "
        "| target vs real joints (px) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in report["reconstruction"]:
        lines.append(f"| {r['clip']} | {r['size'][0]}x{r['size'][1]} | {r['frames_scored']} | "
                     f"{r['unchanged']['ssim']:.3f} "
                     f"| {r['model']['ssim']:.3f} | {r['photo']['ssim']:.3f} | {r['unchanged']['l1']:.1f} | "
                     f"{r['model']['l1']:.1f} | {r['photo']['l1']:.1f} | {num(r['target_offset_px'], '.1f')} |")
    lines += [
        "",
        "## 4. Speed",
        "",
        f"Speed rows: subject {report['speed'][0]['subject']}, output at its size "
        f"({report['speed'][0]['size'][0]}x{report['speed'][0]['size'][1]}), each clip rendered model, photo, model, "
        f"photo, ... ({report['repeats']} runs per path) into an .mp4 in a temp folder; end-to-end seconds of every "
        "run listed, frames/s from the fastest (other work on the machine only slows runs down).",
        "",
        "| clip | frames | model s (runs) | photo s (runs) | model frames/s | photo frames/s | photo/model "
        "| CPU s model (runs) | CPU s photo (runs) | photo/model by CPU time |",
        "| --- | ---: | --- | --- | ---: | ---: | ---: | --- | --- | ---: |",
        *[f"| {r['driving']} | {r['frames']} | {', '.join(f'{x:.2f}' for x in r['seconds']['model'])} | "
          f"{', '.join(f'{x:.2f}' for x in r['seconds']['photo'])} | {r['fps_model']:.2f} | {r['fps_photo']:.2f} | "
          f"{r['ratio']:.0%} | {', '.join(f'{x:.2f}' for x in r['cpu_seconds']['model'])} | "
          f"{', '.join(f'{x:.2f}' for x in r['cpu_seconds']['photo'])} | {r['cpu_ratio']:.0%} |"
          for r in report["speed"]],
        "",
        f"Pooled by CPU time (best run per path and clip): photo/model {cpu_ratio:.0%}. CPU time counts every "
        "thread of the process (decode, pose, torch, the PyAV encoder). It was meant as a second opinion less "
        "exposed to other work on the machine, but it rises with wall time under load (torch's threads keep "
        "spinning while they wait), so it is no better a guide. A pair whose repeats agree (e.g. within 5%) is "
        "the trustworthy kind; a path's two runs differing by 2x or more mean other work took the CPU.",
        "",
        f"Also the bar 1 runs, the two paths back to back on every subject x clip (which path went first alternates). "
        f"Pooled end to end: model {s['frames']} frames in {s['seconds']:.1f} s = {s['fps']:.2f} frames/s; "
        f"photo {a['frames']} "
        f"frames in {a['seconds']:.1f} s = {a['fps']:.2f} frames/s; ratio photo/model **{a['fps'] / s['fps']:.2f}** "
        f"(median of the per-pair ratios: {a['median_pair_ratio']:.2f}). "
        f"Steady rate (from the first output frame to the last, so without opening the clip, the pose "
        f"look-ahead, the first batch and, for photo, building the mesh): model {s['steady_fps']:.2f}, photo "
        f"{a['steady_fps']:.2f} frames/s, ratio {a['steady_fps'] / s['steady_fps']:.2f}. "
        "Subject encoding (pose, mask, plate, appearance) is done once per subject, outside the timing. "
        "The machine is shared: absolute figures move with its load, the ratio much less.",
        "",
        "## Caveats",
        "",
        "- MediaPipe reads one person per frame, the most prominent one: the output is read inside the target's "
        "box (padded by a quarter) so that the bystanders of ultralytics_bus, left in its background plate, are "
        "not read instead; one standing close to the animated person can still be.",
        "- skimage_astronaut is a half-body photo: its target legs fall below the frame and are not compared, and "
        "few limbs are left; its errors are dominated by arms MediaPipe reads on a torso-only figure.",
        "- kaiakol_dance_rooftop: the dancer leaves the frame on the left within the first 3 s and the retargeted "
        "target follows; limbs outside the canvas are not compared, and frames with the person mostly out are "
        "cheap to render (this is why photo can beat model on speed there).",
        "- Speed: this machine has 2 cores shared with other work; a run's wall time can double from one run to the "
        "next. Read the speed table's per-run seconds, not only the pooled ratio.",
        "",
        "## Contact sheets",
        "",
        "`full_resolution_<subject>_<clip>.png`: the subject, then four frames; rows: model (before), photo (after), "
        "the target pose. `full_resolution_recon_<clip>.png`: rows real frame, model, photo.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="render the first this many seconds of each clip")
    ap.add_argument("--every", type=int, default=3, help="score every n-th frame")
    ap.add_argument("--quick", action="store_true",
                    help="2 subjects x 2 clips, 1 held-out clip, 1.5 s, no fine-tune row")
    ap.add_argument("--no-finetune-row", action="store_true", help="skip the extra fine-tuned subject")
    ap.add_argument("--heldout", type=int, default=4, help="at most this many held-out clips for bar 3")
    ap.add_argument("--speed-seconds", type=float, default=2.0, help="speed rows: the first this many seconds")
    ap.add_argument("--markdown-only", action="store_true",
                    help="rewrite full_resolution.md from the existing full_resolution.json; run nothing")
    ap.add_argument("--repeats", type=int, default=2, help="speed rows: runs per path and clip (the best counts)")
    args = ap.parse_args(argv)
    if args.markdown_only:
        (RESULTS / "full_resolution.md").write_text(markdown(json.loads((RESULTS / "full_resolution.json").read_text())))
        return
    subjects, driving, heldout = SUBJECTS, DRIVING, heldout_clips(args.heldout)
    if args.quick:
        subjects, driving, heldout = subjects[:2], driving[:2], heldout[:1]
        args.seconds, args.speed_seconds = min(args.seconds, 1.5), min(args.speed_seconds, 1.5)
    RESULTS.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python benchmarks/full_resolution.py", *(sys.argv[1:] if argv is None else argv)])
    now = datetime.datetime.now(datetime.timezone.utc)
    report = {"command": command, "date": now.strftime("%Y-%m-%d %H:%M UTC"),
              "machine_start": machine(), "seconds": args.seconds, "every": args.every, "finetune_steps_main": 0,
              "repeats": args.repeats}
    t0 = time.perf_counter()
    estimator = make_estimator("mediapipe")
    animators = make_animators(0)
    report["pairs"] = bars_1_2_4(animators, subjects, driving, args.seconds, args.every, estimator, sheets=True)
    report["summary"] = {p: pooled(report["pairs"], p) for p in PATHS}
    report["per_subject"] = {s.stem: [pooled([r for r in report["pairs"] if r["subject"] == s.stem], p) for p in PATHS]
                             for s in subjects}
    speed_subject = next((p for p in subjects if p.stem == FINETUNE_SUBJECT), subjects[0])
    report["speed"] = bar_4(animators, speed_subject, driving, args.speed_seconds, args.repeats)
    report["speed_summary"] = {p: sum(r["frames"] for r in report["speed"]) /
                               sum(min(r["seconds"][p]) for r in report["speed"]) for p in PATHS}
    report["reconstruction"] = bar_3(animators["photo"].synth, heldout, args.seconds, args.every, estimator)
    if not (args.quick or args.no_finetune_row):
        tuned = make_animators(_default_finetune(), animators["photo"].synth)
        report["finetune_steps"] = tuned["photo"].settings.model.finetune_steps
        rows = bars_1_2_4(tuned, [p for p in subjects if p.stem == FINETUNE_SUBJECT],
                          [c for c in driving if c.stem == FINETUNE_CLIP], args.seconds,
                          args.every, estimator, sheets=False, tag="fine-tuned: ")
        for r in rows:
            r["finetune"] = True
        report["finetune_pairs"] = rows
        report["finetune_summary"] = {p: pooled(rows, p) for p in PATHS}
    getattr(estimator, "close", lambda: None)()
    report["machine_end"] = machine()
    report["total_seconds"] = time.perf_counter() - t0
    (RESULTS / "full_resolution.json").write_text(json.dumps(report, indent=1) + "\n")
    (RESULTS / "full_resolution.md").write_text(markdown(report))
    print(markdown(report))
    print(f"total {report['total_seconds']:.0f} s")


def _default_finetune() -> int:
    """The default preset's fine-tune steps."""
    from vunet_video.presets import load_settings

    return load_settings("default").model.finetune_steps


if __name__ == "__main__":
    main()
