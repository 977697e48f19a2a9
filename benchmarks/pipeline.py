"""Benchmark `animate` end to end: frames/s, per-stage busy time, the I/O floor, first frame, memory.

    python benchmarks/pipeline.py [--video PATH ...] [--seconds S] [--subject PHOTO] [--size 1280] [--repeats 2]
                                  [--device auto|cpu|cuda] [--set KEY=VALUE ...] [--quick] [--out FILE]

The default preset with the shipped model, the output at a 1280 px longer side (the 720p
class), on each of the four dev driving clips (`../shared/data/dev/driving/`). Every run
is a fresh subprocess, so its peak RSS (getrusage ru_maxrss) is its own. Per clip:

* end to end: `Animator.animate` writing an .mp4 (decode, pose, render, compose, encode,
  sound), with the pipeline's own per-stage busy times (`AnimationResult.profile`, the
  figures `animate --profile` prints) and its time to the first frame. The subject is
  encoded (and its fine-tune read from a warm cache) before the timing starts;
* the same with the settings the default preset had before this benchmark's issue
  (fp32 decoder, the pose on every frame, x264 "medium"), in the same code: what the
  settings alone buy;
* the I/O floor: decoding the clip and encoding the same frames at the output size with the
  default H.264 settings, nothing else (decode in a thread beside the encoder, as the
  pipeline does).

The `fast` and `quality` presets on every clip, at their own sizes. Once, with the first
clip: time to the first frame from the photo, with the fine-tune
computed (an empty cache) and read from the cache; and memory: the clip looped 10 times
(re-encoded into a temp file, sound dropped), RSS sampled every 20 ms by a thread.

Nothing is asserted about speed; the results go to benchmarks/results/pipeline.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ["VUNET_SHARED"]) if os.environ.get("VUNET_SHARED") else REPO.parent / "shared"
DRIVING = sorted((SHARED / "data" / "dev" / "driving").glob("*.mp4"))
DEFAULT_SUBJECT = SHARED / "data" / "dev" / "subjects" / "deepfashion_women_blouse_00004955.jpg"
LOOPS = 10
# The default preset's settings before issue 11, for the "settings before" row.
BEFORE = {"model.precision": "fp32", "model.runtime": "torch", "pose.stride": 1, "output.x264_preset": "medium"}


# ----------------------------------------------------------------------------- child: one run

def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_animate(spec: dict) -> dict:
    """One `animate` run (in its own process): figures as a dict."""
    from vunet_video.pipeline import Animator
    from vunet_video.stages import PIPELINE_THREADS, usable_cores

    os.environ["VUNET_CACHE_DIR"] = spec["cache"]
    preset = spec.get("preset", "default")
    # The default preset at the benchmark's size; another preset at its own.
    overrides = {**({"render.size": spec["size"]} if preset == "default" else {}),
                 **({"model.device": spec["device"]} if spec.get("device") else {}), **spec.get("set", {}),
                 **spec.get("overrides", {})}
    t = time.perf_counter()
    animator = Animator(spec["weights"], preset, **overrides)
    load_s = time.perf_counter() - t
    subject = spec["subject"]
    if not spec.get("photo_in_run"):  # the subject ready before the timing (the usual case: a cached tune)
        subject = animator.encode_subject(subject)
    # RSS sampled by a thread of its own, not from an on_frame callback: with one, animate
    # keeps the person's matte as the frames' alpha, which a plain video run does not.
    rss, done = [], threading.Event()

    def sample():
        while not done.wait(0.02):
            rss.append(_rss_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    end = spec["seconds"] or None
    with tempfile.TemporaryDirectory() as tmp:
        sampler.start()
        try:
            result = animator.animate(subject, spec["video"], Path(tmp) / "out.mp4", end=end)
        finally:
            done.set()
            sampler.join()
    rss = rss or [_rss_bytes()]
    return {
        "frames": result.frames, "size": list(result.frame_size), "fps": result.fps, "held": result.held_frames,
        "animate_s": result.seconds, "load_s": load_s, "profile": result.profile,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,  # kB on Linux
        "rss_samples": [rss[min(len(rss) - 1, max(0, math.ceil(q * len(rss)) - 1))] for q in (0.1, 0.5, 1.0)],
        "device": str(animator.synth.device), "bf16": animator.synth.bf16, "onnx": animator.synth.onnx,
        "int8": animator.synth.int8,
        "torch_threads": max(1, usable_cores() // PIPELINE_THREADS),
        "settings": {k: getattr(getattr(animator.settings, k.split(".")[0]), k.split(".")[1])
                     for k in ("pose.backend", "pose.stride", "model.precision", "output.x264_preset", "output.crf",
                               "model.runtime", "render.batch_size", "model.finetune_steps")},
    }


def run_floor(spec: dict) -> dict:
    """Decode the clip and encode its frames at the output size with the default H.264
    settings, nothing else; frames/s."""
    import cv2

    from vunet_video.presets import load_settings
    from vunet_video.stages import Prefetch
    from vunet_video.video import VideoReader, VideoWriter

    out = load_settings("default", {}).output
    w, h = spec["out_size"]
    t = time.perf_counter()
    frames = 0
    with tempfile.TemporaryDirectory() as tmp, VideoReader(spec["video"], end=spec["seconds"] or None) as reader:
        writer = VideoWriter(Path(tmp) / "floor.mp4", reader.info.rate, crf=out.crf, preset=out.x264_preset)
        with Prefetch(iter(reader), 8, "decode") as decoded:
            for frame in decoded:
                writer.write(cv2.resize(frame.image, (w, h), interpolation=cv2.INTER_LINEAR))
                frames += 1
        writer.close()
    seconds = time.perf_counter() - t
    return {"frames": frames, "seconds": seconds}


# ----------------------------------------------------------------------------- parent

def _measure(spec: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"benchmark run failed ({spec['video']}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _looped(video: Path, seconds: float, loops: int, folder: Path) -> Path:
    """The clip's first `seconds` (0 = all) `loops` times over, re-encoded (no sound)."""
    from vunet_video.video import VideoReader, VideoWriter

    reader = VideoReader(video)
    out = folder / f"{video.stem}_x{loops}.mp4"
    writer = VideoWriter(out, reader.info.rate, crf=18, preset="veryfast")
    try:
        for _ in range(loops):
            with VideoReader(video, end=seconds or None) as part:
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
    from vunet_video.model.io import native_bf16

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU run)"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
            f"- CPU: {_cpu_model()} ({'native' if native_bf16('cpu') else 'no native'} bf16), {cores} cores usable ({os.cpu_count()} logical), {mem:.0f} GiB RAM; GPU: {gpu}",
            f"- Python {platform.python_version()}, torch {torch.__version__}, {platform.system()} {platform.release()}",
            f"- load average at start (1, 5, 15 min): {load} (other work on the machine slows every figure)"]


def _mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"


def _rate(run: dict) -> float:
    return run["frames"] / run["animate_s"]


def _cpu_ms(run: dict) -> str:
    """The whole process's CPU time per output frame (all threads)."""
    cpu = run["profile"].get("process_cpu")
    return "" if cpu is None else f"{1000 * cpu / max(run['frames'], 1):.1f}"


def _stage_rows(run: dict) -> list[str]:
    from vunet_video.stages import STAGES, library_cpu

    profile = run["profile"]
    stages, cpu, n, wall = profile["stages"], profile.get("cpu", {}), run["frames"], run["animate_s"]
    rows = []
    for stage, (what, thread) in STAGES.items():
        if stage in stages and stage != "subject":
            s = stages[stage]
            rows.append(f"| {stage}: {what} | {thread} | {s:.2f} | {1000 * cpu.get(stage, 0.0) / max(n, 1):.1f} | "
                        f"{n / s if s else float('inf'):.1f} | {100 * s / wall:.0f}% |")
    if "process_cpu" in profile:
        rows.append(f"| libraries' own threads (x264, MediaPipe, FFmpeg, torch) | | | "
                    f"{1000 * library_cpu(profile) / max(n, 1):.1f} | | |")
    return rows


STAGE_HEADER = ["| stage | thread | busy s | CPU ms per frame | frames/s alone | of the wall time |",
                "| --- | --- | ---: | ---: | ---: | ---: |"]


def _report(runs: list[dict], once: dict, weights_note: str, args) -> str:
    first = runs[0]["after"]
    lines = ["# Pipeline benchmark: `animate` at the default preset, 720p-class output", "",
             "Made by `python benchmarks/pipeline.py`" + (f" --seconds {args.seconds:g}" if args.seconds else "")
             + (f" --device {args.device}" if args.device else "") + "".join(f" --set {x}" for x in args.set)
             + (" --quick" if args.quick else "") + ".", ""]
    lines += _machine()
    cfg = first["settings"]
    lines += [f"- model: {weights_note}; decoder on {first['device']} in "
              f"{'int8' if first.get('int8') else 'bf16' if first['bf16'] else 'fp32'}"
              f"{' (ONNX Runtime)' if first.get('onnx') else ''}, "
              f"torch and OpenCV threads {first['torch_threads']} while the stages run (stages.library_threads)",
              "- settings: the default preset (`vunet_video/presets/default.toml`: " +
              ", ".join(f"{k} {v}" for k, v in cfg.items()) + f") with render.size {args.size}",
              f"- subject: `{args.subject.name}`, output {first['size'][0]}x{first['size'][1]}; the subject is encoded "
              "before each timed run (its fine-tune read from the cache: first-frame times from the photo are below)",
              *([] if args.quick else [f"- settings before: the same code with "
                                       f"{', '.join(f'{k} {v}' for k, v in BEFORE.items())} "
                                       "(the default preset's values before issue 11)"]), ""]
    quick = runs[0]["before"] is None
    lines += ["## End to end, per clip", "",
              "| clip | frames | clip fps | end to end frames/s | x real time | I/O floor frames/s | of the floor | "
              "first frame |" + ("" if quick else " settings before: frames/s |"),
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" + ("" if quick else " ---: |")]
    for r in runs:
        a, b, f = r["after"], r["before"], r["floor"]
        floor = f["frames"] / f["seconds"]
        lines.append(f"| {r['video']} | {a['frames']} | {a['fps']:g} | **{_rate(a):.1f}** | {_rate(a) / a['fps']:.2f} | "
                     f"{floor:.1f} | {_rate(a) / floor:.2f} | {a['profile']['first_frame']:.2f} s |"
                     + ("" if quick else f" {_rate(b):.1f} |"))
    lines += ["", f"Each setting ran {args.repeats} time(s) per clip, interleaved, the best counting; all runs "
              "(frames/s): " + "; ".join(f"{r['video']}: default " + ", ".join(f"{x:.1f}" for x in r["all"]["after"])
                                       + ("" if quick else ", before " + ", ".join(f"{x:.1f}" for x in r["all"]["before"]))
                                       + ", floor " + ", ".join(f"{x:.1f}" for x in r["all"]["floor"])
                                       for r in runs) + "."]
    mean = sum(_rate(r["after"]) for r in runs) / len(runs)
    lines += ["", f"Mean over the clips: {mean:.1f} frames/s end to end"
              + ("" if quick else f" ({sum(_rate(r['before']) for r in runs) / len(runs):.1f} with the settings before)")
              + f"; {sum(_rate(r['after']) / (r['floor']['frames'] / r['floor']['seconds']) for r in runs) / len(runs):.2f} "
              "of the I/O floor.", ""]
    for r in runs:
        lines += [f"### {r['video']}: where the time went", "",
                  "Busy seconds per stage, as `animate --profile` prints them (stages in different threads overlap, "
                  "so the shares add up to more than 100%; busy time includes waiting for a core), and the CPU "
                  "time each stage's thread spent, per output frame:", "", *STAGE_HEADER]
        lines += _stage_rows(r["after"])
        lines += [f"| **end to end** | | {r['after']['animate_s']:.2f} | {_cpu_ms(r['after'])} | "
                  f"{_rate(r['after']):.1f} | 100% |", ""]
        if not quick:
            lines += ["The same clip with the settings before:", "", *STAGE_HEADER]
            lines += _stage_rows(r["before"])
            lines += [f"| **end to end** | | {r['before']['animate_s']:.2f} | {_cpu_ms(r['before'])} | "
                      f"{_rate(r['before']):.1f} | 100% |", ""]
    if quick:
        return "\n".join(lines)
    lines += ["## The presets", "",
              "Each preset at its own output size (`fast`: 512 px; `quality`: the photo's own size) on every clip; "
              "end-to-end frames/s and x real time. `default` as above, at 1280 px.", "",
              "| clip | default | fast | quality |", "| --- | ---: | ---: | ---: |"]
    for k, r in enumerate(runs):
        cells = [f"{_rate(x):.1f} ({_rate(x) / x['fps']:.2f}x)" for x in
                 (r["after"], once["presets"]["fast"][k], once["presets"]["quality"][k])]
        lines.append(f"| {r['video']} | " + " | ".join(cells) + " |")
    sizes = {name: "x".join(map(str, once["presets"][name][0]["size"])) for name in ("fast", "quality")}
    lines += ["", f"Output sizes: default {first['size'][0]}x{first['size'][1]}, fast {sizes['fast']}, quality "
              f"{sizes['quality']}.", ""]
    lines += ["## Time to the first output frame, from the photo", "",
              f"`animate` given the photo itself ({args.subject.name}, {runs[0]['video']}): model load, subject "
              f"pose and mask, fine-tune ({first['settings']['model.finetune_steps']} steps), plate and mesh, the "
              "int8 decoder's calibration, then the first frame.", "",
              "| user cache (tuned weights, int8 decoder) | model load | first frame after | of which subject encoding "
              "| end to end frames/s |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for label, r in (("empty: computed", once["cold"]), ("filled: the same photo again", once["warm"])):
        p = r["profile"]
        lines.append(f"| {label} | {r['load_s']:.1f} s | {p['first_frame']:.1f} s | {p['stages'].get('subject', 0):.1f} s "
                     f"| {_rate(r):.1f} |")
    short, long = once["short"], once["long"]
    lines += ["", "## Memory", "",
              "Peak RSS of a fresh process per run (`ru_maxrss`), and RSS sampled every 20 ms during the run, at "
              "10%, 50% and 100% of it:", "",
              "| run | frames | end-to-end frames/s | RSS at 10% | at 50% | at 100% | peak RSS |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in ((f"{runs[0]['video']}", short), (f"the same looped {LOOPS}x", long)):
        a, b, c = r["rss_samples"]
        lines.append(f"| {name} | {r['frames']} | {_rate(r):.1f} | {_mib(a)} | {_mib(b)} | {_mib(c)} | "
                     f"{_mib(r['peak_rss'])} |")
    growth = long["peak_rss"] - short["peak_rss"]
    lines += ["", f"Peak RSS for {LOOPS}x the frames: {'+' if growth >= 0 else ''}{_mib(growth)} "
              f"({100 * growth / short['peak_rss']:+.1f}%).", ""]
    return "\n".join(lines)


def _parse_set(pairs: list[str]) -> dict:
    """--set KEY=VALUE pairs as preset overrides (values as TOML reads them: 8, 0.5, true, "text")."""
    import tomllib

    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = value
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--video", type=Path, action="append", help="driving video (repeatable); default: the four "
                    "dev clips")
    ap.add_argument("--seconds", type=float, default=0, help="use the first S seconds of each clip (0 = all)")
    ap.add_argument("--subject", type=Path, default=DEFAULT_SUBJECT, help="subject photo")
    ap.add_argument("--size", type=int, default=1280, help="output longer side (render.size)")
    ap.add_argument("--repeats", type=int, default=2, help="runs of each setting per clip, interleaved; the best "
                    "counts")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "pipeline.md")
    ap.add_argument("--device", default="", help="where the model runs (model.device: auto, cpu, cuda); default: "
                    "the preset's (auto)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a preset key for every run "
                    "(repeatable), e.g. model.precision=fp32")
    ap.add_argument("--quick", action="store_true", help="the default preset and the I/O floor per clip only: no "
                    "settings-before runs, other presets, first-frame or memory runs")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(run_floor(spec) if spec.get("floor") else run_animate(spec)))
        return
    videos = args.video or DRIVING
    for path in videos + [args.subject]:
        if not path.is_file():
            sys.exit(f"{path}: no such file")
    runs, once = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        weights, note = _weights(Path(tmp))
        warm_cache = str(Path(tmp) / "cache-warm")
        base = {"weights": weights, "subject": str(args.subject), "size": args.size, "seconds": args.seconds,
                "cache": warm_cache, "device": args.device, "set": _parse_set(args.set)}
        if not args.quick:  # time to the first frame from the photo: an empty cache, then the same photo again
            once["cold"] = _measure(base | {"video": str(videos[0]), "photo_in_run": True})
            once["warm"] = _measure(base | {"video": str(videos[0]), "photo_in_run": True})
            print(f"first frame: {once['cold']['profile']['first_frame']:.1f} s cold, "
                  f"{once['warm']['profile']['first_frame']:.1f} s from the cache", file=sys.stderr)
        for video in videos:
            spec = base | {"video": str(video)}
            tries = {"after": [], "before": [], "floor": []}
            for _ in range(args.repeats):  # interleaved; the best of each counts (the machine is shared)
                tries["after"].append(_measure(spec))
                if not args.quick:
                    tries["before"].append(_measure(spec | {"overrides": BEFORE}))
                tries["floor"].append(_measure(spec | {"floor": True, "out_size": tries["after"][0]["size"]}))
            after = max(tries["after"], key=_rate)
            before = max(tries["before"], key=_rate) if tries["before"] else None
            floor = max(tries["floor"], key=lambda f: f["frames"] / f["seconds"])
            runs.append({"video": video.name, "after": after, "before": before, "floor": floor,
                         "all": {k: [_rate(r) if k != "floor" else r["frames"] / r["seconds"] for r in v]
                                 for k, v in tries.items()}})
            print(f"{video.name}: {_rate(after):.1f} frames/s (" + (f"settings before {_rate(before):.1f}; " if before
                  else "") + f"I/O floor {floor['frames'] / floor['seconds']:.1f})", file=sys.stderr)
        # The other presets, at their own sizes, on every clip (their fine-tunes cached first).
        presets = {}
        for name in () if args.quick else ("fast", "quality"):
            _measure(base | {"video": str(videos[0]), "preset": name, "seconds": 0.5})  # fills the cache
            presets[name] = [_measure(base | {"video": str(video), "preset": name}) for video in videos]
            print(f"preset {name}: " + ", ".join(f"{_rate(r):.1f}" for r in presets[name]) + " frames/s",
                  file=sys.stderr)
        if not args.quick:
            once["presets"] = presets
            once["short"] = runs[0]["after"]
            looped = _looped(videos[0], args.seconds, LOOPS, Path(tmp))
            once["long"] = _measure(base | {"video": str(looped), "seconds": 0})
    text = _report(runs, once, note, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
