"""Random training batches from a PairDataset, with mirror augmentation."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ..model.inputs import BACKGROUND_GREY, appearance_input, on_plain_background, stickman_input, to_tensor, warp_input
from ..model.vunet import empty_warp
from ..pose.keypoints import Pose
from .dataset import PairDataset

# Warp inputs (model.warp_skip). A photo is its own appearance source, so its warp would be
# an exact copy of the target and teach the decoder to trust warps blindly; the source is
# first moved by a random similarity transform (like the fine-tune's targets) and its joints
# jittered, so warps arrive about as misaligned as between two frames of a video.
WARP_SOURCE_MOVE = (0.15, 12.0, 0.08)   # scale +-, rotation +- degrees, shift +- share of the side
WARP_JOINT_JITTER = 0.012               # std of the source joints' noise, share of the side
WARP_DROPOUT = 0.2                      # share of samples with an empty warp (keeps prior sampling working)


def maybe_flip(image: np.ndarray, pose, flip: bool):
    if not flip:
        return image, pose
    # Mirroring swaps left and right joints too, or the stickman's side channels would lie.
    return image[:, ::-1], pose.flipped(image.shape[1])


def random_similarity(image: np.ndarray, mask: np.ndarray, pose: Pose, rng: np.random.Generator,
                      max_scale: float, max_rotation: float, max_shift: float) -> tuple[np.ndarray, np.ndarray, Pose]:
    """A square crop on plain grey, its mask and pose under one random similarity transform."""
    size = image.shape[0]
    m = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-max_rotation, max_rotation),
                                1 + rng.uniform(-max_scale, max_scale))
    m[:, 2] += rng.uniform(-max_shift, max_shift, 2) * size
    grey = (BACKGROUND_GREY,) * 3
    image = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderValue=grey)
    mask = cv2.warpAffine(mask, m, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
    xy = pose.xy @ m[:, :2].T.astype(np.float32) + m[:, 2].astype(np.float32)
    return image, mask, Pose(xy.astype(np.float32), pose.score.copy())


def training_warp(source: np.ndarray, source_mask: np.ndarray, source_pose: Pose, target_pose: Pose,
                  same_image: bool, rng: np.random.Generator) -> torch.Tensor:
    """The warp input for one training sample (see WARP_* above)."""
    if rng.random() < WARP_DROPOUT:
        return empty_warp(torch.zeros(1, 1, source.shape[0], source.shape[1]))[0]
    if same_image:
        source, _, source_pose = random_similarity(source, source_mask, source_pose, rng, *WARP_SOURCE_MOVE)
    noise = rng.normal(0.0, WARP_JOINT_JITTER * source.shape[0], source_pose.xy.shape).astype(np.float32)
    return warp_input(source, Pose(source_pose.xy + noise, source_pose.score), target_pose)


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


def to_device(batch: dict, device: torch.device) -> dict:
    """The batch on `device`, image tensors channels_last (the fast path with bf16 autocast)."""
    return {k: v.to(device).contiguous(memory_format=torch.channels_last) if v.ndim == 4 else v.to(device)
            for k, v in batch.items()}
