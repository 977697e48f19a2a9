"""Random training batches from a PairDataset, with mirror augmentation (model/augment.py)."""

from __future__ import annotations

import numpy as np
import torch

from ..model.augment import maybe_flip, training_warp
from ..model.inputs import appearance_input, on_plain_background, stickman_input, to_tensor
from .dataset import PairDataset


def sample_batch(ds: PairDataset, batch_size: int, part_size: int, rng: np.random.Generator,
                 warp: bool = False) -> dict:
    """A batch of (target stickman, appearance parts, target image, target mask) tensors, and
    with `warp` the appearance source's parts warped onto the target pose."""
    stickmen, parts, images, masks, warps = [], [], [], [], []
    for _ in range(batch_size):
        i = int(rng.integers(len(ds)))
        j = ds.pair(i, rng)
        flip = bool(rng.random() < 0.5)
        img, pose = maybe_flip(on_plain_background(ds.images[i], ds.masks[i]), ds.poses[i], flip)
        mask = ds.masks[i][:, ::-1] if flip else ds.masks[i]
        app_img, app_pose = maybe_flip(on_plain_background(ds.images[j], ds.masks[j]), ds.poses[j], flip)
        stickmen.append(stickman_input(pose, ds.size))
        parts.append(appearance_input(np.ascontiguousarray(app_img), app_pose, part_size))
        images.append(to_tensor(np.ascontiguousarray(img)))
        masks.append(torch.from_numpy(np.ascontiguousarray(mask)).float() / 255.0)
        if warp:
            app_mask = np.ascontiguousarray(ds.masks[j][:, ::-1] if flip else ds.masks[j])
            warps.append(training_warp(np.ascontiguousarray(app_img), app_mask, app_pose, pose, i == j, rng))
    batch = {"stickman": torch.stack(stickmen), "parts": torch.stack(parts),
             "image": torch.stack(images), "mask": torch.stack(masks)}
    if warp:
        batch["warp"] = torch.stack(warps)
    return batch

