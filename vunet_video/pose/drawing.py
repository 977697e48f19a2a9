"""A coloured skeleton for people to look at (`vunet-video pose --preview`).

Not the model's input: that is the stickman of `model/stickman.py`, whose channels carry
meaning. This one is for eyes: right side warm, left side cool, joints as white dots, line
width scaled with the picture. Both draw the same limb lines (keypoints.py).
"""

from __future__ import annotations

import cv2
import numpy as np

from .keypoints import INDEX, LEFT_LINES, MIN_SCORE, RIGHT_LINES, Pose

# Preview colours (RGB): right side warm, left side cool, centre line grey.
_PREVIEW_COLOURS = {"right": (255, 96, 48), "left": (48, 160, 255), "centre": (200, 200, 200)}


def pixel(xy: np.ndarray) -> tuple[int, int]:
    """A joint's (x, y) rounded to the integer pixel OpenCV draws at."""
    return int(round(float(xy[0]))), int(round(float(xy[1])))


def draw_preview(pose: Pose, image: np.ndarray | None = None, shape: tuple[int, int] | None = None,
                 min_score: float = MIN_SCORE) -> np.ndarray:
    """Coloured skeleton for people to look at, over `image` (RGB) or on black of numpy
    `shape` (h, w)."""
    if image is None:
        assert shape is not None, "give an image or a shape"
        canvas = np.zeros((*shape, 3), np.uint8)
    else:
        canvas = np.ascontiguousarray(image, dtype=np.uint8).copy()
    h, w = canvas.shape[:2]
    t = max(2, int(round(4 * max(h, w) / 512)))
    ok = pose.visible(min_score)
    xy = pose.xy
    for name, lines in (("right", RIGHT_LINES), ("left", LEFT_LINES)):
        for a, b in lines:
            if ok[a] and ok[b]:
                cv2.line(canvas, pixel(xy[a]), pixel(xy[b]), _PREVIEW_COLOURS[name], t, cv2.LINE_AA)
    for a, b in ((INDEX["left_shoulder"], INDEX["right_shoulder"]), (INDEX["left_hip"], INDEX["right_hip"])):
        if ok[a] and ok[b]:
            cv2.line(canvas, pixel(xy[a]), pixel(xy[b]), _PREVIEW_COLOURS["centre"], t, cv2.LINE_AA)
    for j in np.flatnonzero(ok):
        cv2.circle(canvas, pixel(xy[j]), t + 1, (255, 255, 255), -1, cv2.LINE_AA)
    return canvas
