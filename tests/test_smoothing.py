"""One Euro pose smoothing (vunet_video/pose/smoothing.py) on synthetic trajectories."""

from __future__ import annotations

import numpy as np
import pytest

from vunet_video.pose import Pose, PoseSmoother
from vunet_video.pose.keypoints import NUM_JOINTS

# A standing person about 300 px tall: joint offsets from the hip centre.
BODY = np.array([[0, -150], [8, -158], [-8, -158], [16, -152], [-16, -152],
                 [40, -110], [-40, -110], [55, -55], [-55, -55], [60, 0], [-60, 0],
                 [20, 0], [-20, 0], [22, 75], [-22, 75], [24, 150], [-24, 150]], np.float64)


def pose_at(centre, score=0.9) -> Pose:
    return Pose((BODY + centre).astype(np.float32), np.full(NUM_JOINTS, score, np.float32))


def run(smoother: PoseSmoother, poses, times):
    return [smoother(p, t) for p, t in zip(poses, times)]


def mean_accel(track: np.ndarray) -> float:
    """Mean |x[t+1] - 2 x[t] + x[t-1]| (px) over frames, joints and coordinates."""
    return float(np.abs(track[2:] - 2 * track[1:-1] + track[:-2]).mean())


def slow_sway(times, amplitude=10.0):
    """A person swaying slowly (0.2 Hz): the regime where noise, not motion, dominates."""
    return np.stack([400 + amplitude * np.sin(2 * np.pi * 0.2 * times),
                     500 + amplitude / 3 * np.sin(2 * np.pi * 0.15 * times)], 1)


def test_reduces_jitter_on_noisy_trajectory():
    rng = np.random.default_rng(0)
    times = np.arange(150) / 30.0
    truth = slow_sway(times)[:, None, :] + BODY[None]
    noisy = truth + rng.normal(0, 2.0, truth.shape)
    poses = [Pose(n.astype(np.float32), np.full(NUM_JOINTS, 0.9, np.float32)) for n in noisy]
    out = np.stack([p.xy for p in run(PoseSmoother(), poses, times)])
    assert mean_accel(out) < 0.3 * mean_accel(noisy)
    # Smoothing must also bring the track closer to the truth (after a short warm-up).
    err_raw = np.linalg.norm(noisy - truth, axis=2)[15:].mean()
    err_out = np.linalg.norm(out - truth, axis=2)[15:].mean()
    assert err_out < 0.7 * err_raw


def test_follows_a_step_with_bounded_lag():
    times = np.arange(60) / 30.0
    centres = [np.array([300.0, 400.0]) if t < 1.0 else np.array([400.0, 400.0]) for t in times]
    out = np.stack([p.xy[:, 0] - BODY[:, 0] for p in run(PoseSmoother(), [pose_at(c) for c in centres], times)])
    x = out.mean(axis=1)
    step_at = 30
    assert np.allclose(x[:step_at], 300.0, atol=1e-3)
    assert np.all(x <= 400.0 + 1e-3)  # an exponential filter never overshoots
    reached = np.flatnonzero(x >= 390.0)
    assert reached.size and reached[0] - step_at <= 5  # 90% of the step within 5 frames
    assert abs(x[-1] - 400.0) < 0.5


def test_uses_real_time_steps():
    """The same motion sampled at 30, 60 fps and at irregular times gives the same curve."""
    def step_response(times):
        poses = [pose_at(np.array([300.0 if t < 0.5 else 400.0, 400.0])) for t in times]
        return np.array([p.xy[0, 0] - BODY[0, 0] for p in run(PoseSmoother(), poses, times)])

    t30 = np.arange(45) / 30.0
    t60 = np.arange(90) / 60.0
    rng = np.random.default_rng(1)
    t_vfr = np.cumsum(rng.uniform(1 / 60, 1 / 20, 80))
    x30, x60, xvfr = step_response(t30), step_response(t60), step_response(t_vfr)
    for probe in (0.6, 0.7, 0.9):
        a = np.interp(probe, t30, x30)
        assert abs(np.interp(probe, t60, x60) - a) < 10.0
        assert abs(np.interp(probe, t_vfr, xvfr) - a) < 15.0
    # Equal or reversed timestamps must not blow up.
    s = PoseSmoother()
    s(pose_at(np.array([300.0, 400.0])), 1.0)
    p = s(pose_at(np.array([310.0, 400.0])), 1.0)
    p = s(pose_at(np.array([310.0, 400.0])), 0.9)
    assert np.isfinite(p.xy).all()


def test_same_parameters_at_any_image_scale():
    rng = np.random.default_rng(2)
    times = np.arange(90) / 24.0
    truth = slow_sway(times, amplitude=40.0)[:, None, :] + BODY[None]
    noisy = truth + rng.normal(0, 2.0, truth.shape)
    outs = []
    for scale in (256 / 1920, 1.0):
        poses = [Pose((n * scale).astype(np.float32), np.full(NUM_JOINTS, 0.9, np.float32)) for n in noisy]
        outs.append(np.stack([p.xy for p in run(PoseSmoother(beta=0.5), poses, times)]) / scale)
    assert np.allclose(outs[0], outs[1], rtol=0, atol=1e-2)


def test_short_gap_is_held_with_decaying_confidence_then_missing():
    s = PoseSmoother(max_gap_frames=3, max_gap_s=10.0)
    dt = 1 / 30
    for i in range(10):
        s(pose_at(np.array([300.0, 400.0])), i * dt)
    gone = pose_at(np.array([300.0, 400.0]))
    gone.xy[9] = np.nan  # left wrist missing
    gone.score[9] = 0.0
    held = [s(gone.copy(), (10 + k) * dt) for k in range(5)]
    scores = [p.score[9] for p in held]
    assert all(np.allclose(p.xy[9], BODY[9] + [300, 400], atol=1e-3) for p in held[:3])
    assert scores[0] > scores[1] > scores[2] >= s.min_score  # still a usable joint
    assert np.isnan(held[3].xy[9]).all() and held[3].score[9] == 0  # gap too long: missing
    assert np.isnan(held[4].xy[9]).all()
    # It comes back somewhere else: the filter restarts there instead of gliding over.
    back = pose_at(np.array([300.0, 400.0]))
    back.xy[9] = [900.0, 100.0]
    p = s(back, 15 * dt)
    assert np.allclose(p.xy[9], [900.0, 100.0])
    assert p.score[9] == pytest.approx(0.9)


def test_time_limit_on_gap():
    s = PoseSmoother(max_gap_frames=100, max_gap_s=0.2)
    s(pose_at(np.array([300.0, 400.0])), 0.0)
    assert not s(Pose.empty(), 0.1).is_empty()
    assert s(Pose.empty(), 0.3).is_empty()


def test_low_confidence_joints_do_not_pull_the_track():
    s = PoseSmoother(min_score=0.3)
    for i in range(10):
        s(pose_at(np.array([300.0, 400.0])), i / 30)
    noisy = pose_at(np.array([300.0, 400.0]))
    noisy.xy[10] += [250.0, -180.0]  # a wild guess ...
    noisy.score[10] = 0.1            # ... that the model is unsure of
    p = s(noisy, 10 / 30)
    assert np.allclose(p.xy[10], BODY[10] + [300, 400], atol=1e-3)
    assert p.score[10] >= 0.3


def test_empty_poses_from_the_start_stay_empty():
    s = PoseSmoother()
    for i in range(3):
        p = s(Pose.empty(), i / 30)
        assert p.is_empty() and np.isnan(p.xy).all()
