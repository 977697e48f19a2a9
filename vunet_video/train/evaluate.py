"""Held-out evaluation of a VUNet against two baselines.

Pairs come from the held-out clips of a cached dataset: the subject is one frame of a
person, the target another frame of the same person (so the target frame is ground truth).
Each clip gives a few subject frames with several targets each, as a video gives one subject
many poses (and so the once-per-subject fine-tune is paid per subject, not per pair).
All images are the square person crops the model works on (framing.py), at its size S.

Methods scored on the same pairs:
  vunet          encode the subject frame, decode the target pose, and composite the
                 rendered person (by its predicted alpha) over the subject frame with the
                 subject removed, as `animate --background subject` does.
  vunet_finetuned  the same after fine-tuning a copy of the model on the subject frame
                 (model/finetune.py), as `animate` does by default.
  unchanged      the subject frame itself (what you get by doing nothing).
  affine_parts   each body part of the subject (torso, head, upper/lower arms, thighs,
                 shins) warped onto the target pose with the same joint-normalised
                 transforms the encoder uses, pasted over the subject frame.

Metrics: SSIM, PSNR and L1 (images in [-1, 1]) against the target frame, and PCK@0.1 of
the pose stage run on each output against the target's keypoints (threshold: 0.1 x the
longer side of the target joints' box). The pose stage is the one `animate` uses
(make_estimator("auto")): with a local person detector, MediaPipe's landmark model in the
detected person's box; without one, MediaPipe alone, whose face-first detector misses
many blurred renders (the "found" column tells the two failure kinds apart).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from ..model.inputs import to_tensor
from ..model.parts import warp_parts
from ..pose import estimate_image_pose, make_estimator
from ..pose.keypoints import Pose
from ..render.plate import person_hole, remove_person
from ..render.synthesizer import Synthesizer
from .dataset import PairDataset
from .metrics import pck, psnr, ssim

METHODS = ("vunet", "vunet_finetuned", "affine_parts", "unchanged")


def composite(rgb: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    return np.clip(rgb * a + background * (1 - a) + 0.5, 0, 255).astype(np.uint8)


def heldout_pairs(ds: PairDataset, per_group: int, seed: int = 0, subjects_per_group: int = 4,
                  min_group: int = 10) -> list[tuple[int, int]]:
    """(subject index, target index) pairs within each held-out clip, fixed by `seed`:
    `subjects_per_group` subject frames per clip, each with per_group / subjects_per_group
    other frames of the clip as targets."""
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(ds.samples):
        groups.setdefault(s["group"], []).append(i)
    pairs = []
    for name in sorted(groups):
        members = groups[name]
        if len(members) < min_group:
            continue  # single photos have no second frame to be ground truth
        n_subjects = max(1, min(subjects_per_group, per_group))
        for k, a in enumerate(rng.choice(len(members), n_subjects, replace=False)):
            others = [m for m in range(len(members)) if m != a]
            n_targets = per_group // n_subjects + (k < per_group % n_subjects)
            # (A clip sampled by pose novelty may keep fewer frames than that: all of them then.)
            for b in rng.choice(others, min(n_targets, len(others)), replace=False):
                pairs.append((members[a], members[b]))
    return pairs


def affine_parts_warp(image: np.ndarray, pose: Pose, target: Pose) -> np.ndarray:
    """Baseline: the subject's body parts moved onto the target pose, over the subject image."""
    rgb, coverage = warp_parts(image, pose, target)
    c = coverage[..., None]
    return np.clip(rgb * c + image * (1 - c) + 0.5, 0, 255).astype(np.uint8)


def pose_change(a: Pose, b: Pose) -> float:
    """Mean distance between the joints two poses share, in units of the longer side of b's
    joint box: 0 for the same pose, about 0.1 when limbs moved by a tenth of the body."""
    both = a.visible() & b.visible()
    if both.sum() < 2:
        return float("nan")
    pts = b.xy[b.visible()]
    size = float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]), 1.0))
    return float(np.linalg.norm(a.xy[both] - b.xy[both], axis=1).mean() / size)


# Pairs whose pose change is at least this are reported on their own: for nearly equal
# poses "unchanged" is almost the ground truth, and the task is moving people.
LARGE_CHANGE = 0.1


def evaluate(synth: Synthesizer, data_dir: str, per_group: int = 40, seed: int = 0,
             estimator=None, progress=None, finetune_steps: int = 100, subjects_per_group: int = 4,
             split: str | tuple[str, ...] = "heldout", perceptual: bool = False) -> dict:
    """Scores every method on the held-out pairs (vunet_finetuned only when finetune_steps > 0);
    `split` "val" scores the validation clips instead. With `perceptual`, also the feature
    distance of model/perceptual.py on its evaluation layers (needs the `train` extra).

    Returns {"pairs", "groups", "subsets": {"all pairs" | "large pose change": {"pairs",
    "methods": {name: {ssim, psnr, l1, pck@0.1, found, "pck@0.1 found"}}}},
    "pose_stage_on_ground_truth_pck@0.1", "records": per pair}.
    """
    if estimator is None:
        estimator = make_estimator("auto")
    size = synth.crop_size
    ds = PairDataset(data_dir, size, split=split, cross_prob=0.0)
    pairs = heldout_pairs(ds, per_group, seed, subjects_per_group)
    method_names = [m for m in METHODS if finetune_steps > 0 or m != "vunet_finetuned"]
    # The pose stage sees each output upscaled x2: MediaPipe's detector is tuned for larger people.
    up = 256 / size

    def pose_of(img: np.ndarray) -> Pose:
        main = estimate_image_pose(cv2.resize(img, (256, 256), interpolation=cv2.INTER_LINEAR), estimator)
        return main if main.is_empty() else main.transformed(1 / up)

    records = []  # one per pair: pose change, and per method its metrics and PCK counts
    current = None  # the subject index whose renderers, codes and scene are below
    for n, (i, j) in enumerate(pairs):
        subject_img, subject_pose = ds.images[i], ds.poses[i]
        target_img, target_pose = ds.images[j], ds.poses[j]
        if i != current:  # once per subject (pairs come grouped by subject), as for a video
            current = i
            renderers = {"vunet": synth}
            if finetune_steps > 0:
                renderers["vunet_finetuned"] = synth.personalised(subject_img, subject_pose, ds.masks[i],
                                                                  finetune_steps)
            encoded = {m: (s, s.encode_crop(subject_img, subject_pose, ds.masks[i])) for m, s in renderers.items()}
            # The subject's scene with them painted out, exactly as `animate` makes its plate.
            scene = remove_person(subject_img, person_hole(ds.masks[i] / 255.0, subject_pose, subject_img.shape[:2]))
        outputs = {}
        for m, (s, appearance) in encoded.items():
            rgb, alpha = s.render(appearance, [target_pose])  # the person's own colour, grey taken out
            # As `animate --background subject` does: the rendered person over the subject's scene.
            outputs[m] = composite(rgb[0], alpha[0], scene)
        outputs["affine_parts"] = affine_parts_warp(subject_img, subject_pose, target_pose)
        outputs["unchanged"] = subject_img
        outputs["target_frame"] = target_img  # PCK of the pose stage on ground truth, for reference
        t = to_tensor(target_img)[None]
        true_ok = target_pose.visible()
        rec = {"change": pose_change(subject_pose, target_pose)}
        for m, img in outputs.items():
            o = to_tensor(img)[None]
            p = pose_of(img)
            rec[m] = {"ssim": ssim(o, t).item(), "psnr": psnr(o, t).item(), "l1": (o - t).abs().mean().item(),
                      "pck": pck(p.xy, p.visible(), target_pose.xy, true_ok), "found": not p.is_empty()}
            if perceptual:
                from ..model.perceptual import EVAL_LAYERS, perceptual_distance

                with torch.no_grad():
                    rec[m]["perceptual"] = perceptual_distance(o, t, EVAL_LAYERS).item()
        records.append(rec)
        if progress:
            progress(n + 1, len(pairs))

    def summarise(recs: list[dict]) -> dict:
        methods = {}
        for m in method_names:
            k = max(1, len(recs))
            keys = ("ssim", "psnr", "l1") + (("perceptual",) if perceptual else ())
            methods[m] = {key: sum(r[m][key] for r in recs) / k for key in keys}
            correct, total = (sum(r[m]["pck"][c] for r in recs) for c in (0, 1))
            methods[m]["pck@0.1"] = correct / max(1, total)
            # PCK counts a person the pose stage does not find as all joints wrong; how often
            # that happened, and PCK over the outputs where it found someone, tell the two apart.
            found = [r for r in recs if r[m]["found"]]
            methods[m]["found"] = len(found) / k
            correct, total = (sum(r[m]["pck"][c] for r in found) for c in (0, 1))
            methods[m]["pck@0.1 found"] = correct / max(1, total)
        return {"pairs": len(recs), "methods": methods}

    large = [r for r in records if r["change"] >= LARGE_CHANGE]
    gt_correct, gt_total = (sum(r["target_frame"]["pck"][c] for r in records) for c in (0, 1))
    return {"pairs": len(pairs), "groups": sorted({ds.samples[i]["group"] for i, _ in pairs}),
            "pose_stage": pose_stage_name(estimator),
            "subsets": {"all pairs": summarise(records), f"large pose change (>= {LARGE_CHANGE})": summarise(large)},
            "pose_stage_on_ground_truth_pck@0.1": gt_correct / max(1, gt_total),
            "records": [{"subject": ds.samples[i]["id"], "target": ds.samples[j]["id"], **r}
                        for (i, j), r in zip(pairs, records)]}


def pose_stage_name(estimator) -> str:
    detector = getattr(estimator, "detector", None)
    if detector is None:
        return f"{estimator.name} (its own person detector)"
    return f"{estimator.name} in person boxes from {Path(str(detector.model)).name}"


def format_table(result: dict) -> str:
    """Markdown tables of an `evaluate` result, one per subset of pairs."""
    lines = []
    for name, sub in result["subsets"].items():
        lines += [f"**{name}** ({sub['pairs']} pairs)", "",
                  "| method | SSIM | PSNR (dB) | L1 | PCK@0.1 | person found | PCK@0.1 where found |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for m, r in sub["methods"].items():
            lines.append(f"| {m} | {r['ssim']:.4f} | {r['psnr']:.2f} | {r['l1']:.4f} | {r['pck@0.1']:.3f} "
                         f"| {r['found']:.0%} | {r['pck@0.1 found']:.3f} |")
        lines.append("")
    lines.append(f"{result['pairs']} held-out pairs from {', '.join(result['groups'])}; pose stage: "
                 f"{result.get('pose_stage', 'mediapipe')}, which scores PCK@0.1 = "
                 f"{result['pose_stage_on_ground_truth_pck@0.1']:.3f} on the ground-truth target frames.")
    return "\n".join(lines)
