"""How `animate`'s stages run at once: four threads joined by bounded queues.

    driving thread   decode -> pose -> smoothing + retarget        (Prefetch)
    mesh thread      the photo's pixels moved onto each target      (Prefetch)
    main thread      render (VUNet decoder + join) -> compose -> on_frame
    encoder thread   encode + mux                                   (WriteBehind)

Run one after another, the stages' costs add up; run side by side, the slowest one sets
the pace. Threads, not processes, because the work in every stage is done by libraries
that release the GIL while they compute (torch, OpenCV, onnxruntime, MediaPipe's graph,
FFmpeg's decoder and x264), so two cores are kept busy without copying frames between
processes (measured: benchmarks/results/pipeline.md).

The queues are bounded, so memory stays flat however long the clip. Items keep their
order. An exception in a thread comes out in the main thread (at the consumer's next()
for Prefetch, at the next put() or at close() for WriteBehind), and closing either one
stops its thread and waits for it: no thread outlives the run that started it.

The helper threads run at a lower scheduling priority than the main one
(`lower_this_thread`): they run ahead or behind, so only the main thread's work holds the
frames up.

`StageClock` keeps each stage's busy time, for `animate --profile` and the benchmark.
`keep_freed_memory` stops glibc handing every frame's large buffers back to the kernel;
`library_threads` keeps torch's and OpenCV's own thread pools small while the stages run.
"""

from __future__ import annotations

import ctypes
import os
import queue
import sys
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")

# glibc's mallopt parameters (malloc.h) and the values keep_freed_memory sets.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_MMAP_THRESHOLD = 32 << 20  # glibc's largest (HEAP_MAX_SIZE / 2 on 64-bit): every frame-sized buffer
_TOP_PAD = 256 << 20
_TRIM_THRESHOLD = 1 << 30
_kept = None

_DONE = object()

# How much lower than the main thread's the helper threads' priority is (Linux nice levels,
# per thread there). With four threads on two cores the scheduler shared the cores evenly,
# and the main thread (decoder, join, compositing) waited for one a third of its render
# time while the others filled their queues ahead; at nice +10 it runs whenever it can and
# the helpers take the rest. Whole dev clips at 1280 px on the 2-core dev machine, runs
# interleaved: rooftop dance 21.9 / 21.9 -> 22.2 / 23.8 frames/s, musepose 21.6 / 22.2 ->
# 22.6 / 22.6, sports2d 25.8 / 26.0 -> 26.9 / 27.0.
HELPER_NICENESS = 10


def lower_this_thread(by: int = HELPER_NICENESS) -> None:
    """Lower the calling thread's scheduling priority by `by` nice levels (at most to 19;
    the threads a library starts from it inherit it). Linux only, where nice is per
    thread; elsewhere, or when refused, nothing."""
    if not sys.platform.startswith("linux") or by <= 0:
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + by))
    except OSError:
        pass


class Prefetch(Iterator[T]):
    """`items` iterated ahead in a thread of its own, at most `size` items ahead."""

    def __init__(self, items: Iterable[T], size: int = 8, name: str = "prefetch"):
        self._items = items
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, size))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        """Put unless stopped (checked while the queue is full); False when stopped."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        lower_this_thread()
        try:
            for item in self._items:
                if not self._put((item, None)):
                    return
        except BaseException as e:  # handed to the consumer, raised there
            self._put((_DONE, e))
            return
        self._put((_DONE, None))

    def __next__(self) -> T:
        item, error = self._queue.get()
        if item is _DONE:
            self._queue.put((_DONE, error))  # stays done
            if error is not None:
                raise error
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop the thread (it finishes the item it is working on) and wait for it."""
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> "Prefetch[T]":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class WriteBehind:
    """`consume(*args)` called in a thread of its own for every `put(*args)`, in order, with
    at most `size` calls waiting.

    The first exception `consume` raises stops the thread; it is raised again by the next
    put() or by close(). close() waits until everything put has been consumed; abort()
    drops what is still waiting and waits only for the call in progress.
    """

    def __init__(self, consume: Callable[..., None], size: int = 8, name: str = "write-behind"):
        self._consume = consume
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, size))
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        lower_this_thread()
        while True:
            args = self._queue.get()
            if args is _DONE or self._stop.is_set():
                return
            try:
                self._consume(*args)
            except BaseException as e:  # raised in the main thread
                self._error = e
                self._stop.set()
                return

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def put(self, *args) -> None:
        """Hand one call to the thread (waits while `size` are waiting already)."""
        while True:
            self._raise()
            if self._stop.is_set():
                raise RuntimeError("WriteBehind.put() after close() or abort()")
            try:
                self._queue.put(args, timeout=0.1)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Wait for every call put so far; raises the thread's exception, if any."""
        if self._thread.is_alive():
            while True:  # the thread may have stopped on an error with the queue full
                try:
                    self._queue.put(_DONE, timeout=0.1)
                    break
                except queue.Full:
                    if not self._thread.is_alive():
                        break
            self._thread.join()
        self._stop.set()
        self._raise()

    def abort(self) -> None:
        """Drop the waiting calls and wait for the one in progress (no exception)."""
        self._stop.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        try:
            self._queue.put_nowait(_DONE)
        except queue.Full:
            pass
        self._thread.join()
        self._error = None


# The pipeline's own threads (driving, mesh, main, encoder): on a small machine they keep
# the cores busy by themselves.
PIPELINE_THREADS = 4


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # (not on macOS or Windows)
        return os.cpu_count() or 1


@contextmanager
def library_threads(threads: tuple[int, int] | None = None):
    """torch's and OpenCV's intra-op thread counts at usable cores // PIPELINE_THREADS (at
    least 1) while the stages run, as they were afterwards. threads: (torch, OpenCV) counts
    to use instead (benchmarks/stage_settings.py compares them). With the model on a GPU the
    mesh, the join and the compositing still run on the CPU, in the same threads, and the
    same counts hold: on a lent H200 with 16 cores, left at 16 each they made the process
    burn 289-314 ms of CPU per frame against 203-204 at 4, at level frames/s (sports2d
    21.2 / 22.0 against 21.7, musepose 19.8 / 20.3 against 20.9; first 4 s, interleaved).

    Both default to a thread per core. With four pipeline threads sharing two cores, their
    pool workers mostly spun waiting for work: one each burnt about 9 ms of CPU per frame.
    At one thread each, on the 2-core dev machine, in interleaved runs: frames/s +3 to +7%
    (musepose_dance 26.6 -> 28.0, kaiakol 28.6 -> 30.7, unianimate 26.2 -> 26.9) and CPU
    per run -10%; the table in benchmarks/results/stage_settings.md. The subject's
    fine-tune, before the stages start, keeps the full count."""
    import cv2
    import torch

    before = torch.get_num_threads(), cv2.getNumThreads()
    n = max(1, usable_cores() // PIPELINE_THREADS)
    torch_threads, cv_threads = threads or (n, n)
    torch.set_num_threads(torch_threads)
    cv2.setNumThreads(cv_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])


def keep_freed_memory() -> bool:
    """Have glibc keep freed memory for reuse, once per process; True when set.

    Every frame allocates and frees tens of megabytes of full-resolution arrays (the moved
    mesh, the join, the composite, the encoder's YUV frame). By default glibc serves
    buffers over its (adaptive) threshold with mmap and returns them to the kernel when
    freed, so the next frame's buffers fault in fresh zeroed pages: 750k page faults in
    one 288-frame run. Served from a heap that is padded and not trimmed, they are
    reused: 210k faults, 3-6% less CPU and 5-9% more frames/s end to end on the 2-core dev
    machine (interleaved runs on musepose_dance, 0.3.5). The cost: the process keeps its
    peak heap (resident memory +6% in that run; it does not grow with the clip's length).

    glibc only (Linux); elsewhere nothing is done. VUNET_MALLOPT=0 leaves malloc alone.
    """
    global _kept
    if _kept is None:
        _kept = False
        if sys.platform.startswith("linux") and os.environ.get("VUNET_MALLOPT", "1") != "0":
            try:
                mallopt = ctypes.CDLL(None).mallopt
            except (OSError, AttributeError):  # not glibc (musl has no mallopt)
                return False
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            _kept = all(mallopt(p, v) == 1 for p, v in ((_M_MMAP_THRESHOLD, _MMAP_THRESHOLD),
                                                         (_M_TOP_PAD, _TOP_PAD),
                                                         (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)))
    return _kept


class StageClock:
    """Busy seconds, CPU seconds and frame counts per stage, and the time the first frame
    was ready.

    Each stage is timed only by the thread that runs it: `seconds` is wall time while the
    stage worked (waiting for a core included), `cpu` the CPU time of that thread meanwhile
    (time.thread_time). Work the libraries do in threads of their own (x264's encoder
    threads, MediaPipe's graph, FFmpeg's decoder threads, torch's pool) is in neither; the
    summary gives it as the process's CPU time beyond the stage threads'. `since` is the
    run's start.
    """

    def __init__(self):
        self.since = time.perf_counter()
        self.since_cpu = time.process_time()
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.frames: dict[str, int] = defaultdict(int)
        self.first_frame: float | None = None  # seconds from `since` to the first frame handed to the encoder

    @contextmanager
    def timed(self, stage: str, frames: int = 1):
        t, c = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - t, frames, time.thread_time() - c)

    def add(self, stage: str, seconds: float, frames: int = 1, cpu: float = 0.0) -> None:
        self.seconds[stage] += seconds
        self.cpu[stage] += cpu
        self.frames[stage] += frames

    def mark_first_frame(self) -> None:
        if self.first_frame is None:
            self.first_frame = time.perf_counter() - self.since

    # -- the report

    def summary(self, frames: int, wall: float) -> dict:
        """The figures `profile_lines` prints, as plain numbers (AnimationResult.profile)."""
        stages = [stage for stage in STAGES if stage in self.seconds]
        return {"frames": frames, "wall": wall, "first_frame": self.first_frame,
                "stages": {stage: self.seconds[stage] for stage in stages},
                "cpu": {stage: self.cpu.get(stage, 0.0) for stage in stages},
                "process_cpu": time.process_time() - self.since_cpu, "cores": usable_cores()}


# The stages in pipeline order, with what each covers, and the thread each runs in.
STAGES = {
    "subject": ("subject encoding and fine-tune (once per run)", "main"),
    "decode": ("decoding the driving video", "driving"),
    "pose": ("pose estimation + subject tracking", "driving"),
    "retarget": ("smoothing + retargeting", "driving"),
    "mesh": ("the photo's pixels moved onto the target (body mesh)", "mesh"),
    "render": ("VUNet decoder + join", "main"),
    "compose": ("compositing over the background", "main"),
    "encode": ("encoding + muxing (with the flush at the end)", "encoder"),
}


def library_cpu(summary: dict) -> float:
    """CPU seconds of a run (StageClock.summary) spent outside the stage threads: in the
    libraries' own threads (x264, MediaPipe's graph, FFmpeg's decoder, torch's pool)."""
    return max(0.0, summary["process_cpu"] - sum(summary.get("cpu", {}).values()))


def profile_lines(summary: dict) -> list[str]:
    """Where a run's time went: per stage busy time, CPU time and rate, per thread load, the
    bottleneck, the CPU the libraries' own threads took, time to the first frame and the
    end-to-end rate."""
    frames, wall, stages = summary["frames"], summary["wall"], summary["stages"]
    cpu = summary.get("cpu", {})
    lines = [f"{'stage':<10} {'thread':<8} {'busy s':>7} {'cpu s':>7} {'frames/s':>9} {'of wall':>8}  what"]
    busy: dict[str, float] = defaultdict(float)
    for stage, seconds in stages.items():
        what, thread = STAGES[stage]
        rate = f"{frames / seconds:9.1f}" if seconds > 0 and stage != "subject" else f"{'':9}"
        lines.append(f"{stage:<10} {thread:<8} {seconds:7.2f} {cpu.get(stage, 0.0):7.2f} {rate} "
                     f"{100 * seconds / max(wall, 1e-9):7.0f}%  {what}")
        if stage != "subject":
            busy[thread] += seconds
    if busy:
        thread, seconds = max(busy.items(), key=lambda kv: kv[1])
        top = max((s for s in stages if STAGES[s][1] == thread and s != "subject"), key=stages.get)
        lines.append(f"bottleneck: the {thread} thread, busy {seconds:.2f} s of the {wall:.2f} s run "
                     f"({100 * seconds / max(wall, 1e-9):.0f}%); its biggest stage is {top}")
    if "process_cpu" in summary:
        # Busy time counts waiting for a core too; CPU time says what each stage cost.
        total = summary["process_cpu"]
        others = library_cpu(summary)
        lines.append(f"CPU: {total:.2f} s in all, {100 * others / max(total, 1e-9):.0f}% of it in the libraries' "
                     f"own threads (x264, MediaPipe, FFmpeg, torch); {total / max(wall, 1e-9):.2f} of "
                     f"{summary['cores']} cores in use")
    first = summary.get("first_frame")
    if first is not None:
        lines.append(f"first frame after {first:.2f} s" + (f" (of which subject encoding {stages['subject']:.2f} s)"
                                                           if "subject" in stages else ""))
    line = f"end to end: {frames} frames in {wall:.2f} s = {frames / max(wall, 1e-9):.1f} frames/s"
    if stages.get("subject"):  # the one-off subject encoding (and fine-tune) is most of a short run
        line += f" ({frames / max(wall - stages['subject'], 1e-9):.1f} frames/s after the subject encoding)"
    lines.append(line)
    return lines
