"""Putting the rendered person into the output frame.

The model renders an S x S crop (RGB and an alpha matte) framed by the target pose's
`person_box`. `Compositor` scales that crop back into the output canvas through the box
and alpha-composites it over one of three backgrounds:

* 'subject': the subject photo's own scene with the original person painted out
  (render/plate.py), so the re-posed subject does not stand in front of a ghost of
  themselves in their old pose.
* 'color':   a plain colour.
* 'alpha':   transparent; the frame is RGBA with straight (not premultiplied) alpha, for
  PNG and ProRes 4444 exports.

Every frame also carries its person matte, so an editor receiving RGBA frames can cut the
person out whatever the background.

`TemporalFilter` is the output-side stabiliser: a causal, motion-adaptive exponential
moving average of the premultiplied crop (RGB * alpha, alpha). The previous filtered crop
is first warped into the current crop's frame (the box moves and rescales from frame to
frame), then blended per pixel with a weight that goes from `1 - strength` for small
changes (the frame-to-frame shimmer a per-frame decoder produces) to 1 for large ones
(real motion), so flicker is damped while moving limbs leave no trails. It keeps one
S x S crop of state: streaming, constant memory.

`FlickerMeter` measures what the filter is for (see its docstring).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import VunetError
from .framing import Box

BACKGROUNDS = ("subject", "color", "alpha")

_NAMED_COLOURS = {"white": (255, 255, 255), "black": (0, 0, 0), "grey": (128, 128, 128), "gray": (128, 128, 128),
                  "green": (0, 177, 64), "blue": (0, 71, 187)}  # green/blue: chroma-key screens


def parse_color(text: str | tuple | list) -> tuple[int, int, int]:
    """'#rrggbb', '#rgb', 'rrggbb', a name (white, black, grey, green, blue) or (r, g, b)."""
    if isinstance(text, (tuple, list)) and len(text) == 3 and all(0 <= int(c) <= 255 for c in text):
        return tuple(int(c) for c in text)
    s = str(text).strip().lower()
    if s in _NAMED_COLOURS:
        return _NAMED_COLOURS[s]
    h = s.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    try:
        if len(h) != 6:
            raise ValueError
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
    except ValueError:
        raise VunetError(None, f"colour {text!r} is not #rrggbb, #rgb or one of {', '.join(_NAMED_COLOURS)}") from None


# ----------------------------------------------------------------------------- temporal filter

class TemporalFilter:
    """Causal motion-adaptive EMA of the rendered crop (see the module docstring).

    strength:  0 = off; the weight kept from the past for a pixel that barely changed.
    threshold: a change (mean over premultiplied RGB and alpha, 0..1) at which a pixel
               is taken as moving and passes through unfiltered.
    """

    def __init__(self, strength: float = 0.5, threshold: float = 0.12):
        if not 0.0 <= strength < 1.0:
            raise VunetError(None, f"temporal smoothing strength {strength} must be in [0, 1)")
        self.strength = float(strength)
        self.threshold = float(threshold)
        self.reset()

    def reset(self) -> None:
        self._prev: np.ndarray | None = None  # (S, S, 4) premultiplied RGB + alpha in [0, 1]
        self._prev_box: Box | None = None

    def __call__(self, rgb: np.ndarray, alpha: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray]:
        """rgb (S, S, 3) uint8, alpha (S, S) float -> filtered (rgb uint8, alpha float32)."""
        if self.strength == 0:
            return rgb, alpha
        size = rgb.shape[0]
        # (OpenCV's per-pixel arithmetic on the four channels at once: 0.8 -> 0.4 ms per
        # 128 px crop against numpy's, which made a temporary array for every step.)
        a = np.asarray(alpha, np.float32)
        cur = np.empty((size, size, 4), np.float32)
        cur[..., :3] = rgb
        cur[..., 3] = 255.0
        cur = cv2.multiply(cur, cv2.merge([a * (1 / 255)] * 4))  # premultiplied RGB in [0, 1], alpha
        if self._prev is not None:
            prev = self._warp_previous(size, box)
            change = cv2.transform(cv2.absdiff(cur, prev), np.full((1, 4), 0.25, np.float32))  # mean over channels
            w_new = (1.0 - self.strength) + self.strength * np.minimum(change * (1.0 / self.threshold), 1.0)
            cur = cv2.add(prev, cv2.multiply(cv2.subtract(cur, prev), cv2.merge([w_new] * 4)))
        self._prev, self._prev_box = cur, box
        out_a = cur[..., 3].copy()
        straight = cv2.multiply(cur, cv2.merge([255.0 / np.maximum(out_a, 1e-3)] * 4))
        return cv2.cvtColor(cv2.convertScaleAbs(straight), cv2.COLOR_RGBA2RGB), out_a

    def _warp_previous(self, size: int, box: Box) -> np.ndarray:
        p = self._prev_box
        if p == box:
            return self._prev
        # Previous crop pixels -> photo pixels -> current crop pixels.
        a = p.side / box.side
        m = np.array([[a, 0, (p.x0 - box.x0) * size / box.side],
                      [0, a, (p.y0 - box.y0) * size / box.side]], np.float32)
        return cv2.warpAffine(self._prev, m, (size, size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)


# ----------------------------------------------------------------------------- compositing

def mix(top: np.ndarray, bottom: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """top * weight + bottom * (1 - weight) for uint8 images (h, w) or (h, w, c) and a
    weight map (h, w): float in [0, 1] or uint8 in 0-255.

    In 8-bit fixed point (the weight rounded to 1/255, each product rounded: within one
    level of the float blend): about 4x faster than cv2.blendLinear, which every frame
    runs several times over the whole person."""
    a = weight if weight.dtype == np.uint8 else cv2.convertScaleAbs(weight, alpha=255.0)
    if top.ndim == 3:
        a = cv2.merge([a] * top.shape[2])
    return cv2.add(cv2.multiply(top, a, scale=1 / 255), cv2.multiply(bottom, cv2.bitwise_not(a), scale=1 / 255))


class Compositor:
    """Scale rendered crops into the output canvas and composite them over the background.

    frame_size: (width, height) of the output canvas (the subject photo's frame).
    background: 'subject' (needs `plate`), 'color' or 'alpha'.
    Calling it returns (H, W, 4) uint8 RGBA: the output frame in RGB and the person matte
    in A (for 'alpha' the RGB is the person's own colour and A is the transparency).
    matte=False (not for 'alpha'): (H, W, 3) RGB frames, no matte, for outputs that keep no
    alpha (an H.264 video): blending three channels instead of four took the compositing
    from 2.4 to 1.4 ms for a 640 x 1100 person in a 872 x 1280 frame.
    unmoved: for 'subject', a render.plate.PhotoWherePersonStays, which gives the photo's
    own pixels back in the plate's hole where the person stands as they stood.
    """

    def __init__(self, frame_size: tuple[int, int], background: str = "subject", plate: np.ndarray | None = None,
                 color: tuple[int, int, int] = (255, 255, 255), matte: bool = True, unmoved=None):
        if background not in BACKGROUNDS:
            raise VunetError(None, f"unknown background {background!r} (use one of {', '.join(BACKGROUNDS)})")
        if not matte and background == "alpha":
            raise ValueError("background 'alpha' is the matte: it needs matte=True")
        self.matte = matte
        w, h = frame_size
        self.frame_size = (w, h)
        self.background = background
        if background == "subject":
            if plate is None or plate.shape[:2] != (h, w):
                raise ValueError("background 'subject' needs a plate of the canvas size")
            self._bg = plate
        elif background == "color":
            self._bg = np.empty((h, w, 3), np.uint8)
            self._bg[:] = parse_color(color)
        else:
            self._bg = np.zeros((h, w, 3), np.uint8)
        self._bg = np.ascontiguousarray(self._bg)
        self._bg_rgba = np.dstack([self._bg, np.zeros((h, w), np.uint8)])  # each frame starts as a copy
        self.unmoved = unmoved if background == "subject" and unmoved is not None and unmoved.usable else None

    def __call__(self, rgb: np.ndarray, alpha: np.ndarray, box: Box) -> np.ndarray:
        """The frame with a rendered S x S crop (rgb uint8, alpha float) framed by `box`."""
        region = box_region(box, self.frame_size)
        if region is None:
            return self.paste((0, 0), np.zeros((0, 0, 3), np.uint8), np.zeros((0, 0), np.float32))
        person = crop_to_region(rgb, box, region, cv2.INTER_CUBIC)
        matte = np.clip(crop_to_region(alpha.astype(np.float32), box, region, cv2.INTER_LINEAR, cv2.BORDER_CONSTANT),
                        0.0, 1.0)
        return self.paste(region[:2], person, matte)

    def paste(self, corner: tuple[int, int], person: np.ndarray, matte: np.ndarray) -> np.ndarray:
        """The frame with the person (h, w, 3 uint8, straight colour) and matte (h, w float in
        [0, 1]) placed with their top-left pixel at canvas `corner` (x, y), inside the canvas."""
        out = (self._bg_rgba if self.matte else self._bg).copy()
        x0, y0 = corner
        ph, pw = matte.shape[:2]
        if ph == 0 or pw == 0:
            return out
        if self.unmoved is not None:  # the photo's own pixels back around a person who stays put
            matte = cv2.convertScaleAbs(matte, alpha=255.0)  # (mix takes it in 8 bits too)
            weight = self.unmoved.weights(corner, matte)
            back = np.nonzero(weight)[0]
            self.unmoved.paint(out, back, weight[back])
        region = np.s_[y0:y0 + ph, x0:x0 + pw]
        if not self.matte:
            out[region] = mix(person, out[region], matte)
        elif self.background == "alpha":
            out[region + (slice(0, 3),)] = person
            out[region + (3,)] = cv2.convertScaleAbs(matte, alpha=255.0)  # rounds and saturates
        else:
            # One blend of whole RGBA pixels: the person's alpha is 255 and the background's 0,
            # so the blended alpha is the matte in 8 bits.
            opaque = cv2.cvtColor(person, cv2.COLOR_RGB2RGBA)
            out[region] = mix(opaque, out[region], matte)
        return out


def box_region(box: Box, frame_size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1): the canvas pixels a person box covers, inside a canvas of
    frame_size (w, h); None when none. Only this part of the canvas is touched: warping a
    whole 1080p canvas for a person covering a third of it would triple the cost."""
    w, h = frame_size
    x0, y0 = max(0, int(np.floor(box.x0))), max(0, int(np.floor(box.y0)))
    x1, y1 = min(w, int(np.ceil(box.x0 + box.side))), min(h, int(np.ceil(box.y0 + box.side)))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def crop_to_region(image: np.ndarray, box: Box, region: tuple[int, int, int, int], interpolation: int,
                   border: int = cv2.BORDER_REPLICATE, border_value: float = 0) -> np.ndarray:
    """A model-size crop framed by `box` scaled onto the canvas region (x0, y0, x1, y1);
    border_value: beyond the crop, for border cv2.BORDER_CONSTANT."""
    x0, y0, x1, y1 = region
    m = box.matrix(image.shape[0]).astype(np.float64)
    m[:, 2] += m[:, :2] @ np.array([x0, y0])  # region pixel (0, 0) is canvas pixel (x0, y0)
    return cv2.warpAffine(image, m, (x1 - x0, y1 - y0), flags=interpolation | cv2.WARP_INVERSE_MAP,
                          borderMode=border, borderValue=border_value)


# ----------------------------------------------------------------------------- flicker metric

class FlickerMeter:
    """Temporal flicker of a stream of RGBA output frames (A = person matte).

    For every pair of consecutive frames, on frames scaled to at most 360 px:
    * `person_mad`: mean absolute difference of the RGB values (0-255) inside the person
      (matte > 0.5 in either frame). It counts motion and flicker together.
    * `background_mad`: the same outside the person (0 for a still background).
    * `person_warp_error`: the previous frame is first moved onto the current one with
      dense optical flow (Farneback), then compared inside the person: the warping error
      of Lai et al., "Learning Blind Video Temporal Consistency" (ECCV 2018). Motion the
      flow explains is removed, so what is left is mostly flicker.
    Averages over all pairs are in `summary()`.
    """

    def __init__(self, max_side: int = 360):
        self.max_side = max_side
        self._prev = None
        self._sums = {"person_mad": 0.0, "background_mad": 0.0, "person_warp_error": 0.0}
        self.pairs = 0

    def scaled(self, rgba: np.ndarray) -> np.ndarray:
        """The frame as the meter measures it (longer side at most max_side)."""
        h, w = rgba.shape[:2]
        f = min(1.0, self.max_side / max(h, w))
        return cv2.resize(rgba, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else rgba

    def update(self, rgba: np.ndarray) -> None:
        cur = self.scaled(rgba)
        if self._prev is not None:
            for k, v in flicker_pair(self._prev, cur).items():
                self._sums[k] += v
            self.pairs += 1
        self._prev = cur

    def summary(self) -> dict:
        n = max(self.pairs, 1)
        return {k: v / n for k, v in self._sums.items()} | {"pairs": self.pairs}


def flicker_pair(prev: np.ndarray, cur: np.ndarray) -> dict:
    """Flicker figures (see FlickerMeter) between two RGBA frames of the same size."""
    a_rgb, b_rgb = prev[..., :3].astype(np.float32), cur[..., :3].astype(np.float32)
    person = (prev[..., 3] > 127) | (cur[..., 3] > 127)
    diff = np.abs(b_rgb - a_rgb).mean(axis=2)
    g_prev = cv2.cvtColor(prev[..., :3], cv2.COLOR_RGB2GRAY)
    g_cur = cv2.cvtColor(cur[..., :3], cv2.COLOR_RGB2GRAY)
    # Flow from the current frame back to the previous: cur(x) ~ prev(x + flow(x)).
    flow = cv2.calcOpticalFlowFarneback(g_cur, g_prev, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    h, w = g_cur.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    warped = cv2.remap(prev[..., :3], gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    warp_diff = np.abs(b_rgb - warped).mean(axis=2)
    cur_person = cur[..., 3] > 127

    def mean(values, where):
        return float(values[where].mean()) if where.any() else 0.0

    return {"person_mad": mean(diff, person), "background_mad": mean(diff, ~person),
            "person_warp_error": mean(warp_diff, cur_person)}
