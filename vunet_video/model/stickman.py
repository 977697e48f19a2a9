"""The stickman image: the VUNet's shape input.

Convention (Esser et al. 2018, official code `make_joint_img`): three channels,
right-side limbs in channel 0, left-side limbs in channel 1, the torso polygon in channel 2;
the neck-to-nose line is drawn at half intensity in both side channels and the eye lines
in their side's channel. Line width is 3 px at 128 px image width and scales with it.
A joint below `min_score` is left out together with every line touching it.

Training, fine-tune and inference all draw it here, so the model always reads the same
picture; the coloured preview for people is `pose/drawing.py`.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..pose.drawing import pixel
from ..pose.keypoints import INDEX, LEFT_LINES, MIN_SCORE, RIGHT_LINES, TORSO, Pose


def line_width(width: int) -> int:
    return max(1, int(round(3 * width / 128)))


def draw_stickman(pose: Pose, shape: tuple[int, int], min_score: float = MIN_SCORE) -> np.ndarray:
    """Shape image (H, W, 3) uint8 for `pose`, whose coordinates are in this image's pixels.

    shape: (height, width), as numpy gives an image's shape.
    """
    h, w = shape
    t = line_width(w)
    ch = [np.zeros((h, w), np.uint8) for _ in range(3)]
    ok = pose.visible(min_score)
    xy = pose.xy
    if ok[TORSO].all():
        cv2.fillPoly(ch[2], [np.round(xy[TORSO]).astype(np.int32)], 255, lineType=cv2.LINE_AA)
    for c, lines in ((0, RIGHT_LINES), (1, LEFT_LINES)):
        for a, b in lines:
            if ok[a] and ok[b]:
                cv2.line(ch[c], pixel(xy[a]), pixel(xy[b]), 255, t, cv2.LINE_AA)
    ls, rs, nose = INDEX["left_shoulder"], INDEX["right_shoulder"], INDEX["nose"]
    if ok[ls] and ok[rs] and ok[nose]:
        neck = 0.5 * (xy[ls] + xy[rs])
        for c in (0, 1):
            cv2.line(ch[c], pixel(neck), pixel(xy[nose]), 127, t, cv2.LINE_AA)
    for c, eye in ((0, INDEX["right_eye"]), (1, INDEX["left_eye"])):
        if ok[nose] and ok[eye]:
            cv2.line(ch[c], pixel(xy[nose]), pixel(xy[eye]), 255, t, cv2.LINE_AA)
    return np.stack(ch, axis=-1)
