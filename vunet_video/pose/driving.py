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
    A video is posed on every `pose.stride`-th frame; the frames between are interpolated.
    """

    def __init__(self, path: str | Path, pose, smoothing, start: float | None = None, end: float | None = None,
                 fps: float | None = None, audio: str | Path | None = None, estimator=None, clock=None):
        from ..stages import StageClock

        from .tracking import PersonChoice

        self.clock = clock if clock is not None else StageClock()
        self.stride = pose.stride
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

            # Its frames are only posed (the --compare panel shows them small): decoded
            # without deblocking (VideoReader), 0.25-0.7 ms less CPU per frame on the dev clips.
            self.reader = VideoReader(self.path, start=start, end=end, deblock=False)
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

        # With pose.stride N, every Nth frame is posed and the frames between take the
        # joints interpolated from the posed frames on either side: a look-ahead of at
        # most N - 1 frames' (index, time), and of one image, the latest (posed when the
        # clip ends before the next Nth frame).
        previous = None              # (time, pose) of the last posed frame
        between: list[tuple] = []    # (index, time) of the frames since, not posed
        latest = None                # the latest of those frames, image included
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
                if stride > 1 and (frames - 1) % stride:
                    between.append((frame.index, frame.time, small))
                    latest = frame
                    continue
                pose = estimate(frame)
                yield from (emit(i, ft, interpolate(previous, (frame.time, pose), ft), sm) for i, ft, sm in between)
                between, latest = [], None
                previous = (frame.time, pose)
                yield emit(frame.index, frame.time, pose, small)
            if between:  # the clip ended between two posed frames: the last one is posed
                end = (latest.time, estimate(latest))
                yield from (emit(i, ft, interpolate(previous, end, ft) if ft < end[0] else end[1], sm)
                            for i, ft, sm in between)
        if not frames:  # said here, or the caller would report a clip with nobody in it
            raise VunetError(self.path, "no frame could be decoded in the selected range (damaged or truncated video)")

    def close(self) -> None:
        if self._estimator is not None:
            self._estimator.close()



def interpolate(before: tuple[float, Pose] | None, after: tuple[float, Pose], t: float) -> Pose:
    """The pose at time t between two posed frames (time, pose): joints seen in both move
    linearly; a joint seen in one of them only is taken from the nearer one when that is
    the one that saw it (else missing). Without `before`, `after`'s pose."""
    if before is None:
        return after[1]
    (t0, a), (t1, b) = before, after
    w = float(np.clip((t - t0) / (t1 - t0), 0.0, 1.0)) if t1 > t0 else 1.0
    xy = (1 - w) * a.xy + w * b.xy
    score = (1 - w) * a.score + w * b.score
    near = a if w < 0.5 else b
    one_side = np.isnan(xy).any(1)
    xy[one_side], score[one_side] = near.xy[one_side], near.score[one_side]
    return Pose(xy.astype(np.float32), score.astype(np.float32))
