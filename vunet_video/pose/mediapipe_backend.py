"""Offline pose backend: MediaPipe Pose (BlazePose GHUM, 'full' model).

The mediapipe 0.10.14 wheel bundles pose_detection.tflite and pose_landmark_full.tflite,
so `model_complexity=1` runs with no download (complexity 0 and 2 fetch files at run
time). BlazePose gives 33 landmarks; COCO-17 is a subset of them. It tracks a single
person; choosing among several people is done by the caller (see `tracking.py`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings

import numpy as np

from .keypoints import NUM_JOINTS, Pose

# BlazePose landmark index of each COCO-17 joint, in COCO order
# (https://developers.google.com/mediapipe/solutions/vision/pose_landmarker, landmark map).
BLAZEPOSE_TO_COCO = np.array([0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28])

# mediapipe 0.10.14 calls a protobuf API that newer protobuf releases deprecate; the
# warning is about mediapipe's code, not the user's input, and would clutter every run.
warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated", category=UserWarning)


@contextlib.contextmanager
def _stderr_fd_silenced():
    """Point file descriptor 2 at /dev/null for the duration (C++ code writes there)."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # captured or replaced stderr: nothing to do
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


class MediaPipePose:
    """COCO-17 pose (and optional person mask) for the most prominent person in an RGB image."""

    name = "mediapipe"

    def __init__(self, video_mode: bool = False, segmentation: bool = False,
                 min_detection_confidence: float = 0.5):
        os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ log noise
        import mediapipe as mp

        self.segmentation = segmentation
        # TFLite and absl print start-up notices straight to file descriptor 2 while the
        # graph starts, partly from its own threads (GLOG_minloglevel does not reach
        # them); they would land in the middle of the CLI's output and one-line errors.
        # Starting the graph here on a blank image, with fd 2 silenced, gets them over
        # with. A blank image finds nobody, so video-mode tracking starts fresh.
        with _stderr_fd_silenced():
            self._pose = mp.solutions.pose.Pose(
                static_image_mode=not video_mode,
                model_complexity=1,
                smooth_landmarks=False,  # smoothing is ours (One Euro, smoothing.py)
                enable_segmentation=segmentation,
                min_detection_confidence=min_detection_confidence,
            )
            self._pose.process(np.zeros((64, 64, 3), np.uint8))

    def __call__(self, image_rgb: np.ndarray) -> list[Pose]:
        """All people found (mediapipe finds at most one). Image: (H, W, 3) uint8 RGB."""
        h, w = image_rgb.shape[:2]
        result = self._pose.process(np.ascontiguousarray(image_rgb))
        if result.pose_landmarks is None:
            return []
        lm = result.pose_landmarks.landmark
        xy = np.empty((NUM_JOINTS, 2), np.float32)
        score = np.empty(NUM_JOINTS, np.float32)
        for j, k in enumerate(BLAZEPOSE_TO_COCO):
            xy[j] = (lm[k].x * w, lm[k].y * h)
            score[j] = lm[k].visibility
        # A joint predicted outside the frame is a guess, not a detection.
        outside = (xy[:, 0] < 0) | (xy[:, 0] > w - 1) | (xy[:, 1] < 0) | (xy[:, 1] > h - 1)
        score[outside] = np.minimum(score[outside], 0.1)
        mask = None
        if self.segmentation and result.segmentation_mask is not None:
            mask = np.asarray(result.segmentation_mask, np.float32)
        return [Pose(xy, score, mask)]

    def close(self) -> None:
        self._pose.close()
