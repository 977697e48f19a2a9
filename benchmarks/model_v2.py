"""Two sets of VUNet weights compared the way users see them: full-resolution animation.

    python benchmarks/model_v2.py --before vunet_video/weights/vunet_128.safetensors --after runs/v2/vunet.safetensors
        [--seconds 4] [--every 3] [--finetune-steps N]

Both weights run the default path (render.detail "photo": the mesh moves the photo's pixels,
the model paints the rest) with the default per-subject fine-tune, in the same run.

1. Reconstruction (ground truth exists). Each clip of the validation set (the two dev driving
   clips kept out of training: kaiakol_dance_rooftop, sports2d_lateral_raise) and of the test
   set (the held-out training clips ubc_91bxAN6BjAS, taichi_driving2): the subject is the
   clip's first frame, the driving video the clip itself, the output at the clip's own
   resolution, background "subject". Scored on every --every-th frame inside the person's
   box: SSIM and L1 against the real frame, the perceptual distance (model/perceptual.py's
   evaluation layers, the box scaled to 128 px) and pose fidelity (MediaPipe's limb angles on
   the output against the target pose it was rendered from). "unchanged" is the first frame
   itself. Also on the large-pose-change frames alone (pose change >= 0.1 from the first
   frame, train/evaluate.py's measure).
2. Cross-person transfer (no ground truth): the two full-body dev subjects driven by the two
   validation clips; pose fidelity and detail (person sharpness / the photo's), as in
   benchmarks/full_resolution.py.
3. Prior diversity: 8 people drawn from the prior (`vunet-video sample`) in each of 6
   validation poses; the mean pairwise perceptual distance between the 8 (same pose, so only
   appearance differs), against the same measure between real people: the person crops
   (on grey) of different validation and test clips, in pairs of similar pose.

Writes benchmarks/results/model_v2.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

from full_resolution import (RESULTS, SHARED, RecordingAnimator, limb_angle_errors, read_rendered_person,  # noqa: E402
                             run, score_frames, scoring_box, sharpness, ssim_l1)
from vunet_video.model.io import load_model  # noqa: E402
from vunet_video.model.perceptual import EVAL_LAYERS, perceptual_distance  # noqa: E402
from vunet_video.pose import estimate_image_pose, make_estimator  # noqa: E402
from vunet_video.pose.keypoints import MIN_SCORE  # noqa: E402
from vunet_video.render.synthesizer import Synthesizer  # noqa: E402
from vunet_video.train.evaluate import LARGE_CHANGE, pose_change  # noqa: E402

CLIPS = {"validation": [SHARED / "data/dev/driving/kaiakol_dance_rooftop.mp4",
                        SHARED / "data/dev/driving/sports2d_lateral_raise.mp4"],
         "test": [SHARED / "data/train/videos/ubc_91bxAN6BjAS.mp4", SHARED / "data/train/videos/taichi_driving2.mp4"]}
CROSS_SUBJECTS = ["deepfashion_women_blouse_00004955.jpg", "ccp_heldout_2093.jpg"]


def perceptual(a: np.ndarray, b: np.ndarray) -> float:
    ta, tb = (torch.from_numpy(cv2.resize(x, (128, 128), interpolation=cv2.INTER_AREA)).permute(2, 0, 1)[None]
              .float() / 127.5 - 1 for x in (a, b))
    with torch.no_grad():
        return float(perceptual_distance(ta, tb, EVAL_LAYERS)[0])


def reconstruct(synths: dict, clip: Path, seconds: float, every: int, finetune: int, estimator, tmp: Path) -> list:
    """Per scored frame: pose change from the first frame, and per method its scores."""
    from vunet_video.video import VideoReader

    with VideoReader(clip, end=seconds) as reader:
        real = {f.index: f.image for f in reader}
    first = real[min(real)]
    runs = {}
    for name, synth in synths.items():
        animator = RecordingAnimator(synthesizer=synth, size=0, background="subject",
                                     **{"model.finetune_steps": finetune})
        subject = animator.encode_subject(first)
        runs[name] = run(animator, subject, clip, seconds, every, tmp)
    first_pose = subject.pose
    records = []
    for i in sorted(runs[next(iter(runs))]["kept"]):
        if i == min(real):
            continue  # the input itself
        target = runs[next(iter(runs))]["kept"][i][1]
        pose = estimate_image_pose(real[i], estimator)
        both = pose.visible(MIN_SCORE) & target.visible(MIN_SCORE)
        x0, y0, x1, y1 = scoring_box(pose if both.sum() >= 4 else target, first.shape)
        truth = real[i][y0:y1, x0:x1]
        rec = {"frame": i, "change": pose_change(first_pose, target)}
        outputs = {"unchanged": first, **{n: runs[n]["kept"][i][0][..., :3] for n in runs}}
        for name, image in outputs.items():
            box = np.ascontiguousarray(image[y0:y1, x0:x1])
            s, l1 = ssim_l1(box, truth)
            found = read_rendered_person(np.ascontiguousarray(image), target, estimator)
            errors = limb_angle_errors(target, found, image.shape)
            rec[name] = {"ssim": s, "l1": l1, "perceptual": perceptual(box, truth),
                         "limb_error_sum": float(np.sum(errors)), "limbs": len(errors)}
        records.append(rec)
    return records


def summarise(records: list, methods: list) -> dict:
    out = {"frames": len(records)}
    for m in methods:
        limbs = sum(r[m]["limbs"] for r in records)
        out[m] = {k: float(np.mean([r[m][k] for r in records])) if records else None
                  for k in ("ssim", "l1", "perceptual")}
        out[m]["limb_error_deg"] = sum(r[m]["limb_error_sum"] for r in records) / limbs if limbs else None
    return out


def cross_person(synths: dict, seconds: float, every: int, finetune: int, estimator, tmp: Path) -> dict:
    from vunet_video.video import read_image

    rows = {n: [] for n in synths}
    for subject_name in CROSS_SUBJECTS:
        photo = read_image(SHARED / "data/dev/subjects" / subject_name)
        for clip in CLIPS["validation"]:
            for name, synth in synths.items():
                animator = RecordingAnimator(synthesizer=synth, **{"model.finetune_steps": finetune})
                subject = animator.encode_subject(photo)
                sharp = sharpness(subject.image, subject.pose.mask > 0.5)
                result = run(animator, subject, clip, seconds, every, tmp)
                rows[name].append(score_frames(result["kept"], estimator, sharp))
                print(f"cross {subject_name} x {clip.stem} {name}: limb {rows[name][-1]['limb_error_deg']:.1f} "
                      f"detail {rows[name][-1]['detail_ratio']:.2f}", flush=True)
    out = {}
    for name, rs in rows.items():
        limbs = sum(r["limbs"] for r in rs)
        out[name] = {"limb_error_deg": sum((r["limb_error_deg"] or 0) * r["limbs"] for r in rs) / max(1, limbs),
                     "detail_ratio": float(np.mean([r["detail_ratio"] for r in rs]))}
    return out


def prior_diversity(synths: dict, data: str) -> dict:
    """Mean pairwise perceptual distance of prior samples per pose, and of real people."""
    from itertools import combinations

    from vunet_video.model.inputs import on_plain_background
    from vunet_video.train.dataset import PairDataset, pose_distance

    ds = PairDataset(data, 128, ("val", "heldout"))
    video = [i for i in ds.video_samples]
    rng = np.random.default_rng(0)
    poses = [video[k] for k in rng.choice(len(video), 6, replace=False)]

    def dist(a, b):
        ta, tb = (torch.from_numpy(x).permute(2, 0, 1)[None].float() / 127.5 - 1 for x in (a, b))
        with torch.no_grad():
            return float(perceptual_distance(ta, tb, EVAL_LAYERS)[0])

    out = {}
    for name, synth in synths.items():
        values = []
        for k, i in enumerate(poses):
            g = torch.Generator().manual_seed(k)
            people = synth.render(None, [ds.poses[i]] * 8, generator=g, on_grey=True)[0]
            values += [dist(a, b) for a, b in combinations(people, 2)]
        out[name] = float(np.mean(values))
    # Real people: each of the 6 poses against the most similar pose of every other clip.
    real = []
    for i in poses:
        others = {}
        for j in video:
            g = ds.samples[j]["group"]
            if g != ds.samples[i]["group"]:
                d = pose_distance(ds.poses[i], ds.poses[j])
                if d < others.get(g, (np.inf, 0))[0]:
                    others[g] = (d, j)
        a = on_plain_background(ds.images[i], ds.masks[i])
        real += [dist(a, on_plain_background(ds.images[j], ds.masks[j])) for _, j in others.values()]
    out["real people (different clips, nearest pose)"] = float(np.mean(real))
    return out


def markdown(report: dict) -> str:
    methods = report["methods"]
    lines = [f"# Model comparison at full resolution ({report['date']})", "",
             f"before = `{report['before']}`, after = `{report['after']}`; default path (photo), "
             f"fine-tune {report['finetune_steps']} steps, first {report['seconds']} s of each clip, every "
             f"{report['every']}th frame; person-box scores against the real frames. Perceptual: "
             "EfficientNet-Lite0 evaluation layers (lower is better). Limb error: MediaPipe on the output against "
             "the target pose, degrees.", ""]
    for subset in ("all frames", f"large pose change (>= {LARGE_CHANGE})"):
        lines += [f"**{subset}**", "", "| set | clip | frames | method | SSIM | L1 | perceptual | limb error |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for split, clips in report["reconstruction"].items():
            for clip, subs in list(clips.items()):
                sub = subs[subset]
                for m in methods:
                    r = sub[m]
                    if r["ssim"] is None:
                        continue
                    limb = "" if r["limb_error_deg"] is None else f"{r['limb_error_deg']:.1f}"
                    lines.append(f"| {split} | {clip} | {sub['frames']} | {m} | {r['ssim']:.3f} | {r['l1']:.1f} "
                                 f"| {r['perceptual']:.3f} | {limb} |")
        lines.append("")
    lines += ["**cross-person transfer** (2 full-body dev subjects x 2 validation clips)", "",
              "| weights | limb error (deg) | detail ratio |", "| --- | --- | --- |"]
    for name, r in report["cross_person"].items():
        lines.append(f"| {name} | {r['limb_error_deg']:.1f} | {r['detail_ratio']:.2f} |")
    lines.append("")
    if report.get("prior_diversity"):
        lines += ["**prior diversity** (mean pairwise perceptual distance; 8 samples x 6 validation poses)", "",
                  "| what | distance |", "| --- | --- |"]
        lines += [f"| {k} | {v:.3f} |" for k, v in report["prior_diversity"].items()]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default=str(REPO / "vunet_video/weights/vunet_128.safetensors"))
    ap.add_argument("--after", required=True)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--every", type=int, default=3)
    ap.add_argument("--finetune-steps", type=int, default=None, help="default: the default preset's")
    ap.add_argument("--no-cross", action="store_true")
    ap.add_argument("--no-trust-only", action="store_true", help="skip the after-weights' mesh-trust-only row")
    ap.add_argument("--data", default="data/train_cache_v2", help="dataset v2 cache (prior diversity)")
    ap.add_argument("--no-prior", action="store_true", help="skip the prior diversity")
    ap.add_argument("--out", type=Path, default=RESULTS / "model_v2", help="report path, without suffix")
    ap.add_argument("--sets", default="validation,test",
                    help="which clip sets to reconstruct; 'validation' alone for choosing between snapshots")
    args = ap.parse_args()
    sets = [s.strip() for s in args.sets.split(",")]
    if unknown := [s for s in sets if s not in CLIPS]:
        ap.error(f"--sets: unknown set {unknown[0]!r} (validation, test)")
    from full_resolution import _default_finetune

    finetune = _default_finetune() if args.finetune_steps is None else args.finetune_steps
    synths = {"before": Synthesizer(load_model(args.before)), "after": Synthesizer(load_model(args.after))}
    from vunet_video.render.full_resolution import uses_blend_head

    tuned = type("Tuned", (), {"extra": {**synths["after"].model.extra, "finetuned_steps": finetune}})()
    if uses_blend_head(tuned) and not args.no_trust_only:
        # The same weights with the mesh's trust alone deciding (the blend head's weight
        # unused), for a model whose head would decide once tuned.
        trust_only = load_model(args.after)
        trust_only.extra["blend_head"] = False
        synths["after, mesh trust only"] = Synthesizer(trust_only)
    methods = ["unchanged", *synths]
    estimator = make_estimator("mediapipe")
    t0 = time.time()
    report = {"date": time.strftime("%Y-%m-%d"), "before": args.before, "after": args.after, "seconds": args.seconds,
              "every": args.every, "finetune_steps": finetune, "methods": methods, "reconstruction": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for split in sets:
            clips = CLIPS[split]
            report["reconstruction"][split] = {}
            pooled = []
            for clip in clips:
                recs = reconstruct(synths, clip, args.seconds, args.every, finetune, estimator, Path(tmp))
                pooled += recs
                large = [r for r in recs if r["change"] >= LARGE_CHANGE]
                report["reconstruction"][split][clip.stem] = {
                    "all frames": summarise(recs, methods),
                    f"large pose change (>= {LARGE_CHANGE})": summarise(large, methods)}
                print(clip.stem, json.dumps(report["reconstruction"][split][clip.stem]["all frames"]), flush=True)
            report["reconstruction"][split]["(pooled)"] = {
                "all frames": summarise(pooled, methods),
                f"large pose change (>= {LARGE_CHANGE})": summarise(
                    [r for r in pooled if r["change"] >= LARGE_CHANGE], methods)}
        if not args.no_cross:
            report["cross_person"] = cross_person(synths, min(args.seconds, 3.0), args.every, finetune, estimator,
                                                  Path(tmp))
        else:
            report["cross_person"] = {}
    if Path(args.data, "index.json").is_file() and not args.no_prior:
        report["prior_diversity"] = prior_diversity(synths, args.data)
        print(report["prior_diversity"], flush=True)
    report["total_seconds"] = time.time() - t0
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
