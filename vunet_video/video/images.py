"""Still images in and out: subject photos read upright, rendered images written atomically.

Reading checks the image's size in its header before decoding it: a small file can
declare a huge image (a "decompression bomb": a 30000 x 30000 PNG of one colour is under
1 MB and decodes to 2.7 GB), so anything over `MAX_IMAGE_PIXELS` is refused unread.
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path

import cv2
import numpy as np

from ..errors import VunetError, require_file
from ..files import IMAGE_SUFFIXES, atomic_output, check_output_path


# The most pixels a photo may have: 100 megapixels. Covers every ordinary camera and phone
# photo (12-50 MP; the 108/200 MP phone modes need the limit raised), while decoding one
# costs at most about 1.5 GB (300 MB for the RGB array, plus OpenCV's BGR copy and the
# conversions). Above it memory and decode time grow without bound, and the output is
# scaled down to at most a few thousand pixels anyway. Raise it with the environment
# variable below (0 = no limit) or read_image(max_pixels=...).
MAX_IMAGE_PIXELS = 100_000_000
MAX_PIXELS_ENV = "VUNET_MAX_IMAGE_PIXELS"

_pillow_limit_lock = threading.Lock()


def max_image_pixels() -> int:
    """The pixel limit in force: $VUNET_MAX_IMAGE_PIXELS if set (0 = none), else MAX_IMAGE_PIXELS."""
    value = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not value:
        return MAX_IMAGE_PIXELS
    try:
        limit = float(value)
    except ValueError:
        limit = -1.0
    if not limit >= 0 or limit != int(limit):
        raise VunetError(None, f"{MAX_PIXELS_ENV}={value!r}: give a whole number of pixels (0 = no limit)")
    return int(limit)


def header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the image file's header, without decoding it; None when
    Pillow does not know the format (OpenCV may still)."""
    from PIL import Image, UnidentifiedImageError

    def size() -> tuple[int, int] | None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(path) as im:  # reads the header only
                    return im.size
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            return None

    try:
        return size()
    except Image.DecompressionBombError:
        # Pillow's own limit (about 179 MP) refuses it before saying its size: ask again
        # without that limit, only for this rare case (it is process-wide).
        with _pillow_limit_lock:
            saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                return size()
            finally:
                Image.MAX_IMAGE_PIXELS = saved


def check_pixels(path: Path, max_pixels: int | None = None) -> None:
    """VunetError when the image's header declares more than `max_pixels` pixels (None:
    max_image_pixels(); 0: no limit)."""
    limit = max_image_pixels() if max_pixels is None else max_pixels
    if not limit:
        return
    size = header_size(path)
    if size is not None and size[0] * size[1] > limit:
        w, h = size
        raise VunetError(path, f"image is {w}x{h} ({w * h / 1e6:.0f} megapixels), over the limit of "
                               f"{limit / 1e6:g} megapixels; set {MAX_PIXELS_ENV} to raise it")


def read_image(path: str | Path, *, max_pixels: int | None = None) -> np.ndarray:
    """Read a photo as an (H, W, 3) uint8 RGB array, turned upright by its EXIF orientation.

    Grey, palette, 16-bit and RGBA images are converted to 8-bit RGB (alpha is dropped).
    max_pixels: refuse (VunetError, before decoding) an image with more pixels than this;
    None = $VUNET_MAX_IMAGE_PIXELS or MAX_IMAGE_PIXELS (100 MP), 0 = no limit.
    """
    p = require_file(path)
    check_pixels(p, max_pixels)
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
