"""`DrivingSource`: the driving motion as a stream of (index, time, pose).

From a video, each frame's main subject is posed (tracked across frames, One Euro
smoothed); from a pose JSON file or OpenPose output, the poses are read as they are
(smoothed too unless the file says it already is). Streams: frames and poses are handed
on one at a time and never kept.
"""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from ..errors import VunetError
from ..files import is_pose_file
from .keypoints import Pose


class CountingEstimator:
    """Passes an estimator through and remembers the most people seen in one frame."""

    def __init__(self, estimator):
        self.estimator, self.name, self.most_people = estimator, estimator.name, 0

    def __call__(self, image):
        people = self.estimator(image)
        self.most_people = max(self.most_people, len(people))
        return people

    def close(self):
        close = getattr(self.estimator, "close", None)
        if close:
            close()


def driving_estimator(pose_settings):
    """The pose estimator a driving video gets from the [pose] settings."""
    from .estimator import make_estimator

    # Each backend takes the options it knows ("" in a preset = the backend's default).
    return make_estimator(pose_settings.backend, video_mode=True, det_model=pose_settings.det_model or None,
                          pose_model=pose_settings.pose_model or None)


class DrivingSource:
    """The driving motion of `path` (a video, pose JSON file or OpenPose folder).

    pose, smoothing: the [pose] and [smoothing] settings (vunet_video.settings).
    start, end: seconds of the input to keep. fps: frame rate of a pose file that has none.
    audio: a file to take the sound from (default: a video's own sound; none for pose files).
    estimator: the pose estimator for a video (default: built from `pose`); any callable
    rgb -> list[Pose] with a `.name`.
    clock: a stages.StageClock that gets the decode, pose and smoothing ("retarget") times.
    A video is posed on every `pose.stride`-th frame (every (stride + 1)th while the body
    moves slowly, with `pose.adaptive`); the frames between are interpolated.
    """

    def __init__(self, path: str | Path, pose, smoothing, start: float | None = None, end: float | None = None,
                 fps: float | None = None, audio: str | Path | None = None, estimator=None, clock=None):
        from ..stages import StageClock

        from .tracking import PersonChoice

        self.clock = clock if clock is not None else StageClock()
        self.stride = pose.stride
        self.adaptive = pose.adaptive
        self.person = PersonChoice.parse(pose.person)  # whom to follow (a video's; a pose file has one person)
        # render.compare.DrivingPanel for --compare: then items are (index, time, pose,
        # (the frame shrunk to a panel, the pose)).
        self.panel = None
        if audio:  # a separate sound file: checked now, not at the first frame written
            from ..video.audio import AudioCopy

            AudioCopy(audio).close()
        self.path = Path(path)
        self.smoothing = smoothing
        self.start, self.end = start, end
        self.min_score = pose.min_score
        self.is_pose_file = is_pose_file(self.path)
        self._estimator = None
        if self.is_pose_file:
            from ..video import exact_rate
            from .io import read_pose_json

            self.header, self._records = read_pose_json(self.path, fps=fps)
            self.rate = exact_rate(self.header.get("fps") or fps or 25.0)
            w, h = self.header.get("width"), self.header.get("height")
            self.frame_size = (int(w), int(h)) if w and h else None
            self.frame_count = self.header.get("frame_count")
            self.backend = self.header.get("backend") or "file"
            self.presmoothed = bool(self.header.get("smoothed"))
            self.audio_path = Path(audio) if audio else None
        else:
            from ..video import VideoReader

            self.reader = VideoReader(self.path, start=start, end=end)
            info = self.reader.info
            self.rate = info.rate or Fraction(25)
            self.frame_size = (info.width, info.height)
            self.frame_count = len(self.reader)
            self.presmoothed = False
            self.audio_path = Path(audio) if audio else (self.path if info.has_audio else None)
            self._estimator = CountingEstimator(estimator or driving_estimator(pose))
            self.backend = self._estimator.name

    @property
    def audio_follows_frames(self) -> bool:
        """The sound is the driving clip's own (cut to the rendered frames' times)."""
        return self.audio_path is not None and self.audio_path == self.path

    @property
    def most_people(self) -> int:
        return self._estimator.most_people if self._estimator else 1

    def _smoother(self):
        s = self.smoothing
        if not s.enabled or self.presmoothed:
            return None
        from .smoothing import PoseSmoother

        return PoseSmoother(s.min_cutoff, s.beta, s.d_cutoff, min_score=self.min_score)

    def __iter__(self) -> Iterator[tuple[int, float, Pose]]:
        smoother = self._smoother()
        if self.is_pose_file:
            for n, (index, t, pose) in enumerate(self._records):
                t = n / float(self.rate) if t is None else t
                if self.start is not None and t < self.start - 1e-6:
                    continue
                if self.end is not None and t >= self.end - 1e-6:
                    break
                yield index, t, (smoother(pose, t) if smoother else pose)
            return
        from .tracking import SubjectTracker

        tracker = SubjectTracker(min_score=self.min_score, choice=self.person)
        clock, frames, stride = self.clock, 0, self.stride

        def estimate(frame):
            with clock.timed("pose"):
                try:
                    return tracker(self._estimator(frame.image), frame.image.shape[:2])
                except VunetError:
                    raise
                except Exception as e:  # a backend's own failure: one line, not its traceback
                    raise VunetError(self.path, f"pose estimation failed at frame {frame.index} "
                                                f"({type(e).__name__}: {e})") from None

        panel = self.panel

        def emit(index, t, pose, small=None):
            if smoother is not None:
                with clock.timed("retarget", 0):
                    pose = smoother(pose, t)
            return (index, t, pose) if panel is None else (index, t, pose, (small, pose))

        # With pose.stride N, every Nth frame is posed, and every (N+1)th while the body moves
        # slowly (pose.adaptive, _gap_after). The frames between take joints on a cubic
        # through the posed frames on either side and the next ones out (interpolate), so a
        # posed frame and the frames before it are handed on once the posed frame after it
        # is known: a look-ahead of at most two gaps' (index, time), and of one image, the
        # latest (posed when the clip ends between posed frames).
        posed: list[tuple] = []      # (time, pose, frame count) of the last posed frames, 4 at most
        held = None                  # the latest posed frame, not handed on yet: (index, time, pose, small, before)
        between: list[tuple] = []    # (index, time, small) of the frames since it
        latest = None                # the latest of those frames, image included
        gap = stride

        def release(last: bool):
            """The held posed frame's `before` frames, interpolated, then the frame itself;
            posed[-1] is the posed frame after it unless `last`."""
            index, t, pose, small, before = held
            k = len(posed) - (1 if last else 2)  # the held frame's place in `posed`
            outer = (posed[k - 2] if k >= 2 else None, None if last else posed[-1])
            for i, ft, sm in before:
                yield emit(i, ft, interpolate(posed[k - 1][:2], posed[k][:2], ft,
                                              tuple(o[:2] if o else None for o in outer)), sm)
            yield emit(index, t, pose, small)

        def arrive(frame, pose, small, before):
            nonlocal held, gap
            posed.append((frame.time, pose, frames))
            del posed[:-4]
            if held is not None:
                yield from release(last=False)
            held = (frame.index, frame.time, pose, small, before)
            gap = _gap_after(posed, stride, self.adaptive)

        with self.reader:
            decoded = iter(self.reader)
            while True:
                t, c = time.perf_counter(), time.thread_time()
                try:
                    frame = next(decoded, None)
                except (OSError, av.error.FFmpegError) as e:  # what the reader does not tolerate
                    raise VunetError(self.path, f"decoding failed after frame {frames} "
                                                f"({getattr(e, 'strerror', None) or e})") from None
                clock.add("decode", time.perf_counter() - t, int(frame is not None), time.thread_time() - c)
                if frame is None:
                    break
                frames += 1
                small = None if panel is None else panel(frame.image)  # (--compare: a small copy travels on)
                if held is not None and len(between) + 1 < gap:
                    between.append((frame.index, frame.time, small))
                    latest = frame
                    continue
                yield from arrive(frame, estimate(frame), small, between)
                between, latest = [], None
            if between:  # the clip ended between two posed frames: the last one is posed
                (*before, (_, _, small)) = between
                yield from arrive(latest, estimate(latest), small, before)
            if held is not None:
                yield from release(last=True)
        if not frames:  # said here, or the caller would report a clip with nobody in it
            raise VunetError(self.path, "no frame could be decoded in the selected range (damaged or truncated video)")

    def close(self) -> None:
        if self._estimator is not None:
            self._estimator.close()



# Posing one frame further apart (pose.adaptive) while the fastest joint seen in the last two
# posed frames moved less than this share of the person's size (the larger side of their
# joints' box) per frame. Against posing every frame, over the four dev clips' first 12 s
# without smoothing: stride 2 as 0.3.15 made it (straight lines between posed frames) posed
# 50% of the frames, its joints off by 0.38% of the person's size on average (p95 1.15%,
# p99 2.07%); with the cubic, 0.36% (1.09%, 1.93%); adaptive at 2%, 42% of the frames at
# 0.40% (1.14%, 1.98%); at 3%, 39% at 0.43% (1.23%, 2.19%). The fast dances gain least
# (49% of the unianimate clip's frames posed, 39% of musepose's, 36% of the lateral raise's;
# benchmarks/results/stage_settings.md).
SLOW_MOTION = 0.02


def _gap_after(posed: list[tuple], stride: int, adaptive: bool) -> int:
    """Frames to the next posed one after posed[-1] ((time, pose, frame count) entries):
    `stride`, plus one while the body moves slowly (see SLOW_MOTION)."""
    if not adaptive or stride < 2 or len(posed) < 2:
        return stride
    (_, a, n0), (_, b, n1) = posed[-2:]
    seen = a.visible() & b.visible()
    if seen.sum() < 4:
        return stride
    size = np.ptp(b.xy[seen], axis=0).max()
    fastest = np.hypot(*(b.xy[seen] - a.xy[seen]).T).max() / max(n1 - n0, 1)
    return stride + 1 if fastest < SLOW_MOTION * size else stride


def interpolate(before: tuple[float, Pose] | None, after: tuple[float, Pose], t: float,
                outer: tuple[tuple[float, Pose] | None, tuple[float, Pose] | None] = (None, None)) -> Pose:
    """The pose at time t between two posed frames (time, pose): joints seen in both move
    along a cubic (Hermite, with Catmull-Rom tangents) through them, bent by the posed
    frames `outer` = (the one before `before`, the one after `after`), each (time, pose) or
    None; where an outer frame is missing or did not see a joint, that end's tangent is the
    straight line between the two, and with neither, the joint moves along that line. A
    joint seen in one of the two only is taken from the nearer one when that is the one
    that saw it (else missing). Without `before`, `after`'s pose. (Straight lines between
    posed frames cut the corners of a swinging arm: the cubic took stride 2's mean joint
    error from 0.37% to 0.33% of the person's size and its p99 from 2.35% to 2.24% on the
    dev clips; see SLOW_MOTION.)"""
    if before is None:
        return after[1]
    (t0, a), (t1, b) = before, after
    w = float(np.clip((t - t0) / (t1 - t0), 0.0, 1.0)) if t1 > t0 else 1.0
    chord = b.xy - a.xy
    m0, m1 = chord.copy(), chord.copy()  # the tangents at `before` and `after`, per interval
    if outer[0] is not None and outer[0][0] < t0:  # the posed frame before `before`
        tp, p = outer[0]
        d = (b.xy - p.xy) * ((t1 - t0) / (t1 - tp))
        seen = ~np.isnan(d).any(1)
        m0[seen] = d[seen]
    if outer[1] is not None and outer[1][0] > t1:  # the one after `after`
        tn, n = outer[1]
        d = (n.xy - a.xy) * ((t1 - t0) / (tn - t0))
        seen = ~np.isnan(d).any(1)
        m1[seen] = d[seen]
    w2, w3 = w * w, w * w * w
    xy = (2 * w3 - 3 * w2 + 1) * a.xy + (w3 - 2 * w2 + w) * m0 + (3 * w2 - 2 * w3) * b.xy + (w3 - w2) * m1
    score = (1 - w) * a.score + w * b.score
    near = a if w < 0.5 else b
    one_side = np.isnan(xy).any(1)
    xy[one_side], score[one_side] = near.xy[one_side], near.score[one_side]
    return Pose(xy.astype(np.float32), score.astype(np.float32))
