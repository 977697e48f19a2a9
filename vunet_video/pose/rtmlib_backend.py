"""Multi-person pose backend: a person detector (YOLOX or RTMDet) + RTMPose, via rtmlib.

rtmlib (https://github.com/Tau-J/rtmlib) runs the ONNX exports of OpenMMLab's detectors
and RTMPose with onnxruntime and plain numpy. RTMPose here is the COCO-17 body model
(SimCC head: outputs `simcc_x` (N, 17, 2*W) and `simcc_y` (N, 17, 2*H) for an input
crop of W x H, decoded by rtmlib with split ratio 2).

Where the model files come from, first match wins:

1. the `pose_model` / `det_model` arguments (presets pass these);
2. the environment variables VUNET_RTMPOSE_MODEL / VUNET_DET_MODEL;
3. rtmlib's defaults for its 'balanced' mode (`rtmlib.Body.MODE`): RTMPose-m body7
   256x192 and YOLOX-m HumanArt, given to rtmlib as URLs. rtmlib first looks for them in
   its cache folder and downloads them there (once) when they are missing.

rtmlib's cache folder (rtmlib/tools/file.py, `_get_rtmhub_dir` and `download_checkpoint`):
`$TORCH_HOME/hub/checkpoints/` when TORCH_HOME is set, else
`${XDG_CACHE_HOME:-~/.cache}/rtmlib/hub/checkpoints/`. A model published as
`NAME.zip` is found there as `NAME.zip` or as the extracted `NAME.onnx` (the name up to
its first dot). Copying the two .onnx files there makes the backend work offline.

Colour order. The project passes RGB images around. rtmlib's examples feed every model
OpenCV's BGR, but the models were not all trained that way:
* the detectors (YOLOX, RTMDet from mmdet) were trained on BGR (mmdet configs:
  bgr_to_rgb=False; rtmlib's RTMDet mean (103.53, 116.28, 123.675) is in BGR order), so
  they get BGR;
* RTMPose was trained on RGB: its mmpose config normalises with mean
  (123.675, 116.28, 103.53) in RGB order after `bgr_to_rgb=True`
  (projects/rtmpose/rtmpose/body_2d_keypoint/rtmpose-m_8xb256-420e_coco-256x192.py).
  rtmlib.RTMPose applies exactly that mean/std channel by channel to whatever it is
  given, so it gets the RGB image unchanged (rtmlib issue #48 reports the BGR mix-up).

Registered as 'rtmlib' (`BACKEND`, see estimator.py). Options: pose_model, pose_input_size
and the person detector's det_model, det_kind, det_input_size, det_score_thr, device (the
detector is also what the mediapipe backend runs its landmark model in).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from ..errors import VunetError
from .estimator import PoseBackend
from .keypoints import NUM_JOINTS, Pose

log = logging.getLogger(__name__)

POSE_MODEL_ENV = "VUNET_RTMPOSE_MODEL"
DET_MODEL_ENV = "VUNET_DET_MODEL"

# rtmlib's Body solution defaults (pose model input is (width, height)).
_DEFAULT_MODE = "balanced"
_DEFAULT_POSE_INPUT = (192, 256)
_DEFAULT_DET_INPUT = (640, 640)
# Detection score thresholds. rtmlib's YOLOX default (0.7) drops people cut by the frame
# edge (the third person on the dev photo ultralytics_bus.jpg scores between 0.5 and 0.7
# with YOLOX-nano); RTMDet keeps rtmlib's 0.3.
_DEFAULT_DET_SCORE = {"yolox": 0.5, "rtmdet": 0.3}

# Options of the person detector (PersonDetector's arguments); the mediapipe backend,
# which can run its landmark model in these boxes, accepts them too.
DETECTOR_OPTIONS = frozenset({"det_model", "det_kind", "det_input_size", "det_score_thr", "device"})


def rtmlib_cache_dir() -> Path:
    """The folder where rtmlib looks for (and downloads) model files."""
    torch_home = os.getenv("TORCH_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "rtmlib"))
    return Path(os.path.expanduser(torch_home)) / "hub" / "checkpoints"


def default_model_urls() -> tuple[str, str]:
    """(pose URL, detector URL) rtmlib uses by default for the body model."""
    from rtmlib import Body

    mode = Body.MODE[_DEFAULT_MODE]
    return mode["pose"], mode["det"]


def cached_path(url: str) -> Path | None:
    """Where rtmlib's cache holds the file for `url`, or None when it is not there."""
    name = os.path.basename(urlparse(url).path)
    folder = rtmlib_cache_dir()
    for candidate in (folder / name, folder / (name.split(".")[0] + ".onnx")):
        if candidate.is_file():
            return candidate
    return None


def _is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def resolve_model(given: str | os.PathLike | None, env_var: str, default_url: str) -> str:
    """Model spec to hand to rtmlib: a local path (checked) or a URL.

    given > $env_var > default_url; a local path that does not exist is an error.
    """
    spec = str(given) if given else os.environ.get(env_var) or default_url
    if _is_url(spec):
        return spec
    path = Path(spec).expanduser()
    if not path.is_file():
        origin = "" if given else f" (from ${env_var})"
        raise VunetError(path, f"pose/detector model file not found{origin}")
    return str(path)


def is_local(spec: str) -> bool:
    """True when rtmlib can load `spec` without a download."""
    return not _is_url(spec) or cached_path(spec) is not None


def resolve_pose_model(given: str | os.PathLike | None = None) -> str:
    return resolve_model(given, POSE_MODEL_ENV, default_model_urls()[0])


def resolve_det_model(given: str | os.PathLike | None = None) -> str:
    return resolve_model(given, DET_MODEL_ENV, default_model_urls()[1])


def fetch_model(spec: str, env_var: str, option: str) -> str:
    """A local file for a model spec: the path itself, or for a URL rtmlib's cached copy,
    downloaded there first when missing. A download that fails (offline, blocked, the file
    moved) is one VunetError saying how to supply the file instead, not rtmlib's traceback."""
    if not _is_url(spec):
        return spec
    from rtmlib.tools.file import download_checkpoint

    # rtmlib writes its 'Downloading ...' line and progress bar to stderr: kept out of the
    # one line an error must be.
    with contextlib.redirect_stderr(io.StringIO()), _quiet_rtmlib():
        try:
            return str(download_checkpoint(spec))
        except Exception as e:  # urllib, socket, zip and file errors alike: all mean "not fetched"
            reason = " ".join(str(getattr(e, "reason", None) or e).split()) or type(e).__name__
    name = os.path.basename(urlparse(spec).path)
    raise VunetError(spec, f"could not fetch the model ({reason[:200]}); download {name} yourself and give the local "
                           f"file with {option} or ${env_var}, or put it in {rtmlib_cache_dir()}")


def _load(tool, spec: str, **kwargs):
    """An rtmlib model tool over a local file; a file onnxruntime cannot load (not ONNX,
    truncated) is a VunetError naming it."""
    try:
        with _quiet_rtmlib():
            return tool(spec, backend="onnxruntime", **kwargs)
    except Exception as e:
        raise VunetError(spec, f"cannot load the model ({' '.join(str(e).split())[:200]})") from None


def _quiet_rtmlib():
    """rtmlib prints 'load <model> with <backend> backend' to stdout, which would mix with
    the CLI's output; swallow it (the model path is logged instead)."""
    return contextlib.redirect_stdout(io.StringIO())


def _static_hw(session) -> tuple[int, int] | None:
    """(height, width) of an onnxruntime session's image input, when fixed in the graph."""
    shape = session.get_inputs()[0].shape
    if len(shape) == 4 and all(isinstance(d, int) and d > 0 for d in shape[2:]):
        return int(shape[2]), int(shape[3])
    return None


def guess_det_kind(spec: str) -> str:
    """'rtmdet' if the file name says so, else 'yolox'."""
    return "rtmdet" if "rtmdet" in os.path.basename(urlparse(spec).path).lower() else "yolox"


class PersonDetector:
    """Person boxes (N, 4) float32 x0, y0, x1, y1 in pixels of an RGB image.

    kind 'yolox' or 'rtmdet' ('auto': from the file name). Works with exports that have
    NMS in the graph (two outputs: dets and labels, as rtmlib's defaults and
    rtmdet_nano) and with raw COCO-80 heads (one output (1, A, 85), as yolox_nano),
    where rtmlib runs NMS per class ('multiclass') and only class 0 (person) is kept.
    """

    def __init__(self, model: str | os.PathLike | None = None, kind: str = "auto",
                 input_size: tuple[int, int] | None = None, score_thr: float | None = None,
                 device: str = "cpu"):
        import rtmlib

        spec = resolve_det_model(model)
        self.kind = guess_det_kind(spec) if kind == "auto" else kind
        if self.kind not in ("yolox", "rtmdet"):
            raise VunetError(None, f"unknown detector kind {kind!r} (use yolox or rtmdet)")
        tool = rtmlib.YOLOX if self.kind == "yolox" else rtmlib.RTMDet
        self._det = _load(tool, fetch_model(spec, DET_MODEL_ENV, "[pose] det_model"),
                          model_input_size=input_size or _DEFAULT_DET_INPUT, det_mode="human",
                          score_thr=_DEFAULT_DET_SCORE[self.kind] if score_thr is None else score_thr, device=device)
        if input_size is None:
            # A fixed input size in the graph wins over the default guess.
            self._det.model_input_size = _static_hw(self._det.session) or _DEFAULT_DET_INPUT
        # With NMS in the graph rtmlib only supports 'human' (the export is person-only
        # or carries labels rtmlib ignores); a raw head needs 'multiclass' so that the
        # boxes of other classes can be dropped (rtmlib's YOLOX 'human' mode keeps them).
        self._raw_head = len(self._det.session.get_outputs()) == 1
        if self._raw_head:
            self._det.det_mode = "multiclass"
        self.model = self._det.onnx_model
        log.info("person detector: %s (%s, input %s)", self.model, self.kind, self._det.model_input_size)

    def __call__(self, image_rgb: np.ndarray) -> np.ndarray:
        bgr = np.ascontiguousarray(image_rgb[..., ::-1])
        result = self._det(bgr)
        if self._raw_head:
            boxes, classes = result
            boxes = np.asarray(boxes).reshape(-1, 4)[np.asarray(classes).reshape(-1) == 0]
        else:
            boxes = np.asarray(result).reshape(-1, 4)
        h, w = image_rgb.shape[:2]
        boxes = boxes.astype(np.float32)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        keep = (boxes[:, 2] - boxes[:, 0] >= 2) & (boxes[:, 3] - boxes[:, 1] >= 2)
        return boxes[keep]


class RTMLibPose:
    """COCO-17 poses of every person in an RGB image: detector boxes, then RTMPose per box.

    pose_model / det_model: local .onnx path or URL (None: env var, then rtmlib default).
    det_kind: 'auto' (from the file name), 'yolox' or 'rtmdet'.
    """

    name = "rtmlib"

    def __init__(self, pose_model: str | os.PathLike | None = None,
                 det_model: str | os.PathLike | None = None, det_kind: str = "auto",
                 device: str = "cpu", det_input_size: tuple[int, int] | None = None,
                 det_score_thr: float | None = None, pose_input_size: tuple[int, int] | None = None):
        import rtmlib

        # The pose file is checked before the detector is loaded: a mistyped pose path is
        # reported at once, not after loading (or, for rtmlib's default, downloading) a
        # detector that would not be used.
        spec = resolve_pose_model(pose_model)
        self.detector = PersonDetector(det_model, det_kind, det_input_size, det_score_thr, device)
        self._pose = _load(rtmlib.RTMPose, fetch_model(spec, POSE_MODEL_ENV, "[pose] pose_model"),
                           model_input_size=pose_input_size or _DEFAULT_POSE_INPUT, device=device)
        if pose_input_size is None:
            hw = _static_hw(self._pose.session)
            self._pose.model_input_size = (hw[1], hw[0]) if hw else _DEFAULT_POSE_INPUT
        n_out = len(self._pose.session.get_outputs())
        if n_out != 2:
            raise VunetError(self._pose.onnx_model, f"not an RTMPose SimCC model ({n_out} outputs, expected 2)")
        self.model = self._pose.onnx_model
        log.info("pose model: %s (input %s)", self.model, self._pose.model_input_size)

    def poses_in_boxes(self, image_rgb: np.ndarray, boxes: np.ndarray) -> list[Pose]:
        """RTMPose on each (x0, y0, x1, y1) box of an RGB image."""
        if len(boxes) == 0:
            return []
        # RGB on purpose: RTMPose was trained on RGB (see the module docstring).
        keypoints, scores = self._pose(np.ascontiguousarray(image_rgb), bboxes=[list(map(float, b)) for b in boxes])
        poses = []
        for xy, score in zip(keypoints.reshape(-1, NUM_JOINTS, 2), scores.reshape(-1, NUM_JOINTS)):
            xy = xy.astype(np.float32)
            # SimCC scores are unnormalised maxima; rtmlib marks <= 0 as not found (-1, -1).
            score = np.clip(score, 0.0, 1.0).astype(np.float32)
            xy[score <= 0] = np.nan
            poses.append(Pose(xy, score))
        return poses

    def __call__(self, image_rgb: np.ndarray) -> list[Pose]:
        """All people found. Image: (H, W, 3) uint8 RGB."""
        return self.poses_in_boxes(image_rgb, self.detector(image_rgb))

    def close(self) -> None:
        pass


def local_detector(det_model: str | os.PathLike | None = None) -> str | None:
    """The person detector's file when it can be loaded without a download, else None
    (a path given explicitly that does not exist is an error, as in resolve_model)."""
    spec = resolve_det_model(det_model)
    return spec if is_local(spec) else None


def _models_local(options: dict) -> bool:
    """True when rtmlib's pose and detector files can be loaded without a download.

    A path given explicitly (option or environment variable) that does not exist is an
    error rather than a silent fallback: 'auto' must not quietly ignore a typo.
    """
    return (is_local(resolve_pose_model(options.get("pose_model")))
            and is_local(resolve_det_model(options.get("det_model"))))


def _build(options: dict, *, video_mode: bool, segmentation: bool) -> RTMLibPose:
    # Every frame is detected and posed afresh, so video_mode changes nothing here; a
    # person mask was refused by make_estimator (gives_mask=False).
    return RTMLibPose(**options)


BACKEND = PoseBackend(
    name="rtmlib",
    options=DETECTOR_OPTIONS | {"pose_model", "pose_input_size"},
    gives_mask=False,
    # Preferred by 'auto' over MediaPipe, but only when both files are already local:
    # 'auto' never downloads.
    auto_rank=1,
    models_local=_models_local,
    build=_build,
)
