"""Choosing and building a pose estimator, and the main subject of a photo.

Backends (every estimator is a callable `estimator(rgb) -> list[Pose]` with a `.name`):

* 'rtmlib':    person detector + RTMPose (all people; `rtmlib_backend.py`). Needs the two
               ONNX files; rtmlib downloads its defaults when they are not cached.
* 'mediapipe': MediaPipe Pose, bundled with the wheel, always offline. When a person
               detector file is available locally (option `det_model`,
               $VUNET_DET_MODEL, or rtmlib's default detector in rtmlib's cache),
               MediaPipe's landmark model runs on every detected person's box, so the
               subject tracker can choose among everybody, and people whose face
               MediaPipe's own detector misses are found; otherwise MediaPipe's own
               detector picks one person.
* 'auto':      'rtmlib' when both its model files are present locally (arguments,
               environment or rtmlib's cache; never downloads), else 'mediapipe'.
               With segmentation=True it is always 'mediapipe': only MediaPipe gives a
               person mask.

Options (from presets' [pose] table or keyword arguments):
  rtmlib:    pose_model, det_model, det_kind, det_input_size, det_score_thr,
             pose_input_size, device
  mediapipe: min_detection_confidence, person_boxes (True/False/None = when a detector
             is available), det_model, det_kind, det_input_size, det_score_thr, device
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import VunetError
from .keypoints import MIN_SCORE, Pose, usable
from .tracking import SubjectTracker, main_subject  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)

BACKENDS = ("auto", "rtmlib", "mediapipe")
_DET_OPTIONS = {"det_model", "det_kind", "det_input_size", "det_score_thr", "device"}
_RTMLIB_OPTIONS = _DET_OPTIONS | {"pose_model", "pose_input_size"}
_MEDIAPIPE_OPTIONS = _DET_OPTIONS | {"min_detection_confidence", "person_boxes"}


def _pick(options: dict, names: set) -> dict:
    return {k: v for k, v in options.items() if k in names and v is not None}


def rtmlib_models_local(pose_model=None, det_model=None) -> bool:
    """True when rtmlib's pose and detector files can be loaded without a download.

    A path given explicitly (argument or environment variable) that does not exist is an
    error rather than a silent fallback.
    """
    try:
        from .rtmlib_backend import is_local, resolve_det_model, resolve_pose_model
    except ImportError:  # rtmlib not installed
        return False
    return is_local(resolve_pose_model(pose_model)) and is_local(resolve_det_model(det_model))


def _local_detector_spec(det_model=None) -> str | None:
    try:
        from .rtmlib_backend import is_local, resolve_det_model
    except ImportError:
        return None
    spec = resolve_det_model(det_model)
    return spec if is_local(spec) else None


def _make_mediapipe(video_mode: bool, segmentation: bool, options: dict):
    from .mediapipe_backend import MediaPipePose

    mp_kwargs = _pick(options, {"min_detection_confidence"})
    boxes = options.get("person_boxes")
    det_spec = _local_detector_spec(options.get("det_model")) if boxes is not False else None
    if boxes and det_spec is None:
        raise VunetError(None, "person_boxes needs a person detector file (det_model or $VUNET_DET_MODEL)")
    detector = None
    if det_spec is not None:
        from .rtmlib_backend import PersonDetector

        detector = PersonDetector(det_spec, options.get("det_kind") or "auto", options.get("det_input_size"),
                                  options.get("det_score_thr"), options.get("device") or "cpu")
        log.info("mediapipe landmarks in person boxes from %s", detector.model)
    return MediaPipePose(video_mode=video_mode, segmentation=segmentation, detector=detector, **mp_kwargs)


def make_estimator(backend: str = "auto", *, video_mode: bool = False, segmentation: bool = False,
                   **backend_options):
    """A pose estimator `est(rgb) -> list[Pose]`; `est.name` says which backend it is.

    video_mode: frames come from one video in order (lets MediaPipe track between frames).
    segmentation: also give a person mask (Pose.mask); MediaPipe only.
    """
    if backend not in BACKENDS:
        raise VunetError(None, f"unknown pose backend {backend!r} (use one of {', '.join(BACKENDS)})")
    unknown = set(backend_options) - _RTMLIB_OPTIONS - _MEDIAPIPE_OPTIONS
    if unknown:
        known = ", ".join(sorted(_RTMLIB_OPTIONS | _MEDIAPIPE_OPTIONS))
        raise VunetError(None, f"unknown pose option(s) {', '.join(sorted(unknown))} (known: {known})")
    if backend == "auto":
        if segmentation:
            backend = "mediapipe"
        else:
            rtm = _pick(backend_options, {"pose_model", "det_model"})
            backend = "rtmlib" if rtmlib_models_local(**rtm) else "mediapipe"
        log.info("pose backend: %s (auto)", backend)
    if backend == "rtmlib":
        if segmentation:
            raise VunetError(None, "the rtmlib pose backend gives no person mask; use mediapipe for segmentation")
        from .rtmlib_backend import RTMLibPose

        return RTMLibPose(**_pick(backend_options, _RTMLIB_OPTIONS))
    return _make_mediapipe(video_mode, segmentation, backend_options)


def estimate_image_pose(image_rgb: np.ndarray, estimator, min_score: float = MIN_SCORE) -> Pose:
    """The main subject of a photo (largest, most central, most confident person), or
    Pose.empty() when nobody is found; callers turn empty into an error naming the file."""
    return main_subject(estimator(image_rgb), image_rgb.shape[:2], min_score)


def photo_pose(image_rgb: np.ndarray, what, min_score: float = MIN_SCORE) -> Pose:
    """The main person's pose in a photo, with their person mask (MediaPipe: the one backend
    that gives a mask, which the appearance encoder needs); VunetError naming `what` (the
    photo's file name) when there is nobody usable in it."""
    estimator = make_estimator("mediapipe", segmentation=True)
    try:
        pose = estimate_image_pose(image_rgb, estimator, min_score)
    finally:
        getattr(estimator, "close", lambda: None)()
    if not usable(pose, min_score):
        raise VunetError(what, "no person found in the photo")
    return pose
