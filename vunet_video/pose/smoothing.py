"""Causal temporal smoothing of a pose track: the One Euro filter.

One Euro filter (Casiez, Roussel, Vogel, "1 Euro Filter: A Simple Speed-based Low-pass
Filter for Noisy Input in Interactive Systems", CHI 2012): an exponential low-pass filter
whose cutoff frequency rises with speed, so a still joint is smoothed hard (no jitter) and
a fast joint is smoothed little (little lag). For each sample x at time t, with
dt = t - t_previous:

    alpha(fc, dt) = 1 / (1 + tau / dt),   tau = 1 / (2 pi fc)
    dx_hat  = lowpass(dx = (x - x_hat_prev) / dt, alpha(d_cutoff, dt))
    fc      = min_cutoff + beta * |dx_hat|
    x_hat   = lowpass(x, alpha(fc, dt))

Using the real dt of every sample makes it correct for variable frame rates.

Choices made here:

* Each joint's x and y are filtered, but they share one cutoff computed from the joint's
  speed (the length of its 2D velocity), so a diagonal motion is smoothed the same way as
  a horizontal one and the path is not bent.
* Scale invariance: beta multiplies a speed, so its meaning depends on units. Speeds are
  measured in percent of the person's size per second (size = the larger side of the
  box around the visible joints, itself low-passed at 0.5 Hz so it does not jitter).
  The same parameters then behave the same for a person 256 px tall and 1920 px tall:
  beta = 0.05 raises the cutoff by 1 Hz for every 20 % of body size per second.
* Missing joints (NaN, or score below `min_score`): the last smoothed position is held
  and reported for a short gap (at most `max_gap_frames` calls and `max_gap_s`
  seconds), with a confidence that falls linearly from the last score to `min_score`,
  so a joint that blinks out for a frame does not flicker. After a longer gap the joint
  is reported missing, and when it reappears its filter starts afresh at the new
  position (no slow glide from where it was seen last).
"""

from __future__ import annotations

import math

import numpy as np

from .keypoints import MIN_SCORE, NUM_JOINTS, Pose

# Size (in px) is low-passed with this cutoff so that the speed normalisation does not
# inject the box's own jitter into the filter.
_SIZE_CUTOFF_HZ = 0.5
# Smallest dt used: equal or reversed timestamps (broken VFR files) must not divide by 0.
_MIN_DT = 1e-3


def smoothing_factor(cutoff_hz: np.ndarray | float, dt: np.ndarray | float) -> np.ndarray:
    """alpha of an exponential low-pass filter with cutoff `cutoff_hz` sampled every `dt` s."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz, np.float64))
    return 1.0 / (1.0 + tau / np.asarray(dt, np.float64))


class PoseSmoother:
    """Causal One Euro smoothing of one person's pose track, one call per frame.

    min_cutoff: cutoff (Hz) for a still joint; lower = smoother when still, more lag.
    beta:       cutoff increase per unit of speed (percent of person size per second);
                higher = less lag on fast motion, more jitter.
    d_cutoff:   cutoff (Hz) of the speed estimate.
    min_score:  joints scored below this are treated as missing.
    max_gap_frames, max_gap_s: the longest gap a missing joint is held for.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0,
                 min_score: float = MIN_SCORE, max_gap_frames: int = 6, max_gap_s: float = 0.3):
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError("min_cutoff and d_cutoff must be > 0 and beta >= 0")
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self.min_score = float(min_score)
        self.max_gap_frames = int(max_gap_frames)
        self.max_gap_s = float(max_gap_s)
        self.reset()

    def reset(self) -> None:
        """Forget the track (call between unrelated clips)."""
        self._x = np.full((NUM_JOINTS, 2), np.nan)      # smoothed position, px
        self._dx = np.zeros((NUM_JOINTS, 2))            # smoothed velocity, px/s
        self._t = np.full(NUM_JOINTS, np.nan)           # time of last update per joint
        self._live = np.zeros(NUM_JOINTS, bool)         # filter initialised
        self._last_score = np.zeros(NUM_JOINTS)
        self._missed = np.zeros(NUM_JOINTS, np.int64)   # consecutive calls without the joint
        self._size = None                               # smoothed person size, px
        self._size_t = None

    def _update_size(self, xy: np.ndarray, seen: np.ndarray, t: float) -> None:
        n = int(seen.sum())
        # A pose of a few joints (a face only) would shrink the size and inflate speeds:
        # such poses may start the estimate but never update it.
        if n < 2 or (n < 4 and self._size is not None):
            return
        pts = xy[seen]
        size = float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]), 1.0))
        if self._size is None:
            self._size, self._size_t = size, t
            return
        a = float(smoothing_factor(_SIZE_CUTOFF_HZ, max(t - self._size_t, _MIN_DT)))
        self._size += a * (size - self._size)
        self._size_t = t

    def __call__(self, pose: Pose, t: float) -> Pose:
        """Smoothed copy of `pose` observed at time `t` (seconds, increasing)."""
        xy = pose.xy.astype(np.float64)
        seen = pose.visible(self.min_score)
        self._update_size(xy, seen, t)

        # Joints seen again after too long a gap restart from their new position.
        gap_s = t - self._t
        stale = self._live & ((self._missed > self.max_gap_frames) | (gap_s > self.max_gap_s))
        self._live &= ~stale
        start = seen & ~self._live
        go_on = seen & self._live

        self._x[start] = xy[start]
        self._dx[start] = 0.0
        if go_on.any():
            dt = np.maximum(gap_s[go_on], _MIN_DT)[:, None]
            x_prev = self._x[go_on]
            a_d = smoothing_factor(self.d_cutoff, dt)
            self._dx[go_on] += a_d * ((xy[go_on] - x_prev) / dt - self._dx[go_on])
            speed = np.linalg.norm(self._dx[go_on], axis=1, keepdims=True)
            # Percent of person size per second; a lone joint with no size yet counts 100 px.
            speed_pct = 100.0 * speed / (self._size or 100.0)
            a = smoothing_factor(self.min_cutoff + self.beta * speed_pct, dt)
            self._x[go_on] = x_prev + a * (xy[go_on] - x_prev)

        self._live |= seen
        self._t[seen] = t
        self._missed[seen] = 0
        self._last_score[seen] = pose.score[seen]

        out_xy = np.full((NUM_JOINTS, 2), np.nan, np.float32)
        out_score = np.zeros(NUM_JOINTS, np.float32)
        out_xy[seen] = self._x[seen]
        out_score[seen] = pose.score[seen]

        # Held joints: last smoothed position, confidence sliding down to min_score.
        held = self._live & ~seen
        self._missed[held] += 1
        frac = np.maximum(self._missed / max(self.max_gap_frames, 1), (t - self._t) / self.max_gap_s)
        keep = held & (frac <= 1.0)
        out_xy[keep] = self._x[keep]
        out_score[keep] = self.min_score + (self._last_score[keep] - self.min_score) * (1.0 - frac[keep])
        self._live &= ~(held & ~keep)
        return Pose(out_xy, out_score, pose.mask)
