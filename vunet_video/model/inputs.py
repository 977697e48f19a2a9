"""Turning images and poses into the VUNet's input tensors (and its output back into images).

Used alike by training, evaluation and inference, so all three feed the network the same way.
Images are RGB uint8 at the model's size S; tensors are float in [-1, 1], channels first.
"""

from __future__ import annotations

import numpy as np
import torch

from ..pose.keypoints import Pose
from .stickman import draw_stickman
from .parts import part_crops, warp_parts


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, C) uint8 -> (C, H, W) float in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


def to_image(t: torch.Tensor) -> np.ndarray:
    """(3, H, W) float in [-1, 1] -> (H, W, 3) uint8."""
    x = t.detach().float().clamp(-1, 1).add(1).mul(127.5).round().byte()
    return x.permute(1, 2, 0).cpu().numpy()


# The model renders people on this plain grey and never sees the scene behind them: no
# background can be inferred from body-part crops, and the alpha channel puts the person on
# whatever background the user chose.
BACKGROUND_GREY = 128


def on_plain_background(image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The person of `image` (H, W, 3 uint8) over plain grey, by a soft mask (H, W) in 0-255
    uint8 or 0-1 float; `image` unchanged when there is no mask."""
    if mask is None:
        return image
    m = mask.astype(np.float32)
    if mask.dtype == np.uint8:
        m /= 255.0
    m = m[..., None]
    return (image * m + BACKGROUND_GREY * (1 - m) + 0.5).astype(np.uint8)


def off_plain_background(rgb: np.ndarray, alpha: np.ndarray, min_alpha: float = 0.05) -> np.ndarray:
    """Undo `on_plain_background` on a rendered image: the person's own colour (straight
    alpha), so that compositing over another background leaves no grey fringe.

    The model renders person * a + grey * (1 - a); solving for the person where a is not
    tiny. Pixels below `min_alpha` keep the rendered value (they are nearly transparent).
    """
    a = alpha.astype(np.float32)[..., None]
    straight = (rgb.astype(np.float32) - BACKGROUND_GREY * (1 - a)) / np.maximum(a, min_alpha)
    out = np.where(a >= min_alpha, straight, rgb.astype(np.float32))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def stickman_input(pose: Pose, size: int) -> torch.Tensor:
    """(3, S, S) shape input for a pose given in model pixels."""
    return to_tensor(draw_stickman(pose, (size, size)))


def appearance_input(image: np.ndarray, pose: Pose, part_size: int) -> torch.Tensor:
    """(48, S/4, S/4): the eight part crops of the image, then those of its own stickman."""
    size = image.shape[0]
    stick = draw_stickman(pose, (size, size))
    return torch.cat([to_tensor(part_crops(image, pose, part_size)),
                      to_tensor(part_crops(stick, pose, part_size))], 0)


def warp_input(image: np.ndarray, pose: Pose, target: Pose) -> torch.Tensor:
    """(4, S, S) input of a `warp_skip` model: the subject's body parts (image on plain grey,
    its pose) warped onto the target pose, RGB in [-1, 1] times the coverage, then the
    coverage in [-1, 1]."""
    rgb, coverage = warp_parts(image, pose, target)
    c = torch.from_numpy(coverage)[None]
    colour = torch.from_numpy(rgb).permute(2, 0, 1).div(127.5).sub(1.0) * c
    return torch.cat([colour, c * 2 - 1], 0).float()

