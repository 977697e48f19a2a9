"""Offline pose backend: MediaPipe Pose (BlazePose GHUM, 'full' model).

The mediapipe 0.10.14 wheel bundles pose_detection.tflite and pose_landmark_full.tflite,
so `model_complexity=1` runs with no download (complexity 0 and 2 fetch files at run
time). BlazePose gives 33 landmarks; COCO-17 is a subset of them.

MediaPipe Pose is two models: a person detector that looks for a face first (BlazePose's
detector regresses the body from the face box) and a landmark model on the region it
finds. On its own it follows one person, and misses people whose face it cannot see
(back views, small or blurred faces). Given person boxes from a body detector,
`poses_in_boxes` runs the landmark model on each box directly, the way RTMPose is run
top-down; choosing among several people is done by the caller (see `tracking.py`).

Registered as 'mediapipe' (`BACKEND`, see estimator.py). Options: min_detection_confidence,
person_boxes (True / False / None = when a detector file is local), and the person
detector's det_model, det_kind, det_input_size, det_score_thr, device.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings

import numpy as np

from ..errors import VunetError
from .estimator import PoseBackend
from .keypoints import NUM_JOINTS, Pose
from .rtmlib_backend import DETECTOR_OPTIONS, PersonDetector, local_detector

log = logging.getLogger(__name__)

# The landmark half of MediaPipe's pose graph (pose_landmark_cpu.binarypb runs the
# registered subgraph PoseLandmarkByRoiCpu after its detector), fed a region of our own.
_LANDMARKS_IN_REGION_GRAPH = """
input_stream: "IMAGE:image"
input_stream: "ROI:roi"
output_stream: "LANDMARKS:landmarks"
output_stream: "SEGMENTATION_MASK:segmentation_mask"
input_side_packet: "MODEL_COMPLEXITY:model_complexity"
input_side_packet: "ENABLE_SEGMENTATION:enable_segmentation"
node {
  calculator: "PoseLandmarkByRoiCpu"
  input_stream: "IMAGE:image"
  input_stream: "ROI:roi"
  output_stream: "LANDMARKS:landmarks"
  output_stream: "SEGMENTATION_MASK:mask_image"
  input_side_packet: "MODEL_COMPLEXITY:model_complexity"
  input_side_packet: "ENABLE_SEGMENTATION:enable_segmentation"
}
node {
  calculator: "FromImageCalculator"
  input_stream: "IMAGE:mask_image"
  output_stream: "IMAGE_CPU:segmentation_mask"
}
"""

# Side of the square region around a detector box, as a multiple of the box's longer side.
# MediaPipe's own region is the detector's body circle scaled by 1.25
# (pose_detection_to_roi.pbtxt); 1.25 is also RTMPose's top-down padding (rtmlib
# bbox_xyxy2cs). On held-out ground-truth frames PCK@0.1 against the cached labels was
# 0.976 / 0.975 / 0.968 with 1.1 / 1.25 / 1.4 (dev clips: 0.999-1.000 for all three).
BOX_PAD = 1.25

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
    """COCO-17 poses (and optional person masks) in an RGB image.

    Without a detector: MediaPipe's own choice of person (at most one). With a person
    detector (a callable rgb -> (N, 4) boxes, e.g. rtmlib_backend.PersonDetector): the
    landmark model on every detected person, and MediaPipe's own choice when that finds
    nobody.
    """

    name = "mediapipe"

    def __init__(self, video_mode: bool = False, segmentation: bool = False,
                 min_detection_confidence: float = 0.5, detector=None):
        os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ log noise
        import mediapipe as mp

        self.segmentation = segmentation
        self.detector = detector
        self._min_detection_confidence = min_detection_confidence
        self._in_region = None  # the landmark-only graph, built on first use
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
        """All people found. Image: (H, W, 3) uint8 RGB."""
        if self.detector is not None:
            poses = self.poses_in_boxes(image_rgb, self.detector(image_rgb))
            if poses:
                return poses
            # The two detectors miss different people (the body detector small or blurred
            # ones, MediaPipe's face-first one back views), so MediaPipe's own gets a try.
        h, w = image_rgb.shape[:2]
        result = self._pose.process(np.ascontiguousarray(image_rgb))
        if result.pose_landmarks is None:
            return []
        return [self._to_pose(result.pose_landmarks, result.segmentation_mask, w, h)]

    def poses_in_boxes(self, image_rgb: np.ndarray, boxes: np.ndarray) -> list[Pose]:
        """The landmark model on each (x0, y0, x1, y1) person box; a box in which the model
        sees no person (its presence score below 0.5) gives nothing."""
        if len(boxes) == 0:
            return []
        h, w = image_rgb.shape[:2]
        graph = self._landmarks_in_region()
        from mediapipe.framework.formats import rect_pb2

        image = np.ascontiguousarray(image_rgb)
        poses = []
        for x0, y0, x1, y1 in np.asarray(boxes, np.float64):
            side = BOX_PAD * max(x1 - x0, y1 - y0)  # a square region, as the model was trained on
            region = rect_pb2.NormalizedRect(x_center=0.5 * (x0 + x1) / w, y_center=0.5 * (y0 + y1) / h,
                                             width=side / w, height=side / h, rotation=0.0)
            result = graph.process({"image": image, "roi": region})
            if result.landmarks is not None:
                poses.append(self._to_pose(result.landmarks, result.segmentation_mask, w, h))
        return poses

    def _landmarks_in_region(self):
        if self._in_region is None:
            from google.protobuf import text_format
            from mediapipe.framework import calculator_pb2
            from mediapipe.python.solution_base import SolutionBase

            config = text_format.Parse(_LANDMARKS_IN_REGION_GRAPH, calculator_pb2.CalculatorGraphConfig())
            with _stderr_fd_silenced():
                self._in_region = SolutionBase(
                    graph_config=config, outputs=["landmarks", "segmentation_mask"],
                    side_inputs={"model_complexity": 1, "enable_segmentation": self.segmentation})
        return self._in_region

    def _to_pose(self, landmarks, segmentation_mask, w: int, h: int) -> Pose:
        lm = landmarks.landmark
        xy = np.empty((NUM_JOINTS, 2), np.float32)
        score = np.empty(NUM_JOINTS, np.float32)
        for j, k in enumerate(BLAZEPOSE_TO_COCO):
            xy[j] = (lm[k].x * w, lm[k].y * h)
            score[j] = lm[k].visibility
        # A joint predicted outside the frame is a guess, not a detection.
        outside = (xy[:, 0] < 0) | (xy[:, 0] > w - 1) | (xy[:, 1] < 0) | (xy[:, 1] > h - 1)
        score[outside] = np.minimum(score[outside], 0.1)
        mask = None
        if self.segmentation and segmentation_mask is not None:
            mask = np.asarray(segmentation_mask, np.float32)
        return Pose(xy, score, mask)

    def close(self) -> None:
        self._pose.close()
        if self._in_region is not None:
            self._in_region.close()


def _build(options: dict, *, video_mode: bool, segmentation: bool) -> MediaPipePose:
    """MediaPipe Pose, in person boxes when a detector file is local.

    person_boxes: True = a detector is required (error without one), False = never,
    absent = whenever a detector file is available locally (det_model, $VUNET_DET_MODEL,
    or rtmlib's default detector in rtmlib's cache). Never downloads a detector.
    """
    mp_kwargs = {k: options[k] for k in ("min_detection_confidence",) if k in options}
    boxes = options.get("person_boxes")
    det_spec = local_detector(options.get("det_model")) if boxes is not False else None
    if boxes and det_spec is None:
        raise VunetError(None, "person_boxes needs a person detector file (det_model or $VUNET_DET_MODEL)")
    detector = None
    if det_spec is not None:
        detector = PersonDetector(det_spec, options.get("det_kind") or "auto", options.get("det_input_size"),
                                  options.get("det_score_thr"), options.get("device") or "cpu")
        log.info("mediapipe landmarks in person boxes from %s", detector.model)
    return MediaPipePose(video_mode=video_mode, segmentation=segmentation, detector=detector, **mp_kwargs)


BACKEND = PoseBackend(
    name="mediapipe",
    options=DETECTOR_OPTIONS | {"min_detection_confidence", "person_boxes"},
    gives_mask=True,
    # 'auto's fallback: its models are bundled in the mediapipe wheel, so it is always
    # available, and any backend that needs model files is preferred when they are local.
    auto_rank=0,
    models_local=lambda options: True,
    build=_build,
)
