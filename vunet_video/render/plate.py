"""The background plate: the subject photo with its person painted out.

The 'subject' background shows the re-posed person in their own photo's scene. Where the
person stood, the scene must be filled in, or a pale ghost of their old pose stays behind.
`person_hole` says what to paint out; `remove_person` fills it.

The fill was chosen by benchmarks/plate_fill.py: person-shaped holes cut into real video
frames where the scene behind is known, each fill scored against it by SSIM and L1
(benchmarks/results/plate_fill.md). cv2.inpaint's Navier-Stokes method (Bertalmio et al.
2001) at up to 1280 px scored best of the fills that cost under a second; Telea (Telea
2004) at 512 px, the fill before, and the texture-copying fills tried (OpenCV contrib's
xphoto FSR and shift-map, a shifted copy of the scene) scored lower. So did the smooth fills
(pull-push, membrane) and Navier-Stokes at the rim mixed with the membrane deeper in, also
on holes right beside a studio model, over the shadow it casts: the mix has no hard seam
where a shadow meets the lit backdrop, and a higher SSIM on scenes (0.700 against 0.692),
but a higher L1 on every kind of hole and a blurred silhouette left in busy scenes.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..pose.keypoints import Pose

FILLS = {"ns": cv2.INPAINT_NS, "telea": cv2.INPAINT_TELEA}


def person_hole(mask: np.ndarray | None, pose: Pose, shape: tuple[int, int], grow: float = 0.02) -> np.ndarray:
    """Boolean (H, W) region to paint out: the person mask (> 0.2, generous because
    MediaPipe's soft edge fades over hair and loose clothes) dilated by `grow` times the
    person's height. Without a mask, the hull of the joints dilated by 12% of the height.

    Every pixel painted out is the fill's guess; one left in may hold a fringe of the
    person. Reconstructing real clips from their first frame (benchmarks/model_v2.py's
    measure, the default tune), grow 0.04 -> 0.02 -> 0.01 gave validation SSIM 0.738 ->
    0.744 -> 0.746 and test 0.681 -> 0.687 -> 0.688 (the ring of fill around a person who
    stays put costs more than the fringes), with the clip whose dancer leaves the frame
    level; at 0.01 the cross-person limb error rose 3.1 -> 3.6 degrees (fringes left
    behind read as limbs), at 0.02 it stayed 3.2."""
    h, w = shape
    bb = pose.bbox()
    height = (bb[3] - bb[1]) if bb else 0.5 * h
    if mask is not None:
        hole = (np.asarray(mask) > 0.2).astype(np.uint8)
        if hole.shape != (h, w):
            hole = cv2.resize(hole, (w, h), interpolation=cv2.INTER_NEAREST)
        radius = max(3, int(round(grow * height)))
    else:
        hole = np.zeros((h, w), np.uint8)
        pts = pose.xy[pose.visible()]
        if len(pts):
            cv2.fillConvexPoly(hole, cv2.convexHull(np.round(pts).astype(np.int32)), 1)
        radius = max(3, int(round(0.12 * height)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(hole, kernel) > 0


def remove_person(image: np.ndarray, hole: np.ndarray, work_side: int = 1280, radius: int = 3,
                  method: str = "ns") -> np.ndarray:
    """The photo with `hole` (boolean (H, W)) filled by cv2.inpaint (`method`: "ns" or
    "telea", see FILLS; `radius`: its neighbourhood in px) at most at `work_side` px.
    Larger photos are filled small and resized back, which bounds the cost: it grows with
    the hole's area. At 1280 px and radius 3 a fill took 46 ms on average, 0.2 s at most,
    on one core; radius 5 scored the same at twice the time
    (benchmarks/results/plate_fill.md). Only the hole's pixels are replaced; the rest of
    the photo stays untouched."""
    if method not in FILLS:
        raise ValueError(f"unknown plate fill {method!r} (use one of {', '.join(FILLS)})")
    hole = np.asarray(hole, bool)
    if not hole.any() or hole.all():  # nothing to fill, or no scene left to fill it from
        return image.copy()
    filled = inpaint(image, hole, work_side, radius, FILLS[method])
    plate = image.copy()
    plate[hole] = filled[hole]
    return plate


def inpaint(image: np.ndarray, hole: np.ndarray, work_side: int = 1280, radius: int = 3,
            flags: int = cv2.INPAINT_NS) -> np.ndarray:
    """cv2.inpaint at most at `work_side` px, resized back to the image's size. Returns
    the whole image; callers take the hole from it."""
    h, w = hole.shape
    f = min(1.0, work_side / max(h, w))
    small = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else image
    small_hole = cv2.resize(hole.astype(np.uint8), (small.shape[1], small.shape[0]), interpolation=cv2.INTER_NEAREST)
    small_hole = cv2.dilate(small_hole, np.ones((3, 3), np.uint8))  # rounding must not shrink it
    filled = cv2.inpaint(np.ascontiguousarray(small), small_hole, radius, flags)
    return cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR) if f < 1 else filled
