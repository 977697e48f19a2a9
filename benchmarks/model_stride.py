"""What `render.model_stride` trades: speed against the model's share of each frame.

    python benchmarks/model_stride.py [--seconds 4] [--strides 1,2,3] [--presets fast,default] [--repeats 2]
                                      [--video CLIP ...]

On the photo path the VUNet paints what the moved photo pixels cannot supply (turned backs,
limbs the photo does not show, the matte away from the mesh). With model_stride N it renders
every Nth frame and the frames between reuse that render, moved onto their own pose
(render/full_resolution.py `carried`).
For each preset (at its own output size; `default` at 1280 px), the dev subject and every dev
driving clip (first --seconds), per stride:

* speed: end-to-end and steady frames/s (from the first output frame to the last), an .mp4
  written to a temp folder, the strides interleaved --repeats times, the best run counting;
* quality, from one more run per stride with the frames kept:
  - agreement with stride 1: SSIM and L1 of each frame against stride 1's same frame inside
    the target's box (the same inputs, so this is what the stride changes, and nothing else),
    and the share of frames with small smudges (SMUDGE_SHARE of the pixels SMUDGE_LEVELS off);
  - pose fidelity: MediaPipe on every 3rd frame against its target (full_resolution.py's
    limb-angle error);
  - flicker: render/compose.py's FlickerMeter over all frames (person warping error).

Writes benchmarks/results/model_stride.{json,md} (with --video: model_stride_<clips>.{json,md}).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import full_resolution as fr  # noqa: E402  (also puts the repository on sys.path)

from vunet_video.pose import make_estimator  # noqa: E402
from vunet_video.render.compose import FlickerMeter  # noqa: E402

SUBJECT = next(p for p in fr.SUBJECTS if p.stem == fr.FINETUNE_SUBJECT)
SIZES = {"default": 1280}  # render.size per preset; the others keep their own


def animator(preset: str, stride: int, synth=None) -> fr.RecordingAnimator:
    overrides = {"render.model_stride": stride, "model.finetune_steps": 0}
    if preset in SIZES:
        overrides["render.size"] = SIZES[preset]
    return fr.RecordingAnimator(preset=preset, synthesizer=synth, **overrides)


def timed_run(anim, subject, clip: Path, seconds: float, folder: Path) -> dict:
    stamps = []
    result = anim.animate(subject, clip, folder / "out.mp4", end=seconds, overwrite=True, quiet=True,
                          on_frame=lambda i, t, f: stamps.append(time.perf_counter()))
    return {"fps": result.frames / result.seconds,
            "steady_fps": (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else None}


def kept_run(anim, subject, clip: Path, seconds: float, folder: Path) -> dict:
    """Every frame (RGBA) with its target, and the flicker of the stream."""
    frames, meter = {}, FlickerMeter()

    def keep(index, t, rgba):
        frames[index] = rgba.copy()
        meter.update(rgba)

    anim.animate(subject, clip, folder / "out.mp4", end=seconds, overwrite=True, quiet=True, on_frame=keep)
    return {"frames": frames, "targets": dict(anim.targets), "flicker": meter.summary()}


# A frame counts as smudged when more than this share of its pixels is 20 or more levels
# (0-255, any channel) off the reference's: the quick start's grey smudges beside fast arms
# were 300-1100 pixels of its 480x640 frames, which the box SSIM does not see.
SMUDGE_LEVELS, SMUDGE_SHARE = 20, 0.001


def agreement(run: dict, reference: dict) -> tuple[float, float, float]:
    """Mean SSIM and L1 of run's frames against reference's inside each target's box, and
    the share of frames smudged (SMUDGE_SHARE of the frame SMUDGE_LEVELS off)."""
    ssims, l1s, smudged = [], [], []
    for index, rgba in run["frames"].items():
        target = run["targets"][index]
        off = np.abs(rgba[..., :3].astype(np.int16) - reference["frames"][index][..., :3]).max(2) >= SMUDGE_LEVELS
        smudged.append(off.mean() > SMUDGE_SHARE)
        x0, y0, x1, y1 = fr.scoring_box(target, rgba.shape)
        a = np.ascontiguousarray(rgba[y0:y1, x0:x1, :3])
        b = np.ascontiguousarray(reference["frames"][index][y0:y1, x0:x1, :3])
        if min(a.shape[:2]) >= 16:  # (a box mostly off the canvas: too small for SSIM's window)
            s, l1 = fr.ssim_l1(a, b)
            ssims.append(s)
            l1s.append(l1)
    return float(np.mean(ssims)), float(np.mean(l1s)), float(np.mean(smudged))


def measure(preset: str, strides: list[int], seconds: float, repeats: int, estimator, clips: list[Path]) -> list[dict]:
    rows = []
    anims = {}
    synth = None
    for stride in strides:
        anims[stride] = animator(preset, stride, synth)
        synth = anims[stride].synth
    subject = anims[strides[0]].encode_subject(SUBJECT)
    sharp = fr.sharpness(subject.image, subject.pose.mask > 0.5)
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            speed = {s: [] for s in strides}
            for r in range(repeats):
                for stride in (strides if r % 2 == 0 else strides[::-1]):
                    speed[stride].append(timed_run(anims[stride], subject, clip, seconds, Path(tmp)))
            kept = {s: kept_run(anims[s], subject, clip, seconds, Path(tmp)) for s in strides}
            for stride in strides:
                k = kept[stride]
                every = {i: (k["frames"][i], k["targets"][i]) for i in sorted(k["frames"]) if i % 3 == 0}
                scores = fr.score_frames(every, estimator, sharp)
                ssim, l1, smudged = agreement(k, kept[strides[0]])
                best = max(speed[stride], key=lambda x: x["fps"])
                rows.append({"preset": preset, "clip": clip.stem, "stride": stride, "size": list(subject.frame_size),
                             "fps": best["fps"], "steady_fps": best["steady_fps"],
                             "fps_runs": [round(x["fps"], 2) for x in speed[stride]],
                             "limb_error_deg": scores["limb_error_deg"], "limbs": scores["limbs"],
                             "warp_error": k["flicker"]["person_warp_error"],
                             "ssim_vs_1": ssim, "l1_vs_1": l1, "smudged_vs_1": smudged})
                print(f"{preset} {clip.stem} stride {stride}: {best['fps']:.1f} fps (steady "
                      f"{best['steady_fps']:.1f}), limb {scores['limb_error_deg']:.1f} deg, warp error "
                      f"{k['flicker']['person_warp_error']:.2f}, vs stride 1 SSIM {ssim:.3f} L1 {l1:.2f} smudged "
                      f"{100 * smudged:.0f}%", flush=True)
    return rows


def pooled(rows: list[dict], preset: str, stride: int) -> dict:
    rr = [r for r in rows if r["preset"] == preset and r["stride"] == stride]
    limbs = sum(r["limbs"] for r in rr)
    return {"fps": float(np.mean([r["fps"] for r in rr])), "steady_fps": float(np.mean([r["steady_fps"] for r in rr])),
            "limb_error_deg": sum(r["limb_error_deg"] * r["limbs"] for r in rr) / max(limbs, 1),
            "warp_error": float(np.mean([r["warp_error"] for r in rr])),
            "ssim_vs_1": float(np.mean([r["ssim_vs_1"] for r in rr])), "l1_vs_1": float(np.mean([r["l1_vs_1"] for r in rr])),
            "smudged_vs_1": float(np.mean([r["smudged_vs_1"] for r in rr]))}


def markdown(report: dict) -> str:
    lines = ["# `render.model_stride`: the model on every Nth frame of the photo path", "",
             f"Made by `{report['command']}` on {report['date']}.", "",
             f"- machine: {report['machine']}",
             f"- subject `{SUBJECT.name}`, the dev driving clips' first {report['seconds']:g} s, no fine-tune; "
             "each preset at its own output size (`default` at 1280 px).",
             "- frames/s: end to end (decode, pose, render, compose, H.264 encode into a temp file) and steady "
             "(first output frame to last), the strides interleaved, best of "
             f"{report['repeats']} runs; the machine's other work only slows runs down.",
             "- vs stride 1: SSIM (colour in [0, 1]) and L1 (0-255) of each frame against the same frame at "
             "stride 1, inside the target's box: what the stride changes; smudged: the share of frames with "
             f"over {100 * SMUDGE_SHARE:g}% of their pixels {SMUDGE_LEVELS}+ levels off stride 1's (small "
             "smudges the box SSIM does not see).",
             "- limb error: MediaPipe on every 3rd frame against its target (degrees); warp error: FlickerMeter's "
             "person warping error (lower = steadier).", "",
             "## Pooled over the clips", "",
             "| preset | stride | frames/s | steady frames/s | limb error | warp error | SSIM vs 1 | L1 vs 1 | smudged |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for (preset, stride), p in sorted((tuple(k.split(":")), v) for k, v in report["pooled"].items()):
        lines.append(f"| {preset} | {stride} | {p['fps']:.1f} | {p['steady_fps']:.1f} | {p['limb_error_deg']:.1f} | "
                     f"{p['warp_error']:.2f} | {p['ssim_vs_1']:.3f} | {p['l1_vs_1']:.2f} | "
                     f"{100 * p['smudged_vs_1']:.0f}% |")
    lines += ["", "## Per clip", "",
              "| preset | clip | size | stride | frames/s (runs) | steady | limb error (limbs) | warp error | SSIM vs 1 "
              "| L1 vs 1 | smudged |",
              "| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in report["rows"]:
        lines.append(f"| {r['preset']} | {r['clip']} | {r['size'][0]}x{r['size'][1]} | {r['stride']} | {r['fps']:.1f} "
                     f"({', '.join(str(x) for x in r['fps_runs'])}) | {r['steady_fps']:.1f} | "
                     f"{r['limb_error_deg']:.1f} ({r['limbs']}) | {r['warp_error']:.2f} | {r['ssim_vs_1']:.3f} | "
                     f"{r['l1_vs_1']:.2f} | {100 * r['smudged_vs_1']:.0f}% |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=4.0, help="the first S seconds of each clip")
    ap.add_argument("--strides", default="1,2,3", help="model strides to compare (the first is the reference)")
    ap.add_argument("--presets", default="fast,default")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per stride and clip, interleaved")
    ap.add_argument("--video", type=Path, action="append",
                    help="driving clip (repeatable); default: the four dev clips")
    args = ap.parse_args()
    strides = [int(s) for s in args.strides.split(",")]
    now = datetime.datetime.now(datetime.timezone.utc)
    report = {"command": "python benchmarks/model_stride.py " + " ".join(sys.argv[1:]),
              "date": now.strftime("%Y-%m-%d %H:%M UTC"), "machine": fr.machine(), "seconds": args.seconds,
              "repeats": args.repeats, "rows": []}
    estimator = make_estimator("mediapipe")
    for preset in args.presets.split(","):
        report["rows"] += measure(preset, strides, args.seconds, args.repeats, estimator, args.video or fr.DRIVING)
    report["pooled"] = {f"{p}:{s}": pooled(report["rows"], p, s)
                        for p in args.presets.split(",") for s in strides}
    fr.RESULTS.mkdir(parents=True, exist_ok=True)
    name = "model_stride" if not args.video else "model_stride_" + "_".join(v.stem for v in args.video)
    (fr.RESULTS / f"{name}.json").write_text(json.dumps(report, indent=1))
    (fr.RESULTS / f"{name}.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
