"""Benchmark: what One Euro smoothing does to real pose tracks (jitter removed, lag added).

Runs the real pose stage (make_estimator("auto", video_mode=True) + SubjectTracker) over
the dev driving videos, full length, once; then smooths the raw track with PoseSmoother
(the defaults, plus a small grid of parameters) and reports:

* jitter: mean |x[t+1] - 2 x[t] + x[t-1]| over joints visible in all three frames, in
  pixels and in percent of the person's height (per-frame height of the visible joints);
* lag: the time shift that maximises the cross-correlation between the raw and the
  smoothed joint velocities (sub-frame, parabolic peak), averaged over joints and axes;
  and on synthetic motions of a 300 px tall person at the video's frame rate: the delay
  until the smoothed joint covers half and 90% of a 15 px step (5% of the height), and
  the delay on a 1 Hz sway of 30 px amplitude.

Usage:  python benchmarks/smoothing.py [--videos A.mp4 B.mp4] [--out benchmarks/results/smoothing.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vunet_video.pose import Pose, PoseSmoother, SubjectTracker, make_estimator  # noqa: E402
from vunet_video.pose.keypoints import NUM_JOINTS  # noqa: E402
from vunet_video.video import VideoReader  # noqa: E402

SHARED = Path(os.environ.get("VUNET_SHARED") or REPO.parent / "shared")
DEFAULT_VIDEOS = [SHARED / "data/dev/driving/musepose_dance.mp4",
                  SHARED / "data/dev/driving/unianimate_source_video.mp4"]
GRID = [(1.0, 0.05), (0.5, 0.05), (1.0, 0.2), (0.3, 0.5), (0.05, 0.8), (2.0, 0.05), (1.0, 0.0)]


def raw_track(path: Path):
    """Raw (unsmoothed) track of the main subject: times (T,), xy (T,17,2), score (T,17)."""
    est = make_estimator("auto", video_mode=True)
    tracker = SubjectTracker()
    times, xys, scores = [], [], []
    start = time.perf_counter()
    with VideoReader(path) as reader:
        fps = reader.info.fps
        for frame in reader:
            pose = tracker(est(frame.image), frame.image.shape[:2])
            times.append(frame.time)
            xys.append(pose.xy)
            scores.append(pose.score)
    seconds = time.perf_counter() - start
    getattr(est, "close", lambda: None)()
    return est.name, fps, np.array(times), np.stack(xys), np.stack(scores), seconds


def smooth_track(times, xy, score, **params):
    s = PoseSmoother(**params)
    out = [s(Pose(x, c), t) for t, x, c in zip(times, xy, score)]
    return np.stack([p.xy for p in out]), np.stack([p.score for p in out])


def jitter(xy: np.ndarray, score: np.ndarray, min_score: float = 0.3) -> tuple[float, float]:
    """Mean |second difference| in px and in % of the person's height."""
    vis = (score >= min_score) & np.isfinite(xy).all(axis=2)
    acc = np.abs(xy[2:] - 2 * xy[1:-1] + xy[:-2])          # (T-2, 17, 2)
    ok = vis[2:] & vis[1:-1] & vis[:-2]
    height = np.array([np.ptp(x[v, 1]) if v.sum() >= 2 else np.nan for x, v in zip(xy, vis)])[1:-1]
    ok &= np.isfinite(height)[:, None] & (height[:, None] > 1)
    a = acc[ok]
    rel = (acc / height[:, None, None])[ok]
    return float(a.mean()), float(100 * rel.mean())


def xcorr_lag_frames(raw: np.ndarray, smooth: np.ndarray, max_lag: int = 10) -> float:
    """Mean lag (frames) of `smooth` behind `raw` from the cross-correlation of velocities."""
    lags = []
    for j in range(NUM_JOINTS):
        for k in range(2):
            a, b = raw[:, j, k], smooth[:, j, k]
            ok = np.isfinite(a) & np.isfinite(b)
            if ok.mean() < 0.9:
                continue
            # Fill the few gaps linearly so that differences stay defined.
            idx = np.arange(len(a))
            a = np.interp(idx, idx[ok], a[ok])
            b = np.interp(idx, idx[ok], b[ok])
            va, vb = np.diff(a), np.diff(b)
            va, vb = va - va.mean(), vb - vb.mean()
            if va.std() < 1e-6 or vb.std() < 1e-6:
                continue
            shifts = np.arange(-max_lag, max_lag + 1)
            # cc[s] = sum va[t] vb[t + s]: peaks at s > 0 when smooth trails raw.
            cc = np.array([np.dot(va[max(0, -s): len(va) - max(0, s)], vb[max(0, s): len(vb) - max(0, -s)])
                           for s in shifts])
            k = int(np.argmax(cc))
            lag = float(shifts[k])
            if 0 < k < len(cc) - 1:  # parabolic interpolation of the peak
                den = cc[k - 1] - 2 * cc[k] + cc[k + 1]
                lag += 0.5 * (cc[k - 1] - cc[k + 1]) / den if den != 0 else 0.0
            lags.append(lag)
    return float(np.mean(lags)) if lags else float("nan")


def _synthetic_run(fps: float, n: int, shift_at, **params) -> np.ndarray:
    """Nose x (minus its start) of a 300 px tall synthetic person moved by shift_at(t) px."""
    body = np.zeros((NUM_JOINTS, 2), np.float32)
    body[:, 1] = np.linspace(-150, 150, NUM_JOINTS)
    s = PoseSmoother(**params)
    xs = []
    for i in range(n):
        t = i / fps
        p = s(Pose(body + np.array([300 + shift_at(t), 400], np.float32), np.full(NUM_JOINTS, 0.9, np.float32)), t)
        xs.append(float(p.xy[0, 0]) - 300)
    return np.array(xs)


def step_delay(fps: float, step_px: float = 15.0, **params) -> tuple[float, float]:
    """Frames until the smoothed joint covers 50% and 90% of a step of `step_px` (5% of
    the person's 300 px height by default)."""
    n0 = int(fps)
    xs = _synthetic_run(fps, 3 * n0, lambda t: 0.0 if t < 1.0 - 0.5 / fps else step_px, **params)[n0:]
    return float(np.argmax(xs >= 0.5 * step_px)), float(np.argmax(xs >= 0.9 * step_px))


def sine_lag_ms(fps: float, freq: float = 1.0, amplitude: float = 30.0, **params) -> float:
    """Delay (ms) of the smoothed joint on a sinusoidal sway (1 Hz, 10% of the person's
    height), from the phase of the fundamental after a 2 s warm-up."""
    xs = _synthetic_run(fps, int(8 * fps), lambda t: amplitude * np.sin(2 * np.pi * freq * t), **params)
    t = np.arange(len(xs)) / fps
    keep = t >= 2.0
    z = np.sum(xs[keep] * np.exp(-2j * np.pi * freq * t[keep]))  # phase of sin(...) is -pi/2
    phase = np.angle(z) + np.pi / 2
    return float(-phase / (2 * np.pi * freq) * 1000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", nargs="*", type=Path, default=DEFAULT_VIDEOS)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/smoothing.md")
    args = ap.parse_args()

    defaults = PoseSmoother()
    rows, grid_rows = [], []
    for video in args.videos:
        backend, fps, times, xy, score, seconds = raw_track(video)
        n = len(times)
        found = int((score >= 0.3).any(axis=1).sum())
        print(f"{video.name}: {n} frames, subject found in {found}, pose stage {n / seconds:.1f} frames/s ({backend})",
              flush=True)
        raw_px, raw_rel = jitter(xy, score)
        sm_xy, sm_score = smooth_track(times, xy, score)
        sm_px, sm_rel = jitter(sm_xy, sm_score)
        lag = xcorr_lag_frames(xy, sm_xy)
        d50, d90 = step_delay(fps)
        rows.append((video.name, n, fps, backend, n / seconds, found, raw_px, raw_rel, sm_px, sm_rel, lag, d50, d90,
                     sine_lag_ms(fps)))
        for mc, beta in GRID:
            g_xy, g_score = smooth_track(times, xy, score, min_cutoff=mc, beta=beta)
            g_px, g_rel = jitter(g_xy, g_score)
            g50, g90 = step_delay(fps, min_cutoff=mc, beta=beta)
            grid_rows.append((video.name, mc, beta, g_px, g_rel, 100 * (1 - g_px / raw_px),
                              xcorr_lag_frames(xy, g_xy), g50, g90, sine_lag_ms(fps, min_cutoff=mc, beta=beta)))

    lines = ["# One Euro smoothing on the dev driving videos", "",
             f"`python benchmarks/smoothing.py` on {platform.machine()} / {os.cpu_count()} CPU cores "
             f"(Python {platform.python_version()}). Pose stage speeds are with other jobs sharing the machine.",
             "",
             f"Defaults: PoseSmoother(min_cutoff={defaults.min_cutoff}, beta={defaults.beta}, "
             f"d_cutoff={defaults.d_cutoff}, min_score={defaults.min_score}, max_gap_frames={defaults.max_gap_frames}, "
             f"max_gap_s={defaults.max_gap_s}); beta is per percent of person size per second.",
             "",
             "Jitter = mean |x[t+1] - 2x[t] + x[t-1]| over joints visible in the three frames; "
             "'% h' divides by the person's height in that frame. Lag (xcorr) = shift maximising the "
             "cross-correlation of raw and smoothed joint velocities. Step = frames until a 15 px step "
             "of a 300 px person (5% of height) is covered half / 90%; sway = delay on a 1 Hz, 30 px sway "
             "(both synthetic, at the video's frame rate).",
             "",
             "| video | frames | fps | backend | pose stage frames/s | subject found | raw jitter px | raw jitter % h "
             "| smoothed jitter px | smoothed jitter % h | jitter removed | lag (xcorr) frames | lag ms | step 50% / 90% frames "
             "| sway lag ms |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for (name, n, fps, backend, speed, found, rp, rr, sp, sr, lag, d50, d90, sway) in rows:
        lines.append(f"| {name} | {n} | {fps:.2f} | {backend} | {speed:.1f} | {found} | {rp:.2f} | {rr:.3f} | {sp:.2f} "
                     f"| {sr:.3f} | {100 * (1 - sp / rp):.0f}% | {lag:.2f} | {1000 * lag / fps:.0f} | {d50:.0f} / {d90:.0f} "
                     f"| {sway:.0f} |")
    lines += ["", "## Parameter grid", "",
              "| video | min_cutoff | beta | jitter px | jitter % h | jitter removed | lag (xcorr) frames "
              "| step 50% / 90% frames | sway lag ms |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for (name, mc, beta, px, rel, removed, lag, g50, g90, sway) in grid_rows:
        lines.append(f"| {name} | {mc} | {beta} | {px:.2f} | {rel:.3f} | {removed:.0f}% | {lag:.2f} "
                     f"| {g50:.0f} / {g90:.0f} | {sway:.0f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
