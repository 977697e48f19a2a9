"""Augmentations shared by training (train/batches.py) and the per-subject fine-tune
(model/finetune.py): mirroring, random similarity transforms, the warp input of a training
sample, and moving a batch to the device.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ..pose.keypoints import Pose
from .inputs import BACKGROUND_GREY, warp_input
from .vunet import empty_warp

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
    m = _random_similarity_matrix(size, rng, max_scale, max_rotation, max_shift)
    grey = (BACKGROUND_GREY,) * 3
    image = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderValue=grey)
    mask = cv2.warpAffine(mask, m, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
    xy = pose.xy @ m[:, :2].T.astype(np.float32) + m[:, 2].astype(np.float32)
    return image, mask, Pose(xy.astype(np.float32), pose.score.copy())


def random_similarity_pose(pose: Pose, size: int, rng: np.random.Generator, max_scale: float,
                           max_rotation: float, max_shift: float) -> Pose:
    """`pose` (in a square crop of `size`) under a random similarity transform, drawn as in
    random_similarity."""
    m = _random_similarity_matrix(size, rng, max_scale, max_rotation, max_shift)
    xy = pose.xy @ m[:, :2].T.astype(np.float32) + m[:, 2].astype(np.float32)
    return Pose(xy.astype(np.float32), pose.score.copy())


def _random_similarity_matrix(size: int, rng: np.random.Generator, max_scale: float, max_rotation: float,
                              max_shift: float) -> np.ndarray:
    """2x3 map of a random similarity about the centre of a square of `size`."""
    m = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-max_rotation, max_rotation),
                                1 + rng.uniform(-max_scale, max_scale))
    m[:, 2] += rng.uniform(-max_shift, max_shift, 2) * size
    return m


def training_warp(source: np.ndarray, source_mask: np.ndarray, source_pose: Pose, target_pose: Pose,
                  same_image: bool, rng: np.random.Generator) -> torch.Tensor:
    """The warp input for one training sample (see WARP_* above)."""
    if rng.random() < WARP_DROPOUT:
        return empty_warp(torch.zeros(1, 1, source.shape[0], source.shape[1]))[0]
    if same_image:
        source, _, source_pose = random_similarity(source, source_mask, source_pose, rng, *WARP_SOURCE_MOVE)
    noise = rng.normal(0.0, WARP_JOINT_JITTER * source.shape[0], source_pose.xy.shape).astype(np.float32)
    return warp_input(source, Pose(source_pose.xy + noise, source_pose.score), target_pose)


def to_device(batch: dict, device: torch.device) -> dict:
    """The batch on `device`, image tensors channels_last (the fast path with bf16 autocast)."""
    return {k: v.to(device).contiguous(memory_format=torch.channels_last) if v.ndim == 4 else v.to(device)
            for k, v in batch.items()}
