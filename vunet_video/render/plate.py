"""The background plate: the subject photo with its person painted out.

The 'subject' background shows the re-posed person in their own photo's scene. Where the
person stood, the scene must be filled in, or a pale ghost of their old pose stays behind.
`person_hole` says what to paint out; `remove_person` fills it.

The fill was chosen by benchmarks/plate_fill.py: person-shaped holes cut into real video
frames and studio photos where the scene behind is known, each fill scored against it by
SSIM and L1 (benchmarks/results/plate_fill.md). Interpolating each row of the hole between
the known pixels left and right of it scored best (scenes: SSIM 0.701, L1 16.5; against
0.692 and 17.1 for cv2.inpaint's Navier-Stokes method, Bertalmio et al. 2001, the fill
before; studio backdrops level). A person is a tall, narrow hole in a scene layered
horizontally (floor, road, horizon, a wall's shading), and diffusion along edges, free to
run vertically down the hole, drew long streaks there: a white band continuing the sky down
a street, a hard seam where a studio model's shadow met the lit backdrop. Telea (Telea
2004), the texture-copying fills (OpenCV contrib's xphoto FSR and shift-map, a shifted copy
of the scene) and the smooth fills (pull-push, membrane, and Navier-Stokes at the rim with
the membrane deeper in) scored lower.

That fill is smooth, and SSIM and L1 reward smooth guesses: over a grainy scene (asphalt,
cobbles, foliage) it leaves a soft patch the shape of the person, seen wherever the animated
person is not. `remove_person(..., grain=True)` carries the scene's own grain into the hole
on top of it (mirrored_grain: each row's texture beside the hole, mirrored in, at half
strength), which a perceptual distance to the truth and the hole's detail score better at a
small SSIM cost (benchmarks/results/plate_fill.md). It is off by default: the pose reader
read the animated person worse in front of it (GRAIN_AMOUNT's comment).

On a plain backdrop the person's cast shadow beside them is lifted too (without_cast_shadow):
of the deepfashion photo's plate, within a fifth of her height of her outline, the share of
pixels over 3 L* darker than their row's wall went 0.33 -> 0.04.

The fill is only needed where the scene shows. Where the rendered person stands as the
photo's person stood, the photo's own pixels come back around them, frame by frame
(PhotoWherePersonStays): the scene's real texture and the person's own soft edge rather
than a ring of fill.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..pose.keypoints import Pose
from .compose import mix

FILLS = ("rows", "ns", "telea")  # rows: fill_rows; ns, telea: cv2.inpaint's methods
# A plain backdrop (a studio wall or paper): 90% of its pixels in a ring around the person
# (SHADOW_REACH to twice that of the person's height beyond the hole) lie within
# PLAIN_TEXTURE grey levels of their 2 px blur (the dev photos' studio walls 0.2-0.4; a
# street 6, a flag 16, the bus scene 38). There the person's cast shadow, within
# SHADOW_REACH of them, is lifted too (without_cast_shadow): a darkening of the backdrop of
# SHADOW_DROP[0] L* levels counts as none, of SHADOW_DROP[1] as shadow whole.
SHADOW_REACH, PLAIN_TEXTURE = 0.2, 2.0
SHADOW_DROP = (2.0, 10.0)
# The scene's grain carried into the hole (mirrored_grain): the fine texture (the photo
# minus its Gaussian blur of GRAIN_SIGMA px) of each row's pixels beside the hole, clipped
# to GRAIN_CLIP times its robust spread (grain, not edges) and added at GRAIN_AMOUNT. The
# row fill alone is smooth, and over asphalt, cobbles or foliage a smooth patch the shape
# of the person stays visible wherever the animated person is not (the ghost the issue
# names). On the 24 scene holes of benchmarks/plate_fill.py: detail 0.26 -> 0.39 of the
# truth's, perceptual distance to the truth 0.385 -> 0.376 (shallow layers) and 0.574 ->
# 0.535 (deep), at SSIM 0.701 -> 0.695 and L1 16.47 -> 16.59 (uncorrelated texture costs
# both; full strength cost twice the SSIM for little more). Not on plain backdrops (studio
# photos: the fill there is already right, and grain only added the wall's JPEG noise).
# Off by default (remove_person's `grain`): with it, MediaPipe read the animated person worse
# in front of the grainy plate (limb error over the dev subjects x clips 9.82 -> 10.15
# degrees: bus 16.7 -> 17.6, ccp 3.41 -> 3.64; the plain-backdrop and flag photos level), a
# cost on issue 10's first bar for a fill that looks a little more like the scene.
GRAIN_SIGMA, GRAIN_CLIP, GRAIN_AMOUNT = 2.5, 2.0, 0.5
# A scene whose texture beside the hole spreads less than GRAIN_FLOOR grey levels gets
# none: a studio wall beside the model (not taken for a plain backdrop when the ring around
# the hole reaches the model) has 0.1-0.6, and its grain only dithered the fill by a level.
GRAIN_FLOOR = 1.0


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


def remove_person(image: np.ndarray, hole: np.ndarray, work_side: int | None = None, radius: int = 3,
                  method: str = "rows", shadow: bool = True, grain: bool = False) -> np.ndarray:
    """The photo with `hole` (boolean (H, W)) filled, at most at `work_side` px (larger
    photos are filled small and resized back, which bounds the cost; default 640 for
    "rows", 1280 for the others, as they were measured). method: "rows" (fill_rows, the
    default), or cv2.inpaint's "ns" or "telea" (`radius`: its neighbourhood in px). With
    "rows" and `grain` (off by default: see GRAIN_AMOUNT), the scene's fine texture is
    carried into the hole at full size (mirrored_grain), except on a plain backdrop.
    25-70 ms per fill on one core, 90-190 with `grain` (benchmarks/results/plate_fill.md).
    Only the hole's pixels are replaced; the rest of the photo stays untouched, except,
    with `shadow` and on a plain backdrop, the person's cast shadow (without_cast_shadow)."""
    if method not in FILLS:
        raise ValueError(f"unknown plate fill {method!r} (use one of {', '.join(FILLS)})")
    hole = np.asarray(hole, bool)
    if not hole.any() or hole.all():  # nothing to fill, or no scene left to fill it from
        return image.copy()
    if method == "rows":
        lifted = without_cast_shadow(image, hole, work_side or 640) if shadow else None
        if lifted is not None:
            return lifted
        filled = fill_rows(image, hole, work_side or 640)
        # (With `shadow`, getting here already says the backdrop is not plain.)
        if grain and (shadow or not plain_backdrop(image, hole)):
            filled = np.clip(filled + GRAIN_AMOUNT * mirrored_grain(image, hole), 0, 255).astype(np.uint8)
    else:
        filled = inpaint(image, hole, work_side or 1280, radius, cv2.INPAINT_NS if method == "ns" else cv2.INPAINT_TELEA)
    plate = image.copy()
    plate[hole] = filled[hole]
    return plate


def without_cast_shadow(image: np.ndarray, hole: np.ndarray, work_side: int = 640) -> np.ndarray | None:
    """On a plain backdrop (PLAIN_TEXTURE): the photo with `hole` and the person's cast
    shadow beside it filled by the backdrop; None for any other scene. A studio photo's
    subject casts a soft shadow on the wall beside them. Left in the plate it stayed where
    the person had stood while they danced elsewhere, and the hole's fill, interpolated
    from the shadowed wall at its edge, drew a grey ghost of their outline (the deepfashion
    photo). The backdrop is fill_rows' fill of the hole grown by SHADOW_REACH of the
    person's height; a pixel in that ring takes it in proportion to how much darker than
    it the pixel is (SHADOW_DROP, CIE L*), so a penumbra is lifted by as much as it is dark,
    and nothing is ever darkened. About 250 ms for a 750x1101 photo, once per subject (the
    test for a plain backdrop alone: about 15 ms)."""
    ring = _backdrop_ring(hole)
    if ring is None or not plain_backdrop(image, hole, ring):
        return None
    grown, reach = ring[1], ring[2]
    grey = (cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image).astype(np.float32)
    backdrop = fill_rows(image, grown, work_side)
    if image.ndim == 3:
        drop = cv2.cvtColor(backdrop, cv2.COLOR_RGB2LAB)[..., 0].astype(np.float32) - \
            cv2.cvtColor(image, cv2.COLOR_RGB2LAB)[..., 0].astype(np.float32)
    else:
        drop = backdrop.astype(np.float32) - grey
    lo, hi = SHADOW_DROP
    share = np.clip((drop - lo) / (hi - lo), 0.0, 1.0) * grown
    # A shadow is a broad patch joined to the person: thin strokes (a row where the wide
    # fill came out brighter, which drew a line across the whole plate) and patches apart
    # from them are no shadow of theirs.
    k = 2 * max(2, reach // 20) + 1
    patch = cv2.morphologyEx((share > 0.05).astype(np.uint8), cv2.MORPH_OPEN,
                             cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    _, parts = cv2.connectedComponents(patch | hole.astype(np.uint8))
    touching = np.unique(parts[hole])
    share *= np.isin(parts, touching[touching > 0]) & (patch > 0)
    share = np.maximum(cv2.GaussianBlur(share, (0, 0), 2.0), hole)
    # The hole and the shadow are filled from the lit backdrop nearest them (the wall's own
    # shading kept: the wide fill above, from beyond SHADOW_REACH, only tells shadow apart).
    filled = fill_rows(image, share > 0.05, work_side)
    if image.ndim == 3:
        share = share[..., None]
    plate = np.clip(image * (1.0 - share) + filled * share + 0.5, 0, 255).astype(np.uint8)
    # (Beyond the hole only ever lighter: the fill beside a bright spot can be the darker.)
    keep = ~hole[..., None] if image.ndim == 3 else ~hole
    return np.where(keep, np.maximum(plate, image), plate)


def _backdrop_ring(hole: np.ndarray):
    """(ring, grown, reach) around the hole for telling a plain backdrop (see PLAIN_TEXTURE):
    the pixels SHADOW_REACH to twice that of the hole's height beyond it, the hole grown by
    SHADOW_REACH, and that reach in px; None for a hole too small or a ring too thin."""
    ys, _ = np.nonzero(hole)
    reach = int(round(SHADOW_REACH * (ys.max() - ys.min() + 1)))
    if reach < 2:
        return None
    away = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, 3)  # each pixel's distance to the hole
    grown = away <= reach
    ring = ~grown & (away <= 2 * reach)
    return (ring, grown, reach) if ring.sum() >= 100 else None


def plain_backdrop(image: np.ndarray, hole: np.ndarray, ring=None) -> bool:
    """Whether the scene around the hole is a plain backdrop (PLAIN_TEXTURE), given
    _backdrop_ring's result or None to make it."""
    ring = _backdrop_ring(hole) if ring is None else ring
    if ring is None:
        return False
    grey = (cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image).astype(np.float32)
    texture = np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 2.0))[ring[0]]
    return bool(np.percentile(texture, 90) <= PLAIN_TEXTURE)


def mirrored_grain(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """(H, W[, C]) float32, zero outside the hole: the scene's fine texture carried in.
    Each row of the hole takes the texture of the known pixels to its left, mirrored at
    the hole's left edge, and of those to its right, mirrored at its right edge, mixed by
    the distance to either edge as fill_rows mixes colour. Mirroring keeps the texture's
    scale at that height (cobbles further away are finer) and meets the edge without a
    seam. Two independent textures mixed half and half are fainter than either, so the
    mix is rescaled to keep their strength. Texture is the photo minus its blur of
    GRAIN_SIGMA px, clipped to GRAIN_CLIP times its robust spread (median absolute value x
    1.4826) so that an edge beside the hole (a kerb, a chair leg) is not copied in whole.
    Only the rows the hole spans are computed."""
    out = np.zeros(image.shape, np.float32)
    rows_with = np.nonzero(hole.any(axis=1))[0]
    if len(rows_with) == 0:
        return out
    r0, r1 = rows_with[0], rows_with[-1] + 1
    pad = int(np.ceil(3 * GRAIN_SIGMA))
    b0, b1 = max(0, r0 - pad), min(hole.shape[0], r1 + pad)  # (rows for the blur, then cut)
    band = image[b0:b1].astype(np.float32)
    texture = (band - cv2.GaussianBlur(band, (0, 0), GRAIN_SIGMA))[r0 - b0:r1 - b0]
    texture = texture.reshape(texture.shape[0], texture.shape[1], -1)
    part = hole[r0:r1]
    known = ~part
    if not known.any():
        return out
    # The spread of the scene right beside the hole (within a tenth of its height), not of
    # the whole band: a studio photo's hole beside the model took the model's own texture as
    # the measure, and the plain wall's noise was let through at that strength.
    away = cv2.distanceTransform(known.astype(np.uint8), cv2.DIST_L2, 3)  # (a known pixel's distance to the hole)
    beside = known & (away <= max(8.0, 0.1 * (r1 - r0)))
    spread = np.median(np.abs(texture[beside if beside.any() else known]), axis=0) * 1.4826 + 1e-3
    if spread.max() < GRAIN_FLOOR:
        return out  # a flat scene: its grain would only dither the 8-bit fill
    texture = np.clip(texture, -GRAIN_CLIP * spread, GRAIN_CLIP * spread)
    h, w = part.shape
    cols = np.broadcast_to(np.arange(w), (h, w))
    left = np.maximum.accumulate(np.where(known, cols, -1), axis=1)
    right = np.minimum.accumulate(np.where(known, cols, w)[:, ::-1], axis=1)[:, ::-1]
    has_left, has_right = left >= 0, right < w
    from_left, from_right = np.clip(2 * left - cols, 0, w - 1), np.clip(2 * right - cols, 0, w - 1)
    rows = np.arange(h)[:, None]
    t = np.where(has_left & has_right, (cols - left) / np.maximum(right - left, 1), np.where(has_left, 0.0, 1.0))
    # A mirrored pixel that falls in the hole again (a hole wider than the scene beside it)
    # brings nothing.
    w_left = np.where(has_left & known[rows, from_left], 1.0 - t, 0.0).astype(np.float32)
    w_right = np.where(has_right & known[rows, from_right], t, 0.0).astype(np.float32)
    norm = np.maximum(np.sqrt(w_left ** 2 + w_right ** 2), 1e-3)
    grain = (texture[rows, from_left] * (w_left / norm)[..., None] +
             texture[rows, from_right] * (w_right / norm)[..., None])
    grain *= part[..., None]
    out[r0:r1] = grain.reshape(out[r0:r1].shape)
    return out


def fill_rows(image: np.ndarray, hole: np.ndarray, work_side: int = 640, blur: float = 2.0) -> np.ndarray:
    """Each row of the hole interpolated linearly between the nearest known pixels to its
    left and right (the one side there is where the hole reaches the picture's edge). The
    known pixels are blurred by `blur` px first, normalised by the blurred mask, so one odd
    pixel at a row's end does not streak across it. Rows with no known pixel at all are
    filled by Navier-Stokes. Returns the whole image at its own size; callers take the
    hole from it."""
    h, w = hole.shape
    f, small, small_hole = _shrunk(image, hole, work_side)
    small = small.reshape(small.shape[0], small.shape[1], -1).astype(np.float32)  # (grey: one channel)
    sh, sw = small.shape[:2]
    known = small_hole == 0
    weight = cv2.GaussianBlur(known.astype(np.float32), (0, 0), blur)
    values = cv2.GaussianBlur(small * known[..., None], (0, 0), blur).reshape(small.shape)
    values /= np.maximum(weight, 1e-3)[..., None]
    cols = np.broadcast_to(np.arange(sw), (sh, sw))
    left = np.maximum.accumulate(np.where(known, cols, -1), axis=1)
    right = np.minimum.accumulate(np.where(known, cols, sw)[:, ::-1], axis=1)[:, ::-1]
    rows = np.arange(sh)[:, None]
    has_left, has_right = left >= 0, right < sw
    t = np.where(has_left & has_right, (cols - left) / np.maximum(right - left, 1), np.where(has_left, 0.0, 1.0))
    filled = values[rows, np.clip(left, 0, sw - 1)] * (1 - t[..., None]) + \
        values[rows, np.clip(right, 0, sw - 1)] * t[..., None]
    filled = np.where(known[..., None], small, filled)
    empty = ~known.any(axis=1)
    if empty.any():  # whole rows unknown: nothing left or right to interpolate
        ns = cv2.inpaint(np.clip(small, 0, 255).astype(np.uint8), (~known).astype(np.uint8), 3, cv2.INPAINT_NS)
        filled[empty] = ns.reshape(filled.shape)[empty]
    filled = np.clip(filled, 0, 255).astype(np.uint8)
    if f < 1:
        filled = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
    return filled.reshape(image.shape)


def inpaint(image: np.ndarray, hole: np.ndarray, work_side: int = 1280, radius: int = 3,
            flags: int = cv2.INPAINT_NS) -> np.ndarray:
    """cv2.inpaint at most at `work_side` px, resized back to the image's size. Returns
    the whole image; callers take the hole from it."""
    h, w = hole.shape
    f, small, small_hole = _shrunk(image, hole, work_side)
    filled = cv2.inpaint(np.ascontiguousarray(small), small_hole, radius, flags)
    return cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR) if f < 1 else filled


def _shrunk(image: np.ndarray, hole: np.ndarray, work_side: int) -> tuple[float, np.ndarray, np.ndarray]:
    """(scale f, the image at most work_side px, its hole as uint8 1/0 grown by a pixel so
    that rounding does not shrink it) for the fills above."""
    h, w = hole.shape
    f = min(1.0, work_side / max(h, w))
    small = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else image
    small_hole = cv2.resize(hole.astype(np.uint8), (small.shape[1], small.shape[0]), interpolation=cv2.INTER_NEAREST)
    return f, small, cv2.dilate(small_hole, np.ones((3, 3), np.uint8))


# PhotoWherePersonStays. A pixel of the plate's hole comes back from the photo where the
# rendered matte differs from the photo's mask by under STAY_TOLERANCE on average over a
# window STAY_WINDOW of the person's height across (in part: all of it where they agree),
# and, on the person's soft edge, by under half of it at the pixel itself (the window's
# mean passed where the person had just left, and a fifth of their vacated edge came back).
# On the held-out reconstructions (benchmarks/full_resolution.py, bar 3), with the window
# 0.02: tai chi, whose man barely moves, person-box SSIM 0.737 -> 0.749 at 0.08, 0.763 at
# 0.3, 0.770 at 0.6 before the pixel check and STAY_INSIDE came in (0.761 with them); the
# catwalk, who walks towards the camera, level (0.717).
STAY_TOLERANCE, STAY_WINDOW = 0.6, 0.02
# ... and only where the rendered person covers at least this share of that window (in
# full; in part below it): with nobody near, there is no edge of theirs to match.
STAY_NEAR = 0.02
# Where the photo's mask is under STAY_EDGE is the scene; from there to STAY_SOLID the
# person's outer soft edge, which comes back less the more it is the person's (a rendered
# edge crossing where they had stood drew their old colours as a thin outline); above it
# the person, whose pixels never come back: within STAY_INSIDE of their height of the scene
# their place takes the nearest scene pixel's colour instead (where the rendered edge lies
# inside the photo's, the fill between them was a sliver, a thin light line beside the
# scene's own texture).
STAY_EDGE, STAY_SOLID, STAY_INSIDE = 0.05, 0.5, 0.01


class PhotoWherePersonStays:
    """The plate with the photo's own pixels back wherever the rendered person stands as
    the photo's did. render.compose.Compositor asks for `weights` every frame and `paint`s
    them into its copy of the plate.

    The plate's hole is the person mask grown by 2% of their height (person_hole), and its
    fill is a guess. Where the rendered person stands where the photo's person stood (a
    subject who barely moves, a clip driving its own first frame, a drawn pose that keeps
    the legs), a ring of that guess showed around them instead of the scene's real pixels
    and their own soft edge: on the tai chi reconstruction the render of the photo's own
    pose scored 0.93 SSIM against a nearly still frame where the photo itself scored 0.97.
    Pixels come back only where the rendered matte matches the photo's mask there and
    around (STAY_TOLERANCE, STAY_NEAR), so a person who has moved away leaves the fill
    behind, never a ghost; the person's inside never (STAY_SOLID). None at all over a
    plain backdrop whose cast shadow the plate lifted (without_cast_shadow): the photo's
    shadow would come back inside the hole only.

    image: the photo at the canvas' size; plate: remove_person's result; mask: the
    person's soft mask (H, W); hole: the boolean hole the plate filled; height: the
    person's height in px."""

    def __init__(self, image: np.ndarray, plate: np.ndarray, mask: np.ndarray, hole: np.ndarray, height: float):
        h, w = hole.shape
        mask = np.asarray(mask, np.float32)
        if mask.shape != (h, w):
            mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)
        scene = mask < STAY_EDGE
        # Two kinds of pixel can come back. The scene and the person's outer soft edge (mask
        # under STAY_SOLID) as the photo shows them; and the person's inside within
        # STAY_INSIDE of the scene, as the scene pixel nearest them: where the rendered edge
        # lies inside the photo's, the fill between them was a sliver, a thin light line
        # beside the scene's own texture, and the person's own colours there would be a ghost.
        outer = hole & (mask < STAY_SOLID)
        away, nearest = cv2.distanceTransformWithLabels(scene.astype(np.uint8) ^ 1, cv2.DIST_L2, 5,
                                                        labelType=cv2.DIST_LABEL_PIXEL)
        inner = hole & (mask >= STAY_SOLID) & (away <= max(2.0, STAY_INSIDE * height))
        self.usable = bool(outer.any() or inner.any()) and bool(np.array_equal(image[~hole], plate[~hole]))
        if not self.usable:
            return
        oy, ox = np.nonzero(outer)
        iy, ix = np.nonzero(inner)
        sy, sx = np.nonzero(scene)  # (raster order: the distance transform's labels count them so)
        label = nearest[iy, ix] - 1
        ys, xs = np.concatenate([oy, iy]), np.concatenate([ox, ix])
        # The weights are worked out at a reduced scale (about 150 px of person height, at
        # most 4x smaller; they are smooth) over the hole's box, and applied to the pixels
        # that can come back alone (blending the whole box at full size cost a few times more).
        s = self.step = int(np.clip(height // 150, 1, 4))
        hy, hx = np.nonzero(hole)
        y0, y1 = hy.min() // s * s, hy.max() + 1
        x0, x1 = hx.min() // s * s, hx.max() + 1
        self.box = (x0, y0, x1, y1)
        self.small = (-(-(x1 - x0) // s), -(-(y1 - y0) // s))  # (w, h), rounded up
        self.mask = self._shrink(mask[y0:y1, x0:x1])
        self.window = 2 * max(1, int(round(STAY_WINDOW * height / s))) + 1
        self.pixels = ys * w + xs                                        # canvas pixels that can come back
        self.cells = (ys - y0) // s * self.small[0] + (xs - x0) // s     # and their cell at the reduced scale
        # The outer soft edge is checked pixel by pixel too, and comes back only in part.
        self.edge = np.nonzero(~scene[oy, ox])[0]
        # (Indices into the first len(oy) of self.pixels, the outer ones, as are these.)
        self.outer_y, self.outer_x, self.outer_mask = oy.astype(np.int32), ox.astype(np.int32), mask[oy, ox]
        most = np.full(len(ys), 255, np.uint8)
        most[:len(oy)] = np.clip((1.0 - mask[oy, ox]) * (255.0 / (1.0 - STAY_SOLID)), 0, 255)
        self.most = most
        # Per pixel, what comes back and the plate's colour in one 8-byte word (RGB_ RGB_):
        # one gather a frame fetches both (0.2 ms for 50,000 pixels, against 0.6 for two of 3 bytes).
        both = np.zeros((len(ys), 8), np.uint8)
        both[:len(oy), :3] = image[oy, ox]
        both[len(oy):, :3] = image[sy[label], sx[label]]
        both[:, 4:7] = plate[ys, xs]
        self.colours = both.view(np.uint64).ravel()

    @classmethod
    def from_pose(cls, image: np.ndarray, plate: np.ndarray, pose: Pose, hole: np.ndarray
                  ) -> PhotoWherePersonStays | None:
        """For a photo whose person `pose` carries their mask; None without one (the hole is
        then the joints' hull, grown, and nothing tells the person from the scene)."""
        bb = pose.bbox()
        if pose.mask is None or bb is None:
            return None
        return cls(image, plate, pose.mask, hole, bb[3] - bb[1])

    def _shrink(self, a: np.ndarray) -> np.ndarray:
        """A (box-sized) map at the reduced scale, each cell the mean of its pixels."""
        if self.step == 1:
            return np.ascontiguousarray(a)
        x0, y0, x1, y1 = self.box
        padded = np.zeros((self.small[1] * self.step, self.small[0] * self.step), np.float32)
        padded[:y1 - y0, :x1 - x0] = a
        return cv2.resize(padded, self.small, interpolation=cv2.INTER_AREA)

    def weights(self, corner: tuple[int, int], matte: np.ndarray) -> np.ndarray:
        """How much of each pixel that can come back does (uint8 per pixel of `self.pixels`,
        0: the plate's fill, 255: the photo) for a frame whose person matte (h, w uint8, 0-255,
        as the compositor blends by it) has its top-left pixel at canvas `corner`."""
        x0, y0, x1, y1 = self.box
        st = self.step
        cx, cy = corner
        mh, mw = matte.shape[:2]
        # The matte's part over the box, from and to whole cells (a cell part-covered at
        # the matte's border is left empty: the person box has a margin there), shrunk
        # straight into the cells it covers.
        ox0, oy0 = -(-(max(x0, cx) - x0) // st), -(-(max(y0, cy) - y0) // st)  # (cells)
        ox1, oy1 = (min(x1, cx + mw) - x0) // st, (min(y1, cy + mh) - y0) // st
        if ox0 >= ox1 or oy0 >= oy1:
            return np.zeros(len(self.pixels), np.uint8)
        drawn = np.zeros((self.small[1], self.small[0]), np.float32)
        part = matte[y0 + oy0 * st - cy:y0 + oy1 * st - cy, x0 + ox0 * st - cx:x0 + ox1 * st - cx]
        if st > 1:
            part = cv2.resize(part, (ox1 - ox0, oy1 - oy0), interpolation=cv2.INTER_AREA)
        drawn[oy0:oy1, ox0:ox1] = part * np.float32(1 / 255)
        differs = cv2.absdiff(drawn, self.mask)
        window = (self.window, self.window)
        weight = 1.0 - cv2.blur(differs, window) * (1.0 / STAY_TOLERANCE)
        weight = np.minimum(weight, cv2.blur(drawn, window) * (1.0 / STAY_NEAR))
        # Eased over three cells: a cell's weight is its pixels' all, and a step from photo to
        # fill between neighbouring cells drew a hard seam down a leg. Cells the rendered
        # person covers whole take no part (what is behind them is hidden).
        seen = (drawn < 0.999).astype(np.float32)
        weight = cv2.blur(np.clip(weight, 0.0, 1.0) * seen, (3, 3)) / np.maximum(cv2.blur(seen, (3, 3)), 1e-6)
        weight = np.minimum(np.clip(weight * 255.0, 0.0, 255.0).astype(np.uint8).ravel()[self.cells], self.most)
        # And pixel by pixel on the person's soft edge, where the cells gave any: a cell across
        # the edge of a person who has moved away holds their vacated soft edge too.
        edge = self.edge[weight[self.edge] > 0]
        ry, rx = self.outer_y[edge] - cy, self.outer_x[edge] - cx
        inside = (ry >= 0) & (ry < mh) & (rx >= 0) & (rx < mw)
        here = np.zeros(len(edge), np.float32)
        here[inside] = matte[ry[inside], rx[inside]] * np.float32(1 / 255)
        agree = 1.0 - np.abs(here - self.outer_mask[edge]) * (2.0 / STAY_TOLERANCE)
        weight[edge] = np.minimum(weight[edge], np.clip(agree * 255.0, 0.0, 255.0).astype(np.uint8))
        return weight

    def paint(self, canvas: np.ndarray, which: np.ndarray, weight: np.ndarray) -> None:
        """Give the pixels `which` (indices into `self.pixels`) of `canvas` (the plate, (H, W,
        3 or 4) uint8, changed in place; a 4th channel is set to 0) their `weight` of the photo."""
        if len(which) == 0:
            return
        both = self.colours[which].view(np.uint8).reshape(-1, 8)
        colour = mix(both[:, :4], both[:, 4:], np.repeat(weight[:, None], 4, axis=1))  # (RGB0 per pixel)
        at = self.pixels[which]
        if canvas.shape[2] == 4:  # whole pixels at once (4-byte words)
            canvas.reshape(-1).view(np.uint32)[at] = np.ascontiguousarray(colour).view(np.uint32).ravel()
        else:
            flat = canvas.reshape(-1)
            for c in range(3):
                flat[3 * at + c] = colour[:, c]
