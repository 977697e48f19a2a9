"""Which reconstruction objective? Train the same small VUNet with each and score held-out pairs.

    python benchmarks/objective_ablation.py --data data/train_cache [--size 64] [--steps 600]

No pretrained VGG can be loaded offline, so the paper's perceptual loss is out. The candidates
are plain L1 and the L1 + MS-SSIM mix of Zhao et al. 2017 (0.16 / 0.84). Both runs share the
seed, data order and every other setting; the table reports the held-out evaluation
(vunet_video/train/evaluate.py) of each. Results go to benchmarks/results/objective.md.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from vunet_video.model.io import load_model
from vunet_video.model.vunet import VUNetConfig
from vunet_video.render.synthesizer import Synthesizer
from vunet_video.train.evaluate import evaluate
from vunet_video.train.train import TrainConfig, train

OBJECTIVES = {
    "L1": dict(l1_weight=1.0, ssim_weight=0.0),
    "L1 + MS-SSIM (0.16 / 0.84)": dict(l1_weight=0.16, ssim_weight=0.84),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--base-channels", type=int, default=16)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--runs", default="runs/objective_ablation")
    ap.add_argument("--pairs-per-clip", type=int, default=30)
    ap.add_argument("--out", default="benchmarks/results/objective.md")
    args = ap.parse_args()

    base = TrainConfig(data=args.data, model=VUNetConfig(image_size=args.size, base_channels=args.base_channels),
                       steps=args.steps, kl_warmup=args.steps // 4, log_every=50,
                       sample_every=10 ** 9, ckpt_every=10 ** 9)
    rows = []
    for name, weights in OBJECTIVES.items():
        run = Path(args.runs) / ("l1_msssim" if weights["ssim_weight"] else "l1")
        cfg = replace(base, out=str(run), **weights)
        t = time.time()
        path = train(cfg, log=lambda *_: None)
        minutes = (time.time() - t) / 60
        result = evaluate(Synthesizer(load_model(path)), args.data, args.pairs_per_clip)
        r = result["subsets"]["all pairs"]["methods"]["vunet"]
        rows.append(f"| {name} | {r['ssim']:.4f} | {r['psnr']:.2f} | {r['l1']:.4f} | {r['pck@0.1']:.3f} | {minutes:.1f} |")
        print(rows[-1], flush=True)
    text = "\n".join([
        f"# Reconstruction objective ablation ({args.size} px, base {args.base_channels}, {args.steps} steps, batch {base.batch_size})",
        "", f"Held-out pairs: {result['pairs']} from {', '.join(result['groups'])}.", "",
        "| objective | SSIM | PSNR (dB) | L1 | PCK@0.1 | train minutes |", "| --- | --- | --- | --- | --- | --- |",
        *rows, ""])
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
