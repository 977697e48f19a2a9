"""Still images in and out: subject photos read upright, rendered images written atomically."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import VunetError, require_file
from ..files import IMAGE_SUFFIXES, atomic_output, check_output_path


def read_image(path: str | Path) -> np.ndarray:
    """Read a photo as an (H, W, 3) uint8 RGB array, turned upright by its EXIF orientation.

    Grey, palette, 16-bit and RGBA images are converted to 8-bit RGB (alpha is dropped).
    """
    p = require_file(path)
    try:
        data = np.fromfile(p, dtype=np.uint8)  # imdecode instead of imread: any path encoding
    except OSError as e:
        raise VunetError(p, f"cannot read file ({e.strerror or e})") from None
    if data.size == 0:
        raise VunetError(p, "empty file, not an image")
    # IMREAD_COLOR converts grey/RGBA/16-bit to 8-bit BGR and applies EXIF orientation.
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise VunetError(p, "not an image OpenCV can read (or the file is damaged)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def write_image(path: str | Path, image: np.ndarray, overwrite: bool = False) -> Path:
    """Save an RGB or RGBA uint8 image, in the format its suffix names, all or nothing
    (files.atomic_output); an existing file is replaced only with overwrite."""
    path = check_output_path(path, overwrite, IMAGE_SUFFIXES)
    code = cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, data = cv2.imencode(path.suffix, cv2.cvtColor(np.ascontiguousarray(image), code))
    if not ok:
        raise VunetError(path, "image encoding failed")
    with atomic_output(path, overwrite) as tmp:
        tmp.write_bytes(data.tobytes())
    return path
