"""vunet-video: make the person in a photo perform the motion of a driving video.

    from vunet_video import Animator
    animator = Animator(preset="default")
    animator.animate("photo.jpg", "dance.mp4", "out.mp4")

Names are imported on first use, so `import vunet_video` stays light (no torch, no
mediapipe until they are needed).
"""

from __future__ import annotations

import importlib

__version__ = "0.3.25"

# public name -> module that defines it
_EXPORTS = {
    "Animator": ".pipeline",
    "EncodedSubject": ".pipeline",
    "AnimationResult": ".pipeline",
    "load_model": ".model.io",
    "save_weights": ".model.io",
    "Synthesizer": ".render.synthesizer",
    "render_in_pose": ".stills",
    "transfer_appearance": ".stills",
    "sample_appearances": ".stills",
    "render_pose": ".stills",
    "transfer": ".stills",
    "sample": ".stills",
    "batch_folder": ".batch",
    "run_batch": ".batch",
    "Retargeter": ".render.retarget",
    "VunetError": ".errors",
    "Pose": ".pose.keypoints",
    "load_settings": ".presets",
    "Settings": ".settings",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vunet_video' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
