"""Body-part crops: the appearance encoder's pose-normalised view of a person.

Following the official VUNet code (`normalize` in batches.py), the image and its own
stickman are cut into eight body parts, each warped into a square of side S/4 so the
part always appears upright and at the same scale: the torso (perspective from the
shoulder/hip quadrilateral), the head (the segment from the neck to twice the
neck-to-nose vector above it), the upper and lower arms, and the thighs. Because the
crops no longer carry where the limbs were, the appearance code learns what the person
looks like rather than how they stand. A part whose joints are missing is all zeros.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..pose.keypoints import INDEX as J
from ..pose.keypoints import MIN_SCORE, Pose

# Segment parts as (start joint, end joint); the crop's vertical axis runs start -> end.
SEGMENTS = (
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("left_hip", "left_knee"), ("right_hip", "right_knee"),
)
NUM_PARTS = 2 + len(SEGMENTS)  # torso, head, then the segments
# Half-width of a segment crop relative to the segment's length (official code: 0.5, a square).
SEGMENT_HALF_WIDTH = 0.5


def _segment_matrix(a: np.ndarray, b: np.ndarray, side: int) -> np.ndarray | None:
    v = b - a
    length = float(np.hypot(*v))
    if length < 1.0:
        return None
    n = np.array([-v[1], v[0]], np.float32) * SEGMENT_HALF_WIDTH
    src = np.float32([a - n, a + n, b + n])
    dst = np.float32([[0, 0], [side, 0], [side, side]])
    return cv2.getAffineTransform(src, dst)


def part_matrices(pose: Pose, side: int, min_score: float = MIN_SCORE) -> list[np.ndarray | None]:
    """3x3 maps from image pixels to each part's side x side square (None where missing)."""
    ok = pose.visible(min_score)
    xy = pose.xy.astype(np.float32)
    out: list[np.ndarray | None] = []

    torso = [J["left_shoulder"], J["right_shoulder"], J["right_hip"], J["left_hip"]]
    if ok[torso].all():
        dst = np.float32([[0, 0], [side, 0], [side, side], [0, side]])
        # Image-left of the crop is the person's right shoulder when they face the camera.
        src = xy[[J["right_shoulder"], J["left_shoulder"], J["left_hip"], J["right_hip"]]]
        out.append(cv2.getPerspectiveTransform(src, dst))
    else:
        out.append(None)

    ls, rs, nose = J["left_shoulder"], J["right_shoulder"], J["nose"]
    head = None
    if ok[[ls, rs, nose]].all():
        neck = 0.5 * (xy[ls] + xy[rs])
        top = neck + 2.0 * (xy[nose] - neck)
        m = _segment_matrix(top, neck, side)
        head = None if m is None else np.vstack([m, [0, 0, 1]])
    out.append(head)

    out += [_segment_part(pose, a, b, side, min_score) for a, b in SEGMENTS]
    return out


def _segment_part(pose: Pose, a_name: str, b_name: str, side: int, min_score: float) -> np.ndarray | None:
    """3x3 map from image pixels to the square of the segment a -> b (None where missing)."""
    a, b = J[a_name], J[b_name]
    ok = pose.visible(min_score)
    m = _segment_matrix(pose.xy[a].astype(np.float32), pose.xy[b].astype(np.float32), side) \
        if ok[a] and ok[b] else None
    return None if m is None else np.vstack([m, [0, 0, 1]])


def part_crops(image: np.ndarray, pose: Pose, side: int, min_score: float = MIN_SCORE) -> np.ndarray:
    """(side, side, C * NUM_PARTS) stack of the parts of `image` (H, W, C); zeros where missing."""
    c = image.shape[2]
    out = np.zeros((side, side, c * NUM_PARTS), image.dtype)
    for i, m in enumerate(part_matrices(pose, side, min_score)):
        if m is None:
            continue
        warped = cv2.warpPerspective(image, m.astype(np.float64), (side, side),
                                     flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out[:, :, i * c:(i + 1) * c] = warped.reshape(side, side, c)
    return out


# Shins are not appearance parts, but the warp covers them: a warped person without lower
# legs would leave the decoder nothing to copy there.
SHINS = (("left_knee", "left_ankle"), ("right_knee", "right_ankle"))


def warp_parts(image: np.ndarray, pose: Pose, target: Pose, min_score: float = MIN_SCORE,
               side: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Each body part of `image` (S x S) moved from `pose` onto `target` (both in its pixels)
    by the part's own transform (torso: perspective, head and limb segments: similarity).

    Returns (rgb (S, S, 3) float32, coverage (S, S) float32 in [0, 1]): the parts' colour
    (straight, not multiplied by coverage; 0 where nothing landed) and how much of each pixel
    they cover. Limbs are pasted first and torso and head last, so the body's core is on top.
    """
    size = image.shape[0]
    src_ms, dst_ms = ([*part_matrices(p, side, min_score), *(_segment_part(p, a, b, side, min_score) for a, b in SHINS)]
                      for p in (pose, target))
    rgb = np.zeros((size, size, 3), np.float32)
    coverage = np.zeros((size, size), np.float32)
    square = np.ones((side, side), np.float32)
    for k in list(range(2, len(src_ms))) + [0, 1]:
        if src_ms[k] is None or dst_ms[k] is None:
            continue
        to_part = np.linalg.inv(dst_ms[k])
        m = to_part @ src_ms[k]
        warped = cv2.warpPerspective(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mask = cv2.warpPerspective(square, to_part, (size, size), flags=cv2.INTER_LINEAR)
        rgb = rgb * (1 - mask[..., None]) + warped.astype(np.float32) * mask[..., None]  # premultiplied
        coverage = coverage * (1 - mask) + mask
    covered = coverage > 1e-3
    rgb[covered] /= coverage[covered][:, None]
    return rgb, coverage
