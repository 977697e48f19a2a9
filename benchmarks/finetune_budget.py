"""The per-subject fine-tune's budget: what each number of steps buys, and what it costs.

    python benchmarks/finetune_budget.py [--steps 0,25,50,100] [--seconds 4] [--every 3]
        [--parts cost,reconstruction,back,cross]

--parts: a part not asked for is kept from an existing report (so a part can be added later).

`model.finetune_steps` is most of the wait for the first frame of a new subject, the
more so on a CPU without native bf16, where the tune runs in fp32 (model/finetune.py).
This measures, for each step count, on the default path (render.detail "photo"):

1. Reconstruction, as benchmarks/model_v2.py scores it: the validation and test clips,
   subject = the clip's first frame, person-box SSIM, L1, perceptual distance and limb
   error against the real frames; also on the large-pose-change frames alone.
2. Cross-person transfer (no ground truth): the two full-body dev subjects x the two
   validation clips, limb error and detail (model_v2.py's cross_person).
4. Cost: the subject encoding with its tune, timed with the tune cache off, on the dev
   subject photo (the quick start's), best of --repeats.
5. Faint matte: what the tune was first kept for (0.3.9), the model's soft silhouette
   leaving faint grey smudges beside the body. Over the output's matte on the quick start
   and the four dev photos (each with one dev clip, first --seconds), the pixels between
   0.04 and 0.6 per solid one (>= 0.6), as full_resolution.py's bar 2b counts them.

The shipped weights, the default preset otherwise. Writes
benchmarks/results/finetune_budget.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

from full_resolution import RESULTS, SHARED, RecordingAnimator, machine, scoring_box, ssim_l1  # noqa: E402
from model_v2 import CLIPS, cross_person, perceptual, reconstruct, summarise  # noqa: E402
from views import AWAY, CATWALKS, render  # noqa: E402
from vunet_video.model.io import load_model  # noqa: E402
from vunet_video.pipeline import Animator  # noqa: E402
from vunet_video.pose import estimate_image_pose, make_estimator  # noqa: E402
from vunet_video.pose.keypoints import MIN_SCORE  # noqa: E402
from vunet_video.render.mesh import facing  # noqa: E402
from vunet_video.render.synthesizer import Synthesizer  # noqa: E402
from vunet_video.train.evaluate import LARGE_CHANGE  # noqa: E402

PHOTO = SHARED / "data/dev/subjects/deepfashion_women_blouse_00004955.jpg"
PARTS = ("cost", "reconstruction", "back", "cross", "faint")
# (photo, driving clip) pairs for the faint matte: the quick start and each dev photo.
FAINT_PAIRS = [(REPO / "samples/subject.png", REPO / "samples/dance.mp4")] + [
    (SHARED / "data/dev/subjects" / photo, SHARED / "data/dev/driving" / clip) for photo, clip in
    (("deepfashion_women_blouse_00004955.jpg", "musepose_dance.mp4"), ("ccp_heldout_2093.jpg", "kaiakol_dance_rooftop.mp4"),
     ("ultralytics_bus.jpg", "unianimate_source_video.mp4"), ("skimage_astronaut.png", "sports2d_lateral_raise.mp4"))]


def tune_seconds(synth, steps: int, repeats: int) -> float:
    """Seconds of encode_subject (pose, mask, plate, mesh, appearance and the tune) with
    the tune cache off: what a new subject costs before its first frame."""
    animator = Animator(synthesizer=synth, **{"model.finetune_steps": steps, "model.finetune_cache": False})
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        animator.encode_subject(PHOTO)
        best = min(best, time.perf_counter() - start)
    return float(best)


def faint_matte(synth, steps: int, seconds: float) -> dict:
    """Per FAINT_PAIRS photo and pooled: the output matte's faint pixels (0.04-0.6) per solid
    one (>= 0.6), with `steps` of tune."""
    animator = Animator(synthesizer=synth, **{"model.finetune_steps": steps})
    out, faint, solid = {}, 0, 0
    for photo, clip in FAINT_PAIRS:
        counts = [0, 0]

        def count(i, t, rgba):
            alpha = rgba[..., 3]
            counts[0] += int(((alpha > 0.04 * 255) & (alpha < 0.6 * 255)).sum())
            counts[1] += int((alpha >= 0.6 * 255).sum())

        animator.animate(animator.encode_subject(photo), clip, None, on_frame=count, end=seconds)
        out[photo.stem] = counts[0] / max(1, counts[1])
        faint, solid = faint + counts[0], solid + counts[1]
    out["pooled"] = faint / max(1, solid)
    print(f"  faint matte per solid pixel, {steps} steps: {out['pooled']:.4f}", flush=True)
    return out


def back_views(synth, steps: int, every: int, estimator, tmp: Path) -> dict:
    """Per catwalk clip: SSIM, L1 and perceptual distance on the frames whose real pose faces
    away, the clip rendered from its own first frame with `steps` of tune (and the unchanged
    first frame on the same frames)."""
    from vunet_video.video import VideoReader

    out = {}
    for clip in CATWALKS:
        with VideoReader(clip) as reader:
            real = {f.index: f.image for f in reader}
        first = real[min(real)]
        animator = RecordingAnimator(synthesizer=synth, size=0, background="subject",
                                     **{"model.finetune_steps": steps})
        frames = render(animator, animator.encode_subject(first), clip, None, every, tmp, True)
        scores = {m: {"ssim": [], "l1": [], "perceptual": []} for m in ("unchanged", "tuned")}
        for i, (rgb, _) in frames.items():
            pose = estimate_image_pose(real[i], estimator)
            f = facing(pose, MIN_SCORE)
            if i == min(real) or f is None or f <= AWAY:
                continue
            x0, y0, x1, y1 = scoring_box(pose, first.shape)
            truth = real[i][y0:y1, x0:x1]
            for m, image in (("unchanged", first), ("tuned", rgb)):
                crop = np.ascontiguousarray(image[y0:y1, x0:x1])
                s, l1 = ssim_l1(crop, truth)
                scores[m]["ssim"].append(s)
                scores[m]["l1"].append(l1)
                scores[m]["perceptual"].append(perceptual(crop, truth))
        out[clip.stem] = {"frames": len(scores["tuned"]["ssim"]),
                          **{m: {k: float(np.mean(v)) if v else None for k, v in sc.items()} for m, sc in scores.items()}}
        r = out[clip.stem]["tuned"]
        print(f"  back views {clip.stem}: {out[clip.stem]['frames']} frames, SSIM {r['ssim']:.4f} L1 {r['l1']:.2f}",
              flush=True)
    return out


def markdown(report: dict) -> str:
    rows = report["rows"]
    lines = [f"# Fine-tune budget: quality and cost per step count ({report['date']})", "",
             f"Made by `python benchmarks/finetune_budget.py` on {report['machine']}. Shipped weights, default "
             f"path (render.detail photo), first {report['seconds']} s of each clip, every {report['every']}th "
             "frame scored inside the person's box against the real frames (subject = the clip's first frame). "
             "Perceptual: EfficientNet-Lite0 evaluation layers (lower is better). Limb error: MediaPipe on the "
             "output against the target pose (degrees). Cost: `encode_subject` with the tune cache off "
             f"(the dev subject photo, best of {report['repeats']}).", "",
             "| steps | subject encoding s | set | frames | SSIM | L1 | perceptual | limb error | "
             f"large change (>= {LARGE_CHANGE}): frames / SSIM / L1 / limb |",
             "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |"]

    def cells(r):
        limb = "-" if r["limb_error_deg"] is None else f"{r['limb_error_deg']:.2f}"
        return f"{r['ssim']:.4f} | {r['l1']:.2f} | {r['perceptual']:.4f} | {limb}"

    def large(sub, m):
        r = sub[m]
        if not sub["frames"]:
            return "-"
        limb = "-" if r["limb_error_deg"] is None else f"{r['limb_error_deg']:.2f}"
        return f"{sub['frames']} / {r['ssim']:.4f} / {r['l1']:.2f} / {limb}"

    for split in CLIPS:
        base = report["unchanged"][split]
        lines.append(f"| - | - | {split}: unchanged first frame | {base['all']['frames']} | "
                     f"{cells(base['all']['unchanged'])} | {large(base['large'], 'unchanged')} |")
    for row in rows:
        for split in CLIPS:
            s = row["reconstruction"][split]
            lines.append(f"| {row['steps']} | {row.get('encode_s', float('nan')):.1f} | {split} | {s['all']['frames']} | "
                         f"{cells(s['all']['tuned'])} | {large(s['large'], 'tuned')} |")
    if any("back_views" in row for row in rows):
        lines += ["", "Back views: the catwalk clips from their own first frame (facing the camera), scored on the "
                  "frames whose real pose faces away (SSIM / L1 / perceptual):", "",
                  "| steps | " + " | ".join(c.stem for c in CATWALKS) + " |", "| ---: |" + " --- |" * len(CATWALKS)]
        for label, method, rs in [("unchanged first frame", "unchanged", rows[:1])] + \
                [(str(r["steps"]), "tuned", [r]) for r in rows]:
            for row in rs:
                if "back_views" not in row:
                    continue
                cells = []
                for c in CATWALKS:
                    b = row["back_views"][c.stem]
                    m = b[method]
                    cells.append(f"{b['frames']} frames: {m['ssim']:.4f} / {m['l1']:.2f} / {m['perceptual']:.4f}"
                                 if m["ssim"] is not None else "-")
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Cross-person transfer (2 full-body dev subjects x 2 validation clips; no ground truth):", "",
              "| steps | limb error (deg) | detail ratio |", "| ---: | ---: | ---: |"]
    for row in rows:
        c = row.get("cross_person")
        if c is None:
            continue
        lines.append(f"| {row['steps']} | {c['limb_error_deg']:.2f} | {c['detail_ratio']:.3f} |")
    faint = [row for row in rows if "faint_matte" in row]
    if faint:
        names = [k for k in faint[0]["faint_matte"] if k != "pooled"]
        lines += ["", "Faint matte (0.04-0.6) per solid pixel (>= 0.6) of the output, first "
                  f"{report.get('faint_seconds', report['seconds'])} s (lower: fewer smudges and soft edges):", "",
                  "| steps | " + " | ".join(names) + " | pooled |", "| ---: |" + " ---: |" * (len(names) + 1)]
        for row in faint:
            f = row["faint_matte"]
            lines.append(f"| {row['steps']} | " + " | ".join(f"{f[n]:.4f}" for n in names) + f" | {f['pooled']:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", default="0,25,50,100")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--every", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--out", type=Path, default=RESULTS / "finetune_budget")
    args = ap.parse_args(argv)
    parts = set(args.parts.split(","))

    synth = Synthesizer(load_model(None))
    estimator = make_estimator("mediapipe")
    path = args.out.parent / (args.out.name + ".json")  # (not with_suffix: a name may hold a version)
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
              "seconds": args.seconds, "every": args.every, "repeats": args.repeats, "rows": [], "unchanged": {}}
    old = {}
    if path.exists() and parts != set(PARTS):
        kept = json.loads(path.read_text())
        report.update({k: kept[k] for k in ("date", "machine", "seconds", "every", "repeats", "unchanged", "faint_seconds")
                       if k in kept})
        old = {row["steps"]: row for row in kept["rows"]}
    with tempfile.TemporaryDirectory() as tmp:
        for steps in [int(s) for s in args.steps.split(",")]:
            row = old.get(steps, {"steps": steps})
            if "cost" in parts:
                row["encode_s"] = tune_seconds(synth, steps, args.repeats)
                print(f"{steps} steps: subject encoding {row['encode_s']:.1f} s", flush=True)
            if "reconstruction" in parts:
                row["reconstruction"] = {}
                for split, clips in CLIPS.items():
                    records = []
                    for clip in clips:
                        records += reconstruct({"tuned": synth}, clip, args.seconds, args.every, steps, estimator,
                                               Path(tmp))
                    large = [r for r in records if r["change"] >= LARGE_CHANGE]
                    row["reconstruction"][split] = {"all": summarise(records, ["tuned"]),
                                                    "large": summarise(large, ["tuned"])}
                    report["unchanged"].setdefault(split, {"all": summarise(records, ["unchanged"]),
                                                           "large": summarise(large, ["unchanged"])})
                    r = row["reconstruction"][split]["all"]["tuned"]
                    print(f"  {split}: SSIM {r['ssim']:.4f} L1 {r['l1']:.2f} limb {r['limb_error_deg']}", flush=True)
            if "back" in parts:
                row["back_views"] = back_views(synth, steps, args.every, estimator, Path(tmp))
            if "cross" in parts:
                row["cross_person"] = cross_person({"tuned": synth}, args.seconds, args.every, steps, estimator,
                                                   Path(tmp))["tuned"]
            if "faint" in parts:
                row["faint_matte"] = faint_matte(synth, steps, args.seconds)
                report["faint_seconds"] = args.seconds
            old[steps] = row
            report["rows"] = [old[k] for k in sorted(old)]
            path.write_text(json.dumps(report, indent=1))
    (args.out.parent / (args.out.name + ".md")).write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
