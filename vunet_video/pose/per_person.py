"""Several people with a single-person pose model: detect people, then pose each crop.

MediaPipe Pose follows one person per call (the most prominent one, by its own choice).
When a person detector is at hand, `PerPersonPose` runs the detector, cuts a square crop
around every detected person (the box side padded by 25%, as RTMPose does; the crop is
black beyond the padded box so that neighbours do not show), runs the single-person
model on each crop and maps the joints (and mask) back to the image. The
caller (SubjectTracker) then chooses among all of them.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..render.framing import Box, crop
from .keypoints import Pose

# Padding of the detector box (RTMPose's top-down crops use 1.25, rtmlib bbox_xyxy2cs).
_PAD = 1.25
# Crops larger than this are scaled down; MediaPipe's landmark model works at 256 px.
_MAX_CROP = 512


class PerPersonPose:
    """Every detected person's pose, from a single-person model run on each person's crop."""

    def __init__(self, detector, single_person):
        self.detector = detector
        self.single_person = single_person
        self.name = single_person.name

    def __call__(self, image_rgb: np.ndarray) -> list[Pose]:
        h, w = image_rgb.shape[:2]
        poses = []
        for x0, y0, x1, y1 in self.detector(image_rgb):
            side = _PAD * max(x1 - x0, y1 - y0)
            box = Box(0.5 * (x0 + x1) - side / 2, 0.5 * (y0 + y1) - side / 2, side)
            size = int(min(max(round(side), 32), _MAX_CROP))
            patch = crop(image_rgb, box, size, border="constant", interpolation=cv2.INTER_LINEAR)
            # Black out the crop beyond the person's padded box: a square crop around a
            # tall person takes in their neighbours, and MediaPipe might pick one of those.
            s = size / side
            pad_w, pad_h = 0.5 * _PAD * (x1 - x0) * s, 0.5 * _PAD * (y1 - y0) * s
            c = size / 2
            keep = np.zeros(patch.shape[:2], np.uint8)
            keep[max(0, int(c - pad_h)):int(np.ceil(c + pad_h)), max(0, int(c - pad_w)):int(np.ceil(c + pad_w))] = 1
            patch *= keep[..., None]
            for found in self.single_person(patch):
                pose = box.pose_from_crop(found, size)
                if found.mask is not None:
                    pose.mask = cv2.warpAffine(found.mask, box.matrix(size), (w, h),
                                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
                poses.append(pose)
        return poses

    def close(self) -> None:
        close = getattr(self.single_person, "close", None)
        if close is not None:
            close()
