"""The background plate: the subject photo with its person painted out.

The 'subject' background shows the re-posed person in their own photo's scene. Where the
person stood, the scene must be filled in, or a pale ghost of their old pose stays behind.
`person_hole` says what to paint out; `remove_person` fills it.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..pose.keypoints import Pose


def person_hole(mask: np.ndarray | None, pose: Pose, shape: tuple[int, int], grow: float = 0.04) -> np.ndarray:
    """Boolean (H, W) region to paint out: the person mask (> 0.2, generous because
    MediaPipe's soft edge fades over hair and loose clothes) dilated by `grow` times the
    person's height. Without a mask, the hull of the joints dilated by 12% of the height."""
    h, w = shape
    bb = pose.bbox()
    height = (bb[3] - bb[1]) if bb else 0.5 * h
    if mask is not None:
        hole = (np.asarray(mask) > 0.2).astype(np.uint8)
        if hole.shape != (h, w):
            hole = cv2.resize(hole, (w, h), interpolation=cv2.INTER_NEAREST)
        radius = max(3, int(round(grow * height)))
    else:
        hole = np.zeros((h, w), np.uint8)
        pts = pose.xy[pose.visible()]
        if len(pts):
            cv2.fillConvexPoly(hole, cv2.convexHull(np.round(pts).astype(np.int32)), 1)
        radius = max(3, int(round(0.12 * height)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(hole, kernel) > 0


def remove_person(image: np.ndarray, hole: np.ndarray, work_side: int = 512, radius: int = 5) -> np.ndarray:
    """The photo with `hole` filled by cv2.inpaint (Telea). Inpainting runs at most at
    `work_side` px (the fill is smooth anyway and cost grows with the hole's area); only
    the hole's pixels are replaced, the rest of the photo stays untouched."""
    h, w = image.shape[:2]
    if not hole.any():
        return image.copy()
    f = min(1.0, work_side / max(h, w))
    small = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else image
    small_hole = cv2.resize(hole.astype(np.uint8), (small.shape[1], small.shape[0]), interpolation=cv2.INTER_NEAREST)
    small_hole = cv2.dilate(small_hole, np.ones((3, 3), np.uint8))  # rounding must not shrink it
    filled = cv2.inpaint(np.ascontiguousarray(small), small_hole, radius, cv2.INPAINT_TELEA)
    if f < 1:
        filled = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
    plate = image.copy()
    plate[hole] = filled[hole]
    return plate
