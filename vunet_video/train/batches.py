"""Random training batches from a PairDataset, with mirror augmentation."""

from __future__ import annotations

import numpy as np
import torch

from ..model.inputs import appearance_input, on_plain_background, stickman_input, to_tensor
from .dataset import PairDataset


def maybe_flip(image: np.ndarray, pose, flip: bool):
    if not flip:
        return image, pose
    # Mirroring swaps left and right joints too, or the stickman's side channels would lie.
    return image[:, ::-1], pose.flipped(image.shape[1])


def sample_batch(ds: PairDataset, batch_size: int, part_size: int, rng: np.random.Generator) -> dict:
    """A batch of (target stickman, appearance parts, target image, target mask) tensors."""
    stickmen, parts, images, masks = [], [], [], []
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
    return {"stickman": torch.stack(stickmen), "parts": torch.stack(parts),
            "image": torch.stack(images), "mask": torch.stack(masks)}


def to_device(batch: dict, device: torch.device) -> dict:
    """The batch on `device`, image tensors channels_last (the fast path with bf16 autocast)."""
    return {k: v.to(device).contiguous(memory_format=torch.channels_last) if v.ndim == 4 else v.to(device)
            for k, v in batch.items()}
