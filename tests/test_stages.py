"""The pipeline's stage plumbing (vunet_video/stages.py): Prefetch, WriteBehind, StageClock."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from conftest import make_clip
from vunet_video.pose.keypoints import Pose
from vunet_video.stages import Prefetch, StageClock, WriteBehind, profile_lines


def test_items_come_in_order_and_the_thread_ends():
    with Prefetch(iter(range(100)), size=4) as ahead:
        assert list(ahead) == list(range(100))
        assert list(ahead) == []  # stays exhausted
    assert not ahead._thread.is_alive()


def test_it_runs_ahead_by_at_most_size_items():
    produced = []

    def items():
        for i in range(50):
            produced.append(i)
            yield i

    with Prefetch(items(), size=3) as ahead:
        assert next(ahead) == 0
        time.sleep(0.3)  # the thread fills the queue, then waits
        # one taken, 3 queued, at most one more made and waiting to be put
        assert 4 <= len(produced) <= 5


def test_an_error_in_the_thread_is_raised_in_order():
    def items():
        yield 1
        yield 2
        raise ValueError("broken clip")

    with Prefetch(items(), size=8) as ahead:
        assert next(ahead) == 1 and next(ahead) == 2
        with pytest.raises(ValueError, match="broken clip"):
            next(ahead)


def test_close_stops_a_thread_that_is_still_producing():
    def endless():
        i = 0
        while True:
            yield i
            i += 1

    ahead = Prefetch(endless(), size=2)
    assert next(ahead) == 0
    ahead.close()
    assert not ahead._thread.is_alive()


# ----------------------------------------------------------------------------- WriteBehind

def test_write_behind_consumes_in_order_and_close_waits():
    got = []

    def slow(i):
        time.sleep(0.002)
        got.append(i)

    behind = WriteBehind(slow, size=3)
    for i in range(40):
        behind.put(i)
    behind.close()
    assert got == list(range(40))
    assert not behind._thread.is_alive()


def test_write_behind_error_comes_out_of_put_or_close():
    def failing(i):
        if i == 5:
            raise OSError(28, "No space left on device")

    behind = WriteBehind(failing, size=2)
    with pytest.raises(OSError, match="No space"):
        for i in range(100):
            behind.put(i)
    assert not behind._thread.is_alive()

    behind = WriteBehind(failing, size=100)
    for i in range(10):
        behind.put(i)
    with pytest.raises(OSError, match="No space"):
        behind.close()


def test_write_behind_abort_drops_the_waiting_calls():
    got = []
    behind = WriteBehind(lambda i: (time.sleep(0.05), got.append(i)), size=50)
    for i in range(20):
        behind.put(i)
    behind.abort()
    assert not behind._thread.is_alive()
    assert len(got) < 20


# ----------------------------------------------------------------------------- profile

@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="nice is per thread on Linux only")
def test_the_helper_threads_run_below_the_main_threads_priority():
    """Prefetch's and WriteBehind's threads lower their own priority (HELPER_NICENESS nice
    levels), so the main thread, which renders, gets a core whenever it can; the main
    thread's own priority is untouched."""
    from vunet_video.stages import HELPER_NICENESS

    def nice():
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    main = nice()
    with Prefetch((nice() for _ in range(3)), size=2) as ahead:
        seen = list(ahead)
    consumed = []
    behind = WriteBehind(lambda: consumed.append(nice()))
    behind.put()
    behind.close()
    expected = min(19, main + HELPER_NICENESS)
    assert seen == [expected] * 3 and consumed == [expected] and nice() == main


def test_profile_names_the_bottleneck_and_the_first_frame():
    clock = StageClock()
    clock.add("decode", 0.5, 100, 0.4)
    clock.add("pose", 1.0, 100, 0.9)
    clock.add("render", 3.0, 100, 2.8)
    clock.add("compose", 0.5, 100, 0.4)
    clock.add("encode", 2.0, 100, 1.5)
    clock.first_frame = 0.4
    summary = clock.summary(100, 4.0)
    summary["process_cpu"], summary["cores"] = 8.0, 2  # (6.0 s of it in the stage threads)
    lines = profile_lines(summary)
    text = "\n".join(lines)
    assert "bottleneck: the main thread, busy 3.50 s" in text and "biggest stage is render" in text
    assert any(line.startswith("render ") and " 3.00    2.80 " in line for line in lines)
    assert "CPU: 8.00 s in all, 25% of it in the libraries' own threads" in text and "2.00 of 2 cores" in text
    assert "first frame after 0.40 s" in text
    assert lines[-1] == "end to end: 100 frames in 4.00 s = 25.0 frames/s"


def test_stage_clock_tells_waiting_from_working():
    clock = StageClock()
    with clock.timed("encode"):
        time.sleep(0.1)  # waiting: busy, but no CPU
    with clock.timed("render"):
        start, give_up = time.thread_time(), time.perf_counter() + 10
        while time.thread_time() - start < 0.1 and time.perf_counter() < give_up:  # working
            pass
    assert clock.seconds["encode"] >= 0.1 and clock.cpu["encode"] < 0.05
    # (The two clocks are read a few microseconds apart, so a fully busy stage's CPU time can
    # pass its wall time by that much: CI saw 0.1000180 s wall against 0.1000187 s CPU.)
    assert clock.cpu["render"] >= 0.1 and clock.seconds["render"] >= clock.cpu["render"] - 1e-3
    summary = clock.summary(1, 0.2)
    assert summary["cpu"]["render"] == clock.cpu["render"] and summary["process_cpu"] >= clock.cpu["render"]


def test_the_first_batches_grow_so_the_first_frame_goes_out_early():
    """The render thread takes 1, 2, 4, ... frames before whole batches: it waited for a
    whole batch of moved frames before the first one went out."""
    from itertools import islice

    from vunet_video.pipeline import _batch_sizes

    assert list(islice(_batch_sizes(8), 6)) == [1, 2, 4, 8, 8, 8]
    assert list(islice(_batch_sizes(3), 4)) == [1, 2, 3, 3]
    assert list(islice(_batch_sizes(1), 3)) == [1, 1, 1]


# ----------------------------------------------------------------------------- pose.stride

def test_pose_stride_interpolates_between_posed_frames(shared, tmp_path):
    from vunet_video.pose.driving import DrivingSource
    from vunet_video.presets import load_settings

    clip = make_clip(shared / "data" / "dev" / "driving" / "musepose_dance.mp4", tmp_path / "c.mp4", 11, 256,
                     audio=False)
    runs = {}
    for stride in (1, 2):
        settings = load_settings("default", {"pose.stride": stride})
        source = DrivingSource(clip, settings.pose, settings.smoothing)
        try:
            runs[stride] = list(source)
        finally:
            source.close()
        assert source.clock.frames["pose"] == (11 if stride == 1 else 6)  # frames 0, 2, ... 10
        assert source.clock.frames["decode"] == 11
    one, two = runs[1], runs[2]
    assert [(i, t) for i, t, _ in one] == [(i, t) for i, t, _ in two]  # every frame, in order
    size = np.ptp(np.nan_to_num(one[0][2].xy), axis=0).max()
    for (_, _, p), (_, _, q) in zip(one, two):
        seen = p.visible() & q.visible()
        assert seen.sum() >= 10
        # interpolated joints stay within a few percent of the person's size of the posed ones
        assert np.abs(p.xy[seen] - q.xy[seen]).max() < 0.06 * size


def test_interpolate_takes_a_joint_seen_once_from_the_nearer_pose():
    from vunet_video.pose.driving import interpolate

    a = Pose(np.zeros((17, 2), np.float32), np.ones(17, np.float32))
    b = Pose(np.full((17, 2), 10.0, np.float32), np.ones(17, np.float32))
    b.xy[3], b.score[3] = np.nan, 0.0
    mid = interpolate((0.0, a), (1.0, b), 0.25)
    assert np.allclose(mid.xy[0], 2.5) and np.allclose(mid.xy[3], 0.0)  # joint 3: a's, the nearer
    late = interpolate((0.0, a), (1.0, b), 0.75)
    assert np.isnan(late.xy[3]).all() and late.score[3] == 0  # b is nearer and did not see it


# ----------------------------------------------------------------------------- a stage fails

STAGE_THREADS = ("driving poses", "mesh", "encoder")


@pytest.fixture(scope="module")
def fail_media(shared, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fail")
    return {"clip": make_clip(shared / "data" / "dev" / "driving" / "musepose_dance.mp4", folder / "dance.mp4", 16,
                              192),
            "subject": shared / "data" / "dev" / "subjects" / "deepfashion_women_blouse_00004955.jpg"}


def _fail_at(n, error):
    """A wrapper for a function that raises `error` on its n-th call."""
    calls = [0]

    def wrap(fn):
        def wrapped(*args, **kwargs):
            calls[0] += 1
            if calls[0] == n:
                raise error
            return fn(*args, **kwargs)
        return wrapped
    return wrap


def _inject(stage, monkeypatch):
    """Make `stage` fail mid-run, the way it can for real."""
    import av

    import vunet_video.pose.driving as driving
    import vunet_video.render.full_resolution as full
    import vunet_video.video.reader as reader
    import vunet_video.video.writer as writer

    if stage == "decode":  # the decoder hits a corrupt packet
        original = reader.VideoReader.__iter__
        passing = _fail_at(6, av.error.InvalidDataError(1094995529, "Invalid data found when processing input"))(
            lambda frame: frame)
        monkeypatch.setattr(reader.VideoReader, "__iter__", lambda self: (passing(f) for f in original(self)))
    elif stage == "pose":  # the pose backend raises
        make = driving.driving_estimator

        def estimator(settings):
            est = make(settings)
            broken = _fail_at(5, RuntimeError("CalculatorGraph::Run() failed"))(est)
            broken.name, broken.close = est.name, getattr(est, "close", lambda: None)
            return broken
        monkeypatch.setattr(driving, "driving_estimator", estimator)
    elif stage == "mesh":  # OpenCV runs out of memory
        monkeypatch.setattr(full.FullResolutionRenderer, "move",
                            _fail_at(7, MemoryError("Unable to allocate 3.1 MiB for an array"))(
                                full.FullResolutionRenderer.move))
    elif stage == "render":  # torch runs out of memory
        monkeypatch.setattr(full.FullResolutionRenderer, "finish",
                            _fail_at(2, RuntimeError("DefaultCPUAllocator: not enough memory"))(
                                full.FullResolutionRenderer.finish))
    elif stage == "encode":  # the disk fills up
        monkeypatch.setattr(writer.VideoWriter, "_to_frame",
                            _fail_at(6, OSError(28, "No space left on device"))(writer.VideoWriter._to_frame))


@pytest.mark.parametrize("stage", ["decode", "pose", "mesh", "render", "encode"])
def test_a_stage_failing_mid_run_stops_everything_cleanly(stage, fail_media, tiny_weights, tmp_path, monkeypatch,
                                                          capsys):
    from vunet_video.cli import main

    _inject(stage, monkeypatch)
    out = tmp_path / "out.mp4"
    code = main(["animate", str(fail_media["subject"]), str(fail_media["clip"]), "-o", str(out), "--weights",
                 str(tiny_weights), "--size", "192", "--finetune-steps", "0", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "Traceback" not in err[0]
    named = {"decode": "dance.mp4", "pose": "dance.mp4", "mesh": "dance.mp4", "render": "dance.mp4",
             "encode": "out.mp4"}[stage]
    assert named in err[0]
    assert {"decode": "Invalid data", "pose": "CalculatorGraph", "mesh": "Unable to allocate",
            "render": "not enough memory", "encode": "No space left"}[stage] in err[0]
    assert list(tmp_path.iterdir()) == []  # no output, no partial file
    time.sleep(0.2)
    assert not [t.name for t in threading.enumerate() if t.name in STAGE_THREADS]


_FAULTS_PROGRAM = """
import resource, numpy as np
from vunet_video.stages import keep_freed_memory
kept = keep_freed_memory()
a = np.ones(8 << 20, np.uint8); del a
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):  # a frame-sized buffer made and freed, as every frame does
    a = np.ones(8 << 20, np.uint8); del a
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_frame_buffers_are_reused_not_faulted_in_again():
    def run(env):
        out = subprocess.run([sys.executable, "-c", _FAULTS_PROGRAM], env={**os.environ, **env},
                             capture_output=True, text=True, check=True).stdout.split()
        return out[0] == "True", int(out[1])

    kept, faults = run({"VUNET_MALLOPT": "1"})
    left_alone, faults_default = run({"VUNET_MALLOPT": "0"})
    assert kept and not left_alone
    assert faults_default >= 100  # glibc's default: each buffer mapped afresh
    assert faults < faults_default / 10


def test_library_threads_shrink_the_pools_while_the_stages_run_and_restore_them():
    import cv2
    import torch

    from vunet_video.stages import PIPELINE_THREADS, library_threads, usable_cores

    before = torch.get_num_threads(), cv2.getNumThreads()
    expected = max(1, usable_cores() // PIPELINE_THREADS)
    # (With the model on a GPU too: the mesh, the join and the compositing run on the CPU.)
    with library_threads():
        assert (torch.get_num_threads(), cv2.getNumThreads()) == (expected, expected)
    assert (torch.get_num_threads(), cv2.getNumThreads()) == before
    with pytest.raises(RuntimeError):  # restored when the run fails too
        with library_threads():
            raise RuntimeError("a stage failed")
    assert (torch.get_num_threads(), cv2.getNumThreads()) == before
