"""Square person crops: how a photo or frame is cut out and scaled for the model.

The model sees an S x S image with the person centred and their height filling
`fill` of it. The same framing is used to build the training set and at inference, so
the network never sees people at scales it was not trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..pose.keypoints import MIN_SCORE, Pose


@dataclass(frozen=True)
class Box:
    """A square crop: top-left corner (x0, y0) and side length, in source-image pixels."""

    x0: float
    y0: float
    side: float

    def scale_to(self, size: int) -> float:
        return size / self.side

    def pose_to_crop(self, pose: Pose, size: int) -> Pose:
        s = self.scale_to(size)
        return pose.transformed(s, (-self.x0 * s, -self.y0 * s))

    def pose_from_crop(self, pose: Pose, size: int) -> Pose:
        s = self.scale_to(size)
        return pose.transformed(1.0 / s, (self.x0, self.y0))

    def matrix(self, size: int) -> np.ndarray:
        """2x3 affine map from source pixels to crop pixels."""
        s = self.scale_to(size)
        return np.array([[s, 0, -self.x0 * s], [0, s, -self.y0 * s]], np.float32)


def person_box(pose: Pose, fill: float = 0.8, min_score: float = MIN_SCORE) -> Box:
    """Square box centred on the person whose longer extent fills `fill` of the side.

    The head top and feet lie beyond the outermost joints (eyes, ankles), so the joint
    extent is padded by 10% of its height before `fill` is applied.
    """
    bb = pose.bbox(min_score)
    if bb is None:
        raise ValueError("pose has no visible joints")
    x0, y0, x1, y1 = bb
    h = y1 - y0
    y0 -= 0.10 * h  # top of head above the eyes
    y1 += 0.05 * h  # soles below the ankles
    extent = max(x1 - x0, y1 - y0, 1.0)
    side = extent / fill
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    return Box(cx - side / 2, cy - side / 2, side)


def crop(image: np.ndarray, box: Box, size: int, border: str = "replicate",
         interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """Cut `box` out of `image` and scale it to size x size (parts outside the image are
    filled by replicating the edge, so the model never sees artificial black bars)."""
    mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    if interpolation == cv2.INTER_AREA and box.side < size:
        interpolation = cv2.INTER_LINEAR
    # INTER_AREA is not supported by warpAffine; pre-shrink with resize when downscaling a lot.
    s = box.scale_to(size)
    if s < 0.5 and interpolation == cv2.INTER_AREA:
        f = 1.0 / int(1 / s)
        small = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        box = Box(box.x0 * f, box.y0 * f, box.side * f)
        image = small
    return cv2.warpAffine(image, box.matrix(size), (size, size), flags=cv2.INTER_LINEAR, borderMode=mode)


def scale_photo(image: np.ndarray, pose: Pose, scale: float) -> tuple[np.ndarray, Pose]:
    """A photo, its pose and its person mask (pose.mask) scaled by `scale` together (area
    averaging down, cubic up); unchanged for scale 1."""
    if scale == 1.0:
        return image, pose
    h, w = image.shape[:2]
    size = (max(2, round(w * scale)), max(2, round(h * scale)))
    scaled = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    mask = None if pose.mask is None else cv2.resize(pose.mask, size, interpolation=cv2.INTER_LINEAR)
    return scaled, Pose(pose.transformed(scale).xy, pose.score, mask)
