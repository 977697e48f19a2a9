"""Held-out evaluation of a VUNet against two baselines.

Pairs come from the held-out clips of a cached dataset: the subject is one frame of a
person, the target another frame of the same person (so the target frame is ground truth).
All images are the square person crops the model works on (framing.py), at its size S.

Methods scored on the same pairs:
  vunet          encode the subject frame, decode the target pose, and composite the
                 rendered person (by its predicted alpha) over the subject frame with the
                 subject removed, as `animate --background subject` does.
  unchanged      the subject frame itself (what you get by doing nothing).
  affine_parts   each body part of the subject (torso, head, upper/lower arms, thighs,
                 shins) warped onto the target pose with the same joint-normalised
                 transforms the encoder uses, pasted over the subject frame.

Metrics: SSIM, PSNR and L1 (images in [-1, 1]) against the target frame, and PCK@0.1 of
the pose stage run on each output against the target's keypoints (threshold: 0.1 x the
longer side of the target joints' box).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ..model.inputs import to_tensor
from ..model.parts import _segment_matrix, part_matrices
from ..pose.keypoints import INDEX as J
from ..pose.keypoints import Pose
from ..render.synthesizer import Synthesizer
from .dataset import PairDataset
from .metrics import pck, psnr, ssim

METHODS = ("vunet", "affine_parts", "unchanged")


def person_removed(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The scene behind the person: their (dilated) mask region inpainted from its surroundings."""
    k = max(3, image.shape[0] // 32) | 1
    hole = cv2.dilate((mask > 64).astype(np.uint8) * 255, np.ones((k, k), np.uint8))
    return cv2.inpaint(image, hole, 3, cv2.INPAINT_TELEA)


def composite(rgb: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    return np.clip(rgb * a + background * (1 - a) + 0.5, 0, 255).astype(np.uint8)


def heldout_pairs(ds: PairDataset, per_group: int, seed: int = 0, min_group: int = 10) -> list[tuple[int, int]]:
    """(subject index, target index) pairs within each held-out clip, fixed by `seed`."""
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(ds.samples):
        groups.setdefault(s["group"], []).append(i)
    pairs = []
    for name in sorted(groups):
        members = groups[name]
        if len(members) < min_group:
            continue  # single photos have no second frame to be ground truth
        for _ in range(per_group):
            a, b = rng.choice(len(members), 2, replace=False)
            pairs.append((members[a], members[b]))
    return pairs


def affine_parts_warp(image: np.ndarray, pose: Pose, target: Pose) -> np.ndarray:
    """Baseline: the subject's body parts moved onto the target pose, over the subject image."""
    size = image.shape[0]
    side = 64
    src_ms = part_matrices(pose, side)
    dst_ms = part_matrices(target, side)
    # Shins are not appearance parts of the VUNet, but a warp baseline without them would be unfair.
    for a, b in (("left_knee", "left_ankle"), ("right_knee", "right_ankle")):
        ms = []
        for p in (pose, target):
            ok = p.visible()
            m = _segment_matrix(p.xy[J[a]], p.xy[J[b]], side) if ok[J[a]] and ok[J[b]] else None
            ms.append(None if m is None else np.vstack([m, [0, 0, 1]]))
        src_ms.append(ms[0])
        dst_ms.append(ms[1])
    out = image.astype(np.float32).copy()
    # Paste limbs first and torso and head last, so the body's core is on top.
    order = list(range(2, len(src_ms))) + [0, 1]
    square = np.ones((side, side), np.float32)
    for k in order:
        if src_ms[k] is None or dst_ms[k] is None:
            continue
        m = np.linalg.inv(dst_ms[k]) @ src_ms[k]
        warped = cv2.warpPerspective(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mask = cv2.warpPerspective(square, np.linalg.inv(dst_ms[k]), (size, size), flags=cv2.INTER_LINEAR)
        out = out * (1 - mask[..., None]) + warped.astype(np.float32) * mask[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def evaluate(synth: Synthesizer, data_dir: str, per_group: int = 40, seed: int = 0,
             estimator=None, progress=None) -> dict:
    """Scores every method on the held-out pairs. Returns {"pairs": n, "methods": {name: {metric: value}}}."""
    if estimator is None:
        from ..pose.mediapipe_backend import MediaPipePose
        estimator = MediaPipePose()
    size = synth.size
    ds = PairDataset(data_dir, size, split="heldout", cross_prob=0.0)
    pairs = heldout_pairs(ds, per_group, seed)
    sums = {m: {"ssim": 0.0, "psnr": 0.0, "l1": 0.0} for m in METHODS}
    pck_counts = {m: [0, 0] for m in METHODS + ("target_frame",)}
    # The pose stage sees each output upscaled x2: MediaPipe's detector is tuned for larger people.
    up = 256 / size

    def pose_of(img: np.ndarray) -> Pose:
        people = estimator(cv2.resize(img, (256, 256), interpolation=cv2.INTER_LINEAR))
        if not people:
            return Pose.empty()
        return people[0].transformed(1 / up)

    for n, (i, j) in enumerate(pairs):
        subject_img, subject_pose = ds.images[i], ds.poses[i]
        target_img, target_pose = ds.images[j], ds.poses[j]
        latents = synth.encode_crop(subject_img, subject_pose, ds.masks[i])
        rgb, alpha = synth.render(latents, [target_pose])
        outputs = {
            # As `animate --background subject` does: the rendered person over the subject's scene.
            "vunet": composite(rgb[0], alpha[0], person_removed(subject_img, ds.masks[i])),
            "affine_parts": affine_parts_warp(subject_img, subject_pose, target_pose),
            "unchanged": subject_img,
        }
        t = to_tensor(target_img)[None]
        for m, img in outputs.items():
            o = to_tensor(img)[None]
            sums[m]["ssim"] += ssim(o, t).item()
            sums[m]["psnr"] += psnr(o, t).item()
            sums[m]["l1"] += (o - t).abs().mean().item()
        true_ok = target_pose.visible()
        for m, img in list(outputs.items()) + [("target_frame", target_img)]:
            p = pose_of(img)
            c, tot = pck(p.xy, p.visible(), target_pose.xy, true_ok)
            pck_counts[m][0] += c
            pck_counts[m][1] += tot
        if progress:
            progress(n + 1, len(pairs))
    n = max(1, len(pairs))
    methods = {m: {k: v / n for k, v in sums[m].items()} for m in METHODS}
    for m in METHODS:
        methods[m]["pck@0.1"] = pck_counts[m][0] / max(1, pck_counts[m][1])
    return {"pairs": len(pairs), "groups": sorted({ds.samples[i]["group"] for i, _ in pairs}),
            "methods": methods,
            "pose_stage_on_ground_truth_pck@0.1": pck_counts["target_frame"][0] / max(1, pck_counts["target_frame"][1])}


def format_table(result: dict) -> str:
    """Markdown table of an `evaluate` result."""
    lines = ["| method | SSIM | PSNR (dB) | L1 | PCK@0.1 |", "| --- | --- | --- | --- | --- |"]
    for m, r in result["methods"].items():
        lines.append(f"| {m} | {r['ssim']:.4f} | {r['psnr']:.2f} | {r['l1']:.4f} | {r['pck@0.1']:.3f} |")
    lines.append("")
    lines.append(f"{result['pairs']} held-out pairs from {', '.join(result['groups'])}; the pose stage on the "
                 f"ground-truth target frames scores PCK@0.1 = {result['pose_stage_on_ground_truth_pck@0.1']:.3f}.")
    return "\n".join(lines)
