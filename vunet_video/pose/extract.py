"""A video's or photo's pose track to a pose JSON file (and a preview): `vunet-video pose`.

Frames are decoded, posed, tracked, smoothed, drawn and written one at a time, so memory
does not depend on the video's length. Outputs are all or nothing: the JSON and the
preview are written under temporary names and only moved into place when every frame
went through; existing files are kept unless `overwrite`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ..errors import VunetError, require_file
from ..files import EXISTS, atomic_output, is_image
from . import track_poses
from .drawing import draw_preview
from .estimator import estimate_image_pose, make_estimator
from .io import write_pose_json
from .keypoints import Pose
from .smoothing import PoseSmoother

# The video shows through the preview at this brightness, so the skeleton stands out.
PREVIEW_BACKGROUND = 0.4


def preview_frame(image: np.ndarray, pose: Pose) -> np.ndarray:
    """Coloured skeleton over the darkened frame."""
    dark = (image.astype(np.float32) * PREVIEW_BACKGROUND).astype(np.uint8)
    return draw_preview(pose, dark)


def _check_new_file(path: Path, overwrite: bool) -> None:
    if path.is_dir():
        raise VunetError(path, "is a folder, not a file")
    if path.exists() and not overwrite:
        raise VunetError(path, EXISTS)


def _write_image(path: Path, rgb: np.ndarray, overwrite: bool) -> None:
    """Write an image all or nothing (files.atomic_output)."""
    ok, data = cv2.imencode(path.suffix.lower(), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise VunetError(path, "cannot encode an image of this type")
    with atomic_output(path, overwrite) as tmp:
        tmp.write_bytes(data.tobytes())


def extract_poses(source: str | os.PathLike, output: str | os.PathLike, *,
                  preview: str | os.PathLike | None = None, backend: str = "auto", smooth: bool = True,
                  overwrite: bool = False, progress: bool = True, smoother_options: dict | None = None,
                  person: str = "1", **backend_options) -> dict:
    """Pose track of `source` (video or photo) to the pose JSON `output`.

    preview: optional skeleton-over-frame rendering: for a video, a video with the same
             frame count and rate (.mp4/.mov/.mkv/.m4v); for a photo, an image (.png,
             .jpg) or a one-frame video.
    Returns {"frames", "found", "backend", "output", "preview"}.
    Raises VunetError for unreadable input, a photo without a person, a video without a
    person in any frame, or outputs that exist (unless overwrite).
    """
    from .tracking import PersonChoice

    choice = PersonChoice.parse(person)  # checked before any work
    source, output = require_file(source), Path(output)
    preview = None if preview is None else Path(preview)
    _check_new_file(output, overwrite)
    if preview is not None:
        _check_new_file(preview, overwrite)
    if is_image(source):
        return _photo(source, output, preview, backend, overwrite, backend_options, choice)
    return _video(source, output, preview, backend, smooth, overwrite, progress, smoother_options or {},
                  backend_options, choice)


def _photo(source: Path, output: Path, preview: Path | None, backend: str, overwrite: bool,
           backend_options: dict, choice) -> dict:
    from ..video import VideoWriter, read_image
    from .tracking import choose_person

    image = read_image(source)
    estimator = make_estimator(backend, **backend_options)
    try:
        people = estimator(image)
        pose = choose_person(people, choice, image.shape[:2])
    finally:
        getattr(estimator, "close", lambda: None)()
    if pose.is_empty():
        raise VunetError(source, "no person found in the photo" if not people else
                         f"the photo shows {len(people)} person(s), none of rank {choice.rank}")
    h, w = image.shape[:2]
    header = {"source": str(source), "backend": estimator.name, "fps": None, "width": w, "height": h,
              "smoothed": False, "person": str(choice)}
    if preview is not None:
        drawn = preview_frame(image, pose)
        if is_image(preview):
            _write_image(preview, drawn, overwrite)
        else:
            with VideoWriter(preview, 1, overwrite=overwrite) as writer:
                writer.write(drawn)
    write_pose_json(output, header, [(0, 0.0, pose)], overwrite=overwrite)
    return {"frames": 1, "found": 1, "backend": estimator.name, "output": output, "preview": preview}


def _video(source: Path, output: Path, preview: Path | None, backend: str, smooth: bool, overwrite: bool,
           progress: bool, smoother_options: dict, backend_options: dict, choice) -> dict:
    from .tracking import SubjectTracker

    from tqdm import tqdm

    from ..video import VideoReader, VideoWriter

    reader = VideoReader(source)
    info = reader.info
    writer = None if preview is None else VideoWriter(preview, info.rate, overwrite=overwrite)
    estimator = make_estimator(backend, video_mode=True, **backend_options)
    smoother = PoseSmoother(**smoother_options) if smooth else None
    header = {"source": str(source), "backend": estimator.name, "fps": info.fps, "width": info.width,
              "height": info.height, "smoothed": smooth, "person": str(choice)}
    counts = {"frames": 0, "found": 0}

    def frames() -> Iterator[tuple[int, float, Pose]]:
        with tqdm(total=info.frame_count, unit="frame", desc="pose", disable=not progress,
                  dynamic_ncols=True) as bar:
            for frame, pose in track_poses(reader, estimator, smoother, SubjectTracker(choice=choice)):
                if writer is not None:
                    writer.write(preview_frame(frame.image, pose))
                counts["frames"] += 1
                counts["found"] += not pose.is_empty()
                bar.update(1)
                yield frame.index, frame.time, pose
        if counts["found"] == 0:
            raise VunetError(source, "no person found in any frame")
        if writer is not None:
            writer.close()  # before the JSON is published: both or neither

    try:
        write_pose_json(output, header, frames(), overwrite=overwrite)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        reader.close()
        getattr(estimator, "close", lambda: None)()
    return {**counts, "backend": estimator.name, "output": output, "preview": preview}
