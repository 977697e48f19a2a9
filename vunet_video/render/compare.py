"""The comparison video (`--compare side|grid`): the driving video, the pose read from it
and the result, side by side, with the sound; what people look at to judge a result, and
share.

    side   driving | its skeleton | result
    grid   driving | its skeleton
           target  | result          (target: the retargeted pose the result was rendered from)

It is written next to the result as `<name>_compare.mp4` (H.264). Panels share one height
(at most `MAX_HEIGHT` px for side, half that for grid) and keep their aspect ratios. The
driving panel is shrunk on the driving side, as the frame is decoded, so the queues
between the threads hold small panels, not full driving frames.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..pose.drawing import draw_preview
from ..pose.keypoints import Pose

LAYOUTS = ("side", "grid")
MAX_HEIGHT = 720
# The driving video shows through the skeleton panel at this brightness (as `pose --preview`).
DIM = 0.4


def compare_path(output: Path) -> Path:
    """Where the comparison of `output` (a file or a PNG folder) goes: beside it."""
    output = Path(output)
    stem = output.name if output.suffix == "" else output.stem
    return output.with_name(f"{stem}_compare.mp4")


def panel_height(layout: str, output_height: int) -> int:
    """The height of every panel (even, so the video's height is too)."""
    h = min(output_height, MAX_HEIGHT if layout == "side" else MAX_HEIGHT // 2)
    return max(2, h - h % 2)


class DrivingPanel:
    """Shrinks driving frames to the panel height (called in the driving thread)."""

    def __init__(self, height: int, frame_size: tuple[int, int]):
        w, h = frame_size
        self.scale = height / h
        self.size = (max(2, round(w * self.scale / 2) * 2), height)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)


def compose(layout: str, driving: np.ndarray, scale: float, driving_pose: Pose, target: Pose,
            rgba: np.ndarray) -> np.ndarray:
    """One comparison frame (RGB). driving: the shrunk driving frame, `scale` of the
    original; driving_pose: the pose read from it (driving pixels); target: the pose the
    result was rendered from (output pixels); rgba: the output frame."""
    h = driving.shape[0]
    shrunk = Pose(driving_pose.xy * scale, driving_pose.score)
    skeleton = draw_preview(shrunk, (driving.astype(np.float32) * DIM).astype(np.uint8))
    oh, ow = rgba.shape[:2]
    f = h / oh
    result_size = (max(2, round(ow * f / 2) * 2), h)
    result = cv2.resize(np.ascontiguousarray(rgba[..., :3]), result_size, interpolation=cv2.INTER_AREA)
    if layout == "side":
        return np.hstack([driving, skeleton, result])
    stick = draw_preview(Pose(target.xy * np.float32([result_size[0] / ow, f]), target.score),
                         shape=(h, result_size[0]))
    top, bottom = np.hstack([driving, skeleton]), np.hstack([stick, result])
    width = max(top.shape[1], bottom.shape[1])
    return np.vstack([_pad(top, width), _pad(bottom, width)])


def _pad(row: np.ndarray, width: int) -> np.ndarray:
    if row.shape[1] == width:
        return row
    return cv2.copyMakeBorder(row, 0, 0, 0, width - row.shape[1], cv2.BORDER_CONSTANT, value=0)
