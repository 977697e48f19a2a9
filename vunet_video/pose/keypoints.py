"""COCO-17 keypoints: names, skeleton, left/right mirror, and the `Pose` record.

Every pose in the project is COCO-17 in image pixels. A missing joint has score 0 and
coordinates NaN, so arithmetic on it cannot silently produce a plausible-looking joint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
INDEX = {name: i for i, name in enumerate(NAMES)}
NUM_JOINTS = len(NAMES)

# Index permutation that maps a pose onto its horizontal mirror image (left <-> right).
FLIP_PERM = np.array([0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15])

# Bones as (parent, child). Parents come first so that walking the list from the torso
# outwards visits every joint after its parent (used by retargeting).
BONES = (
    (5, 7), (7, 9),        # left arm
    (6, 8), (8, 10),       # right arm
    (11, 13), (13, 15),    # left leg
    (12, 14), (14, 16),    # right leg
    (5, 6), (11, 12),      # shoulder and hip lines
    (5, 11), (6, 12),      # torso sides
    (0, 1), (0, 2), (1, 3), (2, 4),  # face
)

# Limb lines of the stickman (model input) and of the preview, by body side; TORSO is the
# polygon shoulders-to-hips. The same lists for both drawings, so a preview shows what the
# model is given.
RIGHT_LINES = ((INDEX["right_ankle"], INDEX["right_knee"]), (INDEX["right_knee"], INDEX["right_hip"]),
               (INDEX["right_hip"], INDEX["right_shoulder"]), (INDEX["right_shoulder"], INDEX["right_elbow"]),
               (INDEX["right_elbow"], INDEX["right_wrist"]))
LEFT_LINES = ((INDEX["left_ankle"], INDEX["left_knee"]), (INDEX["left_knee"], INDEX["left_hip"]),
              (INDEX["left_hip"], INDEX["left_shoulder"]), (INDEX["left_shoulder"], INDEX["left_elbow"]),
              (INDEX["left_elbow"], INDEX["left_wrist"]))
TORSO = [INDEX["left_hip"], INDEX["left_shoulder"], INDEX["right_shoulder"], INDEX["right_hip"]]

# Default confidence below which a joint counts as missing.
MIN_SCORE = 0.3

# Shoulders and hips: a pose with none of them cannot be framed or retargeted.
_ANCHOR_JOINTS = [5, 6, 11, 12]


@dataclass
class Pose:
    """One person's COCO-17 pose in pixel coordinates of the image it came from.

    xy:    (17, 2) float32, x right, y down; NaN where the joint is missing.
    score: (17,) float32 in [0, 1]; 0 where the joint is missing.
    mask:  optional (H, W) float32 person segmentation in [0, 1] (mediapipe backend only).
    """

    xy: np.ndarray
    score: np.ndarray
    mask: np.ndarray | None = field(default=None, repr=False)

    @staticmethod
    def empty() -> "Pose":
        return Pose(np.full((NUM_JOINTS, 2), np.nan, np.float32), np.zeros(NUM_JOINTS, np.float32))

    def visible(self, min_score: float = MIN_SCORE) -> np.ndarray:
        """Boolean (17,) array: joints present with at least `min_score` confidence."""
        return (self.score >= min_score) & np.isfinite(self.xy).all(axis=1)

    def is_empty(self, min_score: float = MIN_SCORE) -> bool:
        return not self.visible(min_score).any()

    def bbox(self, min_score: float = MIN_SCORE) -> tuple[float, float, float, float] | None:
        """(x0, y0, x1, y1) around the visible joints, or None when none are visible."""
        v = self.visible(min_score)
        if not v.any():
            return None
        pts = self.xy[v]
        return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())

    def transformed(self, scale: float, offset: tuple[float, float] = (0.0, 0.0)) -> "Pose":
        """Pose with coordinates mapped by xy * scale + offset (mask is dropped)."""
        return Pose((self.xy * scale + np.asarray(offset, np.float32)).astype(np.float32), self.score.copy())

    def flipped(self, width: float) -> "Pose":
        """Mirror image of the pose in an image `width` pixels wide (left/right swapped)."""
        xy = self.xy[FLIP_PERM].copy()
        xy[:, 0] = width - 1 - xy[:, 0]
        return Pose(xy, self.score[FLIP_PERM].copy())

    def copy(self) -> "Pose":
        return Pose(self.xy.copy(), self.score.copy(), None if self.mask is None else self.mask.copy())


def usable(pose: Pose, min_score: float = MIN_SCORE) -> bool:
    """Enough of a person to render: 4 joints, one of them a shoulder or hip."""
    v = pose.visible(min_score)
    return bool(v.sum() >= 4 and v[_ANCHOR_JOINTS].any())
