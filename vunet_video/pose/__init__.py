"""The pose stage: COCO-17 poses from photos and videos, tracked, smoothed, saved.

    est = make_estimator("auto", video_mode=True)        # rtmlib if its files are local
    for frame, pose in track_poses(VideoReader(path), est, PoseSmoother()):
        ...                                               # one Pose per frame, streamed
"""

from __future__ import annotations

from typing import Iterable, Iterator

from .estimator import backend_names, estimate_image_pose, make_estimator
from .io import read_pose_json, write_pose_json
from .keypoints import Pose
from .smoothing import PoseSmoother
from .tracking import SubjectTracker

__all__ = ["Pose", "make_estimator", "backend_names", "estimate_image_pose", "SubjectTracker", "PoseSmoother",
           "read_pose_json", "write_pose_json", "track_poses"]


def track_poses(frames: Iterable, estimator, smoother: PoseSmoother | None = None,
                tracker: SubjectTracker | None = None) -> Iterator[tuple[object, Pose]]:
    """(frame, pose of the main subject) for every frame, lazily.

    frames: objects with .index, .time (seconds) and .image (H, W, 3) uint8 RGB, such as
            vunet_video.video.VideoReader yields. A frame where the subject is not found
            gives a pose with missing joints (after the smoother's short gap filling).
    """
    tracker = SubjectTracker() if tracker is None else tracker
    for frame in frames:
        pose = tracker(estimator(frame.image), frame.image.shape[:2])
        if smoother is not None:
            pose = smoother(pose, frame.time)
        yield frame, pose
