"""Benchmark the VUNet: training throughput and per-frame inference time.

    python benchmarks/model.py [--size 128] [--batch 8] [--steps 10] [--out benchmarks/results/model.md]

Reports, on this machine (CPU, and CUDA when present):
  - training samples/s for fp32 and for bf16 autocast + channels_last (the fast path),
  - decoder time per frame at batch 1 and batch 8 (what `animate` pays per frame), and the
    one-off subject encoding time,
  - the one-off per-subject fine-tune (model/finetune.py): time per step and for the
    default number of steps,
  - with --warp-skip (the shipped model's setting), the per-frame warp of the subject's
    body parts onto the target pose that the model's warp branch reads (OpenCV, CPU).
Random tensors of the real shapes are used: the numbers measure the network, not the data.
Nothing here is asserted; results are written as a markdown table.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from vunet_video.model.vunet import VUNet, VUNetConfig


def _time(fn, repeat: int) -> float:
    fn()  # warm-up (allocations, kernel selection)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / repeat


def bench(device: str, cfg: VUNetConfig, batch: int, steps: int) -> list[tuple[str, str]]:
    rows = []
    s = cfg.image_size
    for fast in (False, True):
        model = VUNet(cfg).to(device)
        fmt = torch.channels_last if fast else torch.contiguous_format
        model = model.to(memory_format=fmt)
        opt = torch.optim.Adam(model.parameters(), 1e-4)
        stick = torch.randn(batch, 3, s, s, device=device).to(memory_format=fmt)
        parts = torch.randn(batch, 48, cfg.part_size, cfg.part_size, device=device).to(memory_format=fmt)
        target = torch.randn(batch, 3, s, s, device=device)
        warp = torch.randn(batch, 4, s, s, device=device).to(memory_format=fmt) if cfg.warp_skip else None

        def step():
            with torch.autocast(device, dtype=torch.bfloat16, enabled=fast):
                out, kl = model(stick, parts, warp)
            loss = (out[:, :3].float() - target).abs().mean() + 1e-5 * kl.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

        dt = _time(step, steps)
        name = "bf16 autocast + channels_last" if fast else "fp32"
        rows.append((f"train, {name}, batch {batch}", f"{batch / dt:.1f} samples/s"))

        model.eval()
        with torch.no_grad(), torch.autocast(device, dtype=torch.bfloat16, enabled=fast):
            latents = model.encode(parts[:1])
            enc = _time(lambda: model.encode(parts[:1]), steps)
            w1 = None if warp is None else warp[:1]
            d1 = _time(lambda: model.decode(stick[:1], latents, warp=w1), steps * 2)
            d8 = _time(lambda: model.decode(stick, latents, warp=warp), steps)
        rows.append((f"encode subject once, {name}", f"{enc * 1000:.1f} ms"))
        rows.append((f"decode per frame, batch 1, {name}", f"{d1 * 1000:.1f} ms ({1 / d1:.1f} frames/s)"))
        rows.append((f"decode per frame, batch {batch}, {name}", f"{d8 / batch * 1000:.1f} ms ({batch / d8:.1f} frames/s)"))
    return rows


def _standing_pose(s: int):
    import numpy as np

    from vunet_video.pose.keypoints import Pose

    # A standing person (COCO-17, fractions of the crop side): the crops, the stickman and
    # the warp cost the same for any pose.
    xy = np.array([[.50, .15], [.52, .13], [.48, .13], [.54, .14], [.46, .14], [.58, .25], [.42, .25],
                   [.62, .38], [.38, .38], [.63, .50], [.37, .50], [.55, .52], [.45, .52],
                   [.56, .70], [.44, .70], [.56, .88], [.44, .88]], np.float32) * s
    return Pose(xy, np.ones(17, np.float32))


def bench_warp(cfg: VUNetConfig, steps: int) -> list[tuple[str, str]]:
    import numpy as np

    from vunet_video.model.inputs import warp_input
    from vunet_video.pose.keypoints import Pose

    s = cfg.image_size
    pose = _standing_pose(s)
    target = Pose(pose.xy + np.float32(3.0), pose.score)
    image = np.random.default_rng(0).integers(0, 256, (s, s, 3), dtype=np.uint8)
    dt = _time(lambda: warp_input(image, pose, target), steps * 10)
    return [("warp of the subject's parts onto a pose, per frame (OpenCV)", f"{dt * 1000:.2f} ms")]


def bench_finetune(device: str, cfg: VUNetConfig, steps: int) -> list[tuple[str, str]]:
    import numpy as np

    from vunet_video.model.finetune import FinetuneConfig, finetune_on_subject

    s = cfg.image_size
    pose = _standing_pose(s)
    image = np.random.default_rng(0).integers(0, 256, (s, s, 3), dtype=np.uint8)
    mask = np.full((s, s), 255, np.uint8)
    model = VUNet(cfg).to(device)
    finetune_on_subject(model, image, pose, mask, FinetuneConfig(steps=2))  # warm-up
    t = time.perf_counter()
    finetune_on_subject(model, image, pose, mask, FinetuneConfig(steps=steps))
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    per_step = (time.perf_counter() - t) / steps
    default = FinetuneConfig()
    return [(f"fine-tune on a subject, per step (batch {default.batch_size}, bf16)", f"{per_step * 1000:.0f} ms"),
            (f"fine-tune on a subject, default {default.steps} steps (once per subject)",
             f"{per_step * default.steps:.1f} s")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--base-channels", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warp-skip", action=argparse.BooleanOptionalAction, default=True,
                    help="the model's warp branch (the shipped model has it)")
    ap.add_argument("--out", default="benchmarks/results/model.md")
    args = ap.parse_args()
    cfg = VUNetConfig(image_size=args.size, base_channels=args.base_channels, warp_skip=args.warp_skip)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    n_params = sum(p.numel() for p in VUNet(cfg).parameters())
    warp = ", warp skip" if cfg.warp_skip else ""
    lines = [f"# VUNet benchmark ({args.size} px, base {args.base_channels} channels{warp}, "
             f"{n_params / 1e6:.2f}M parameters)", "",
             f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
             f"torch {torch.__version__}", ""]
    for dev in devices:
        label = torch.cuda.get_device_name() if dev == "cuda" else "CPU"
        lines += [f"## {label}", "", "| what | result |", "| --- | --- |"]
        lines += [f"| {a} | {b} |" for a, b in bench(dev, cfg, args.batch, args.steps)]
        lines += [f"| {a} | {b} |" for a, b in bench_finetune(dev, cfg, 2 * args.steps)]
        if dev == "cpu" and cfg.warp_skip:
            lines += [f"| {a} | {b} |" for a, b in bench_warp(cfg, args.steps)]
        lines.append("")
    text = "\n".join(lines)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
