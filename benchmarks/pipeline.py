"""Benchmark `animate` end to end: frames/s, per-stage throughput, and peak memory.

    python benchmarks/pipeline.py [--video PATH ...] [--frames N] [--subject PHOTO] [--out FILE]

Default settings (vunet_video/presets/default.toml) with the shipped model (weights/vunet_128.safetensors;
when it is missing, a randomly initialised VUNetConfig(base_channels=16) stands in and the
report says so: the network's cost depends on its shape, not on its training). Each run is
a fresh subprocess, so its peak RSS (getrusage ru_maxrss) is its own:

* the driving clip (first N frames with --frames), rendered with `Animator.animate`, the
  real pipeline in one streaming pass. Its stages are timed by wrapping the building
  blocks it calls (video reader, pose estimator + tracker, One Euro smoother, retargeter,
  Synthesizer.render or, for render.detail "photo", FullResolutionRenderer.render, temporal
  filter + compositor, video writer) with stopwatches;
  pipeline.py itself is unchanged. The run checks that every stage saw every frame, so a
  change inside the pipeline that bypasses a wrapper is an error here, not a silent zero.
* the same clip looped 10 times (re-encoded into a temp file with the project's own
  reader and writer, sound dropped): RSS sampled during the run and the peak show that
  memory does not grow with the clip's length.

Nothing is asserted about speed; the results go to benchmarks/results/pipeline.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ["VUNET_SHARED"]) if os.environ.get("VUNET_SHARED") else REPO.parent / "shared"
DEFAULT_VIDEO = SHARED / "data" / "dev" / "driving" / "unianimate_source_video.mp4"
DEFAULT_SUBJECT = SHARED / "data" / "dev" / "subjects" / "deepfashion_women_blouse_00004955.jpg"
LOOPS = 10

# (key, label) in pipeline order
STAGES = [
    ("decode", "decode (video reader)"),
    ("pose", "pose (estimator + subject tracker)"),
    ("smooth_retarget", "smoothing + retarget"),
    ("render", "render (stickman + VUNet decoder; photo path: + body mesh and join)"),
    ("compose", "compose (temporal filter + compositing)"),
    ("encode", "encode (H.264 + mux)"),
]


# ----------------------------------------------------------------------------- child: one run

class Stopwatch:
    """Seconds and item counts per stage."""

    def __init__(self):
        self.seconds = defaultdict(float)
        self.items = defaultdict(int)

    def add(self, stage: str, since: float, items: int = 1) -> None:
        self.seconds[stage] += time.perf_counter() - since
        self.items[stage] += items


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _instrument(animator, watch: Stopwatch, subject) -> None:
    """Wrap the building blocks `Animator.animate` calls with stopwatches. The pipeline
    imports them from their modules at call time, so replacing the module attributes
    (in this throwaway process) reaches them."""
    import vunet_video.pose.driving as driving_mod
    import vunet_video.pose.smoothing as smoothing_mod
    import vunet_video.pose.tracking as tracking_mod
    import vunet_video.render.compose as compose_mod
    import vunet_video.render.retarget as retarget_mod
    import vunet_video.video as video_pkg
    import vunet_video.video.writer as writer_mod

    class TimedReader(video_pkg.VideoReader):
        def __iter__(self):
            frames = super().__iter__()
            while True:
                t = time.perf_counter()
                try:
                    frame = next(frames)
                except StopIteration:
                    watch.add("decode", t, 0)
                    return
                watch.add("decode", t)
                yield frame

    class TimedEstimator:
        def __init__(self, estimator):
            self.estimator, self.name = estimator, estimator.name

        def __call__(self, image):
            t = time.perf_counter()
            people = self.estimator(image)
            watch.add("pose", t)
            return people

        def close(self):
            getattr(self.estimator, "close", lambda: None)()

    driving_estimator = driving_mod.driving_estimator
    driving_mod.driving_estimator = lambda pose: TimedEstimator(driving_estimator(pose))

    def timed_calls(cls, stage: str, count: bool = True):
        class Timed(cls):
            def __init__(self, *args, **kwargs):
                t = time.perf_counter()
                super().__init__(*args, **kwargs)
                watch.add(stage, t, 0)

            def __call__(self, *args, **kwargs):
                t = time.perf_counter()
                out = super().__call__(*args, **kwargs)
                watch.add(stage, t, int(count))
                return out
        Timed.__name__ = cls.__name__
        return Timed

    # The tracker's time goes with the estimator's (both are "pose"); counted once per frame
    # by the estimator.
    tracking_mod.SubjectTracker = timed_calls(tracking_mod.SubjectTracker, "pose", count=False)
    smoothing_mod.PoseSmoother = timed_calls(smoothing_mod.PoseSmoother, "smooth")
    retarget_mod.Retargeter = timed_calls(retarget_mod.Retargeter, "retarget")
    retarget_mod.FrameFit = timed_calls(retarget_mod.FrameFit, "retarget")
    compose_mod.TemporalFilter = timed_calls(compose_mod.TemporalFilter, "compose", count=False)

    class TimedCompositor(compose_mod.Compositor):
        """A frame is composited by __call__ (the 128 px path, which calls paste itself) or
        by paste alone (the photo path): each frame counted once."""
        inside = False

        def __call__(self, *args, **kwargs):
            t = time.perf_counter()
            self.inside = True
            try:
                return super().__call__(*args, **kwargs)
            finally:
                self.inside = False
                watch.add("compose", t)

        def paste(self, *args, **kwargs):
            if self.inside:
                return super().paste(*args, **kwargs)
            t = time.perf_counter()
            out = super().paste(*args, **kwargs)
            watch.add("compose", t)
            return out

    compose_mod.Compositor = TimedCompositor

    # render.detail "photo": the mesh, the decoder and the join of the two, per batch.
    import vunet_video.render.full_resolution as full_mod

    class TimedFullResolution(full_mod.FullResolutionRenderer):
        def render(self, targets, *args, **kwargs):
            t = time.perf_counter()
            out = super().render(targets, *args, **kwargs)
            watch.add("render", t, len(targets))
            return out

    full_mod.FullResolutionRenderer = TimedFullResolution

    class TimedWriter(writer_mod.VideoWriter):
        def write(self, image):
            t = time.perf_counter()
            super().write(image)
            watch.add("encode", t)

        def close(self):
            t = time.perf_counter()
            super().close()  # flushes the frames x264 holds for its look-ahead
            watch.add("encode", t, 0)

    video_pkg.VideoReader = TimedReader
    writer_mod.VideoWriter = TimedWriter

    # The subject's own Synthesizer renders (the fine-tuned copy, or the Animator's).
    synth = subject.synth or animator.synth
    render = synth.render

    def timed_render(latents, poses, *args, **kwargs):
        t = time.perf_counter()
        out = render(latents, poses, *args, **kwargs)
        watch.add("render", t, len(poses))
        return out

    synth.render = timed_render


def run_child(spec: dict) -> dict:
    """One measured `animate` run (in its own process); returns the figures as a dict."""
    import torch

    from vunet_video.pipeline import Animator
    from vunet_video.video import probe

    # A cache of its own, empty: the one-off fine-tune is measured, not read from the
    # user's cache of tuned weights.
    os.environ["VUNET_CACHE_DIR"] = tempfile.mkdtemp(prefix="vunet-bench-cache-")
    t = time.perf_counter()
    animator = Animator(spec["weights"])  # preset "default"
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    subject = animator.encode_subject(spec["subject"])
    encode_s = time.perf_counter() - t

    watch = Stopwatch()
    _instrument(animator, watch, subject)
    info = probe(spec["video"])
    end = spec["frames"] / info.fps if spec["frames"] else None
    rss = []

    def on_frame(index, time_s, rgba):
        rss.append(_rss_bytes())

    with tempfile.TemporaryDirectory() as tmp:
        result = animator.animate(subject, spec["video"], Path(tmp) / "out.mp4", end=end, on_frame=on_frame)
    frames = result.frames
    # Every stage sees every frame once, except the retargeter, which skips frames without
    # a usable person (they hold the last pose).
    seen = {"decode": watch.items["decode"], "pose": watch.items["pose"], "render": watch.items["render"],
            "compose": watch.items["compose"], "encode": watch.items["encode"],
            "smooth": watch.items["smooth"] if animator.settings.smoothing.enabled else frames}
    missed = {k: v for k, v in seen.items() if v != frames}
    if watch.items["retarget"] + result.held_frames < frames:  # a frame can be retargeted, then held
        missed["retarget"] = watch.items["retarget"]
    if missed:
        raise SystemExit(f"instrumentation saw {missed} of {frames} frames: the pipeline's internals changed; "
                         "update benchmarks/pipeline.py")
    shutil.rmtree(os.environ["VUNET_CACHE_DIR"], ignore_errors=True)
    stages = {k: watch.seconds[k] for k in ("decode", "pose", "render", "compose", "encode")}
    stages["smooth_retarget"] = watch.seconds["smooth"] + watch.seconds["retarget"]
    return {
        "frames": frames, "size": list(result.frame_size), "fps": result.fps, "held": result.held_frames,
        "animate_s": result.seconds, "load_s": load_s, "encode_subject_s": encode_s, "stages": stages,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,  # kB on Linux
        "rss_samples": [rss[min(len(rss) - 1, max(0, math.ceil(q * len(rss)) - 1))] for q in (0.1, 0.5, 1.0)],
        "backend": animator.settings.pose.backend, "device": str(animator.synth.device),
        "torch_threads": torch.get_num_threads(), "batch_size": animator.settings.render.batch_size,
    }


# ----------------------------------------------------------------------------- parent

def _measure(spec: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"benchmark run failed ({spec['video']}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _looped(video: Path, frames: int, loops: int, folder: Path) -> Path:
    """The clip's first `frames` frames (0 = all) `loops` times over, re-encoded (no sound)."""
    from vunet_video.video import VideoReader, VideoWriter

    reader = VideoReader(video)
    end = frames / reader.info.fps if frames else None
    out = folder / f"{video.stem}_x{loops}.mp4"
    writer = VideoWriter(out, reader.info.rate, crf=18, preset="veryfast")
    try:
        for _ in range(loops):
            with VideoReader(video, end=end) as part:
                for frame in part:
                    writer.write(frame.image)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return out


def _weights(folder: Path) -> tuple[str, str]:
    """(checkpoint path, description): the shipped weights, or a random stand-in."""
    from vunet_video.model.io import DEFAULT_WEIGHTS

    if DEFAULT_WEIGHTS.is_file():
        from vunet_video.model.io import load_model

        cfg = load_model(DEFAULT_WEIGHTS).cfg
        return str(DEFAULT_WEIGHTS), f"shipped weights `{DEFAULT_WEIGHTS.relative_to(REPO)}` ({cfg})"
    import torch

    from vunet_video.model.io import save_weights
    from vunet_video.model.vunet import VUNet, VUNetConfig

    torch.manual_seed(0)
    cfg = VUNetConfig(base_channels=16)
    path = folder / "random.safetensors"
    save_weights(VUNet(cfg), path)
    return str(path), (f"**randomly initialised** {cfg} (the shipped weights "
                       f"`{DEFAULT_WEIGHTS.relative_to(REPO)}` were not there yet; speed and memory depend "
                       "on the network's shape, not its training)")


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _machine() -> list[str]:
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU run)"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
            f"- CPU: {_cpu_model()}, {cores} cores usable ({os.cpu_count()} logical), {mem:.0f} GiB RAM; GPU: {gpu}",
            f"- Python {platform.python_version()}, torch {torch.__version__}, {platform.system()} {platform.release()}",
            f"- load average at start (1, 5, 15 min): {load} (other work on the machine slows every figure)"]


def _mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"


def _report(runs: list[tuple[Path, dict, dict]], weights_note: str, subject: Path, frames_arg: int) -> str:
    first = runs[0][1]
    lines = ["# Pipeline benchmark: `animate` at the default settings", "",
             "Made by `python benchmarks/pipeline.py" + (f" --frames {frames_arg}" if frames_arg else "") + "`.", ""]
    lines += _machine()
    lines += [f"- model: {weights_note}",
              f"- settings: vunet_video/presets/default.toml (pose backend {first['backend']}, model device {first['device']}, "
              f"decoder batch {first['batch_size']}, torch threads {first['torch_threads']})",
              f"- subject: `{subject.name}`; output at the photo's size, {first['size'][0]}x{first['size'][1]}", ""]
    for video, short, long in runs:
        n = short["frames"]
        total = short["animate_s"]
        lines += [f"## {video.name}: {n} frames", "",
                  f"End to end (`Animator.animate`, decode to finished MP4): **{n / total:.2f} frames/s** "
                  f"({total:.1f} s for {n} frames at {short['fps']:g} fps, i.e. {total / (n / short['fps']):.1f}x "
                  f"the clip's duration). One-offs: model load {short['load_s']:.1f} s, subject encoding "
                  f"with its fine-tune {short['encode_subject_s']:.1f} s.", "",
                  "Per stage, timed inside that same streaming pass (each stage's own time; frames/s = frames / "
                  "that time, i.e. the rate the stage alone would sustain):", "",
                  "| stage | seconds | frames/s | share of the run |", "| --- | ---: | ---: | ---: |"]
        timed = 0.0
        for key, label in STAGES:
            s = short["stages"][key]
            timed += s
            lines.append(f"| {label} | {s:.2f} | {n / s if s > 0 else float('inf'):.1f} | {100 * s / total:.0f}% |")
        other = total - timed
        if other >= 0:
            lines.append(f"| other (batching, person boxes, checks, opening the input) | {other:.2f} | | "
                         f"{100 * other / total:.0f}% |")
        else:  # the driving side (decode, pose, smoothing, retarget) runs in a thread of its own
            lines.append(f"| overlap: stage time beyond the wall time (decode and pose run in a thread beside "
                         f"render, compose and encode) | {other:.2f} | | {100 * other / total:.0f}% |")
        lines += [f"| **end to end** | {total:.2f} | {n / total:.2f} | 100% |", ""]
        if short["held"]:
            lines += [f"{short['held']} frame(s) had no usable driving person and held the last pose.", ""]
        lines += ["Memory (peak RSS of a fresh process per run, `ru_maxrss`; RSS sampled while frames are "
                  "written, at 10%, 50% and 100% of the run):", "",
                  "| run | frames | end-to-end frames/s | RSS at 10% | at 50% | at 100% | peak RSS |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for name, r in (("the clip", short), (f"the clip looped {LOOPS}x", long)):
            a, b, c = r["rss_samples"]
            lines.append(f"| {name} | {r['frames']} | {r['frames'] / r['animate_s']:.2f} | {_mib(a)} | {_mib(b)} | "
                         f"{_mib(c)} | {_mib(r['peak_rss'])} |")
        growth = long["peak_rss"] - short["peak_rss"]
        lines += ["", f"Peak RSS for {LOOPS}x the frames: {'+' if growth >= 0 else ''}{_mib(growth)} "
                  f"({100 * growth / short['peak_rss']:+.1f}%): memory does not grow with the clip's length "
                  "when this stays within a few percent.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--video", type=Path, action="append", help="driving video (repeatable); default: the "
                    "unianimate dev clip")
    ap.add_argument("--frames", type=int, default=0, help="use the first N frames (0 = all)")
    ap.add_argument("--subject", type=Path, default=DEFAULT_SUBJECT, help="subject photo")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "pipeline.md")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_child(json.loads(args.child))))
        return
    videos = args.video or [DEFAULT_VIDEO]
    for path in videos + [args.subject]:
        if not path.is_file():
            sys.exit(f"{path}: no such file")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        weights, note = _weights(Path(tmp))
        for video in videos:
            spec = {"weights": weights, "subject": str(args.subject), "video": str(video), "frames": args.frames}
            print(f"{video.name}: measuring {args.frames or 'all'} frames ...", file=sys.stderr)
            short = _measure(spec)
            print(f"{video.name}: {short['frames'] / short['animate_s']:.2f} frames/s; making the {LOOPS}x clip ...",
                  file=sys.stderr)
            looped = _looped(video, args.frames, LOOPS, Path(tmp))
            long = _measure(spec | {"video": str(looped), "frames": 0})
            runs.append((video, short, long))
    text = _report(runs, note, args.subject, args.frames)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
