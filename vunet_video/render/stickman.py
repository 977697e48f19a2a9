"""Stickman images: the VUNet's shape input, and a coloured preview for people.

Shape image convention (Esser et al. 2018, official code `make_joint_img`): three channels,
right-side limbs in channel 0, left-side limbs in channel 1, the torso polygon in channel 2;
the neck-to-nose line is drawn at half intensity in both side channels and the eye lines
in their side's channel. Line width is 3 px at 128 px image width and scales with it.
A joint below `min_score` is left out together with every line touching it.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..pose.keypoints import INDEX, MIN_SCORE, Pose

_J = INDEX
RIGHT_LINES = [(_J["right_ankle"], _J["right_knee"]), (_J["right_knee"], _J["right_hip"]),
               (_J["right_hip"], _J["right_shoulder"]), (_J["right_shoulder"], _J["right_elbow"]),
               (_J["right_elbow"], _J["right_wrist"])]
LEFT_LINES = [(_J["left_ankle"], _J["left_knee"]), (_J["left_knee"], _J["left_hip"]),
              (_J["left_hip"], _J["left_shoulder"]), (_J["left_shoulder"], _J["left_elbow"]),
              (_J["left_elbow"], _J["left_wrist"])]
TORSO = [_J["left_hip"], _J["left_shoulder"], _J["right_shoulder"], _J["right_hip"]]


def line_width(width: int) -> int:
    return max(1, int(round(3 * width / 128)))


def _pt(xy: np.ndarray) -> tuple[int, int]:
    return int(round(float(xy[0]))), int(round(float(xy[1])))


def draw_stickman(pose: Pose, size: tuple[int, int], min_score: float = MIN_SCORE) -> np.ndarray:
    """Shape image (H, W, 3) uint8 for `pose`, whose coordinates are in this image's pixels.

    size: (height, width).
    """
    h, w = size
    t = line_width(w)
    ch = [np.zeros((h, w), np.uint8) for _ in range(3)]
    ok = pose.visible(min_score)
    xy = pose.xy
    if ok[TORSO].all():
        cv2.fillPoly(ch[2], [np.round(xy[TORSO]).astype(np.int32)], 255, lineType=cv2.LINE_AA)
    for c, lines in ((0, RIGHT_LINES), (1, LEFT_LINES)):
        for a, b in lines:
            if ok[a] and ok[b]:
                cv2.line(ch[c], _pt(xy[a]), _pt(xy[b]), 255, t, cv2.LINE_AA)
    ls, rs, nose = _J["left_shoulder"], _J["right_shoulder"], _J["nose"]
    if ok[ls] and ok[rs] and ok[nose]:
        neck = 0.5 * (xy[ls] + xy[rs])
        for c in (0, 1):
            cv2.line(ch[c], _pt(neck), _pt(xy[nose]), 127, t, cv2.LINE_AA)
    for c, eye in ((0, _J["right_eye"]), (1, _J["left_eye"])):
        if ok[nose] and ok[eye]:
            cv2.line(ch[c], _pt(xy[nose]), _pt(xy[eye]), 255, t, cv2.LINE_AA)
    return np.stack(ch, axis=-1)


# Preview colours (RGB): right side warm, left side cool, centre line grey.
_PREVIEW_COLOURS = {"right": (255, 96, 48), "left": (48, 160, 255), "centre": (200, 200, 200)}


def draw_preview(pose: Pose, image: np.ndarray | None = None, size: tuple[int, int] | None = None,
                 min_score: float = MIN_SCORE) -> np.ndarray:
    """Coloured skeleton for people to look at, over `image` (RGB) or on black of `size` (h, w)."""
    if image is None:
        assert size is not None, "give an image or a size"
        canvas = np.zeros((*size, 3), np.uint8)
    else:
        canvas = np.ascontiguousarray(image, dtype=np.uint8).copy()
    h, w = canvas.shape[:2]
    t = max(2, int(round(4 * max(h, w) / 512)))
    ok = pose.visible(min_score)
    xy = pose.xy
    for name, lines in (("right", RIGHT_LINES), ("left", LEFT_LINES)):
        for a, b in lines:
            if ok[a] and ok[b]:
                cv2.line(canvas, _pt(xy[a]), _pt(xy[b]), _PREVIEW_COLOURS[name], t, cv2.LINE_AA)
    for a, b in ((_J["left_shoulder"], _J["right_shoulder"]), (_J["left_hip"], _J["right_hip"])):
        if ok[a] and ok[b]:
            cv2.line(canvas, _pt(xy[a]), _pt(xy[b]), _PREVIEW_COLOURS["centre"], t, cv2.LINE_AA)
    for j in np.flatnonzero(ok):
        cv2.circle(canvas, _pt(xy[j]), t + 1, (255, 255, 255), -1, cv2.LINE_AA)
    return canvas
