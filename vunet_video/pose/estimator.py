"""Choosing and building a pose estimator, and the main subject of a photo.

Every estimator is a callable `estimator(rgb) -> list[Pose]` with a `.name`. Backends are
registered in `_BACKEND_MODULES` (name -> module of this package); each module defines a
`BACKEND = PoseBackend(...)` saying which options it accepts, whether it gives a person
mask, whether its model files are local, and how to build it. Adding a backend is one new
module plus one line in that table. The modules are imported only when an estimator is
made, and import their heavy libraries (mediapipe, rtmlib, onnxruntime) only when they
build one, so importing the pose package stays cheap.

* 'mediapipe': MediaPipe Pose, bundled with the wheel, always offline; the one backend
               that gives a person mask. Runs in person-detector boxes when a detector
               file is local (`mediapipe_backend.py`).
* 'rtmlib':    person detector + RTMPose (all people; `rtmlib_backend.py`). Needs the two
               ONNX files; rtmlib downloads its defaults when they are not cached.
* 'auto':      of the backends whose model files are present locally (arguments,
               environment or rtmlib's cache; never downloads), the one of highest
               `auto_rank`: 'rtmlib' when both its files are local, else 'mediapipe'.
               With segmentation=True only backends that give a person mask count, so it
               is always 'mediapipe'.

Options (presets' [pose] table or keyword arguments) are each backend's own (see its
module); an option no backend knows is an error, an option another backend knows is
ignored, and None means "not given".
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import VunetError
from .keypoints import MIN_SCORE, Pose, usable
from .tracking import SubjectTracker, main_subject  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoseBackend:
    """What make_estimator needs to know about a backend; each backend module defines one
    as `BACKEND`.

    name:         the name users choose it by (must equal its key in _BACKEND_MODULES).
    options:      the keyword options its build accepts.
    gives_mask:   whether its poses carry a person mask (Pose.mask) when asked for.
    auto_rank:    'auto' takes the highest-ranked backend whose models are local.
    models_local: options -> True when its model files load without a download; may
                  raise VunetError for a path given explicitly that does not exist.
    build:        (options, *, video_mode, segmentation) -> estimator; options holds only
                  this backend's own, non-None options.
    """

    name: str
    options: frozenset
    gives_mask: bool
    auto_rank: int
    models_local: Callable[[dict], bool]
    build: Callable[..., object]


# name -> module (in this package) defining BACKEND. The order is the order names are
# listed in (help texts, error messages, preset validation).
_BACKEND_MODULES = {
    "mediapipe": "mediapipe_backend",
    "rtmlib": "rtmlib_backend",
}


def backend_names() -> tuple[str, ...]:
    """Every name make_estimator accepts, 'auto' first, in a stable order; for validating
    settings and for help texts without importing any backend."""
    return ("auto", *_BACKEND_MODULES)



def _backend(name: str) -> PoseBackend:
    spec = importlib.import_module(f".{_BACKEND_MODULES[name]}", __package__).BACKEND
    if spec.name != name:
        raise RuntimeError(f"pose backend registered as {name!r} calls itself {spec.name!r}")
    return spec


def _pick(options: dict, names) -> dict:
    return {k: v for k, v in options.items() if k in names and v is not None}


def _auto(segmentation: bool, options: dict) -> PoseBackend:
    """The backend 'auto' stands for (see the module docstring). Candidates are tried
    from the highest rank down, so a lower-ranked one's files are never looked at once a
    higher-ranked one is found local."""
    candidates = [_backend(n) for n in _BACKEND_MODULES]
    candidates = [b for b in candidates if b.gives_mask or not segmentation]
    for spec in sorted(candidates, key=lambda b: -b.auto_rank):  # stable: table order on ties
        if spec.models_local(_pick(options, spec.options)):
            return spec
    raise VunetError(None, "no pose backend has its model files locally")


def make_estimator(backend: str = "auto", *, video_mode: bool = False, segmentation: bool = False,
                   **backend_options):
    """A pose estimator `est(rgb) -> list[Pose]`; `est.name` says which backend it is.

    video_mode: frames come from one video in order (lets MediaPipe track between frames).
    segmentation: also give a person mask (Pose.mask); only backends with gives_mask.
    """
    names = backend_names()
    if backend not in names:
        raise VunetError(None, f"unknown pose backend {backend!r} (use one of {', '.join(names)})")
    known = frozenset().union(*(_backend(n).options for n in _BACKEND_MODULES))
    unknown = set(backend_options) - known
    if unknown:
        raise VunetError(None, f"unknown pose option(s) {', '.join(sorted(unknown))} "
                               f"(known: {', '.join(sorted(known))})")
    if backend == "auto":
        spec = _auto(segmentation, backend_options)
        log.info("pose backend: %s (auto)", spec.name)
    else:
        spec = _backend(backend)
    if segmentation and not spec.gives_mask:
        with_mask = " or ".join(n for n in _BACKEND_MODULES if _backend(n).gives_mask)
        raise VunetError(None, f"the {spec.name} pose backend gives no person mask; use {with_mask} for segmentation")
    return spec.build(_pick(backend_options, spec.options), video_mode=video_mode, segmentation=segmentation)


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
