"""Which training objective? Train the same small VUNet with each, over several seeds, and
score pairs from clips kept out of training.

    python benchmarks/objective_ablation.py --data data/train_cache_v2 [--size 64] [--steps 500] [--seeds 3]

Candidates: the pixel objective of the 0.1 model (L1 + MS-SSIM, Zhao et al. 2017's 0.16 /
0.84 mix) and the same plus the perceptual term on frozen ImageNet EfficientNet-Lite0
features (model/perceptual.py, training layers). Every run of a seed shares its data order
and every other setting. Scored on the validation and held-out clips' cross-frame pairs
(train/evaluate.py, no fine-tune): SSIM, L1, PCK@0.1 of the pose stage on the render, and
the perceptual distance on the network's *evaluation* layers, a separate set from the ones
the perceptual term trains on. The table gives mean +- standard deviation over seeds, all
pairs and the large-pose-change pairs. Results go to benchmarks/results/objective.md.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from vunet_video.model.io import load_model
from vunet_video.model.vunet import VUNetConfig
from vunet_video.render.synthesizer import Synthesizer
from vunet_video.train.evaluate import evaluate
from vunet_video.train.train import TrainConfig, train

OBJECTIVES = {
    "L1 + MS-SSIM": dict(l1_weight=0.16, ssim_weight=0.84, perceptual_weight=0.0),
    "L1 + MS-SSIM + 0.15 perceptual": dict(l1_weight=0.16, ssim_weight=0.84, perceptual_weight=0.15),
    "L1 + MS-SSIM + 0.5 perceptual": dict(l1_weight=0.16, ssim_weight=0.84, perceptual_weight=0.5),
}
METRICS = (("ssim", "SSIM", 4), ("l1", "L1", 4), ("pck@0.1", "PCK@0.1", 3), ("perceptual", "perceptual dist.", 4))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--base-channels", type=int, default=16)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--runs", default="runs/objective_ablation")
    ap.add_argument("--pairs-per-clip", type=int, default=20)
    ap.add_argument("--out", default="benchmarks/results/objective.md")
    args = ap.parse_args()

    base = TrainConfig(data=args.data, model=VUNetConfig(image_size=args.size, base_channels=args.base_channels),
                       steps=args.steps, kl_warmup=args.steps // 4, log_every=50, cross_prob=0.8,
                       video_share=0.6, hard_share=0.5, sample_every=10 ** 9, ckpt_every=10 ** 9)
    scores: dict[str, list[dict]] = {name: [] for name in OBJECTIVES}
    minutes: dict[str, list[float]] = {name: [] for name in OBJECTIVES}
    result = None
    for seed in range(args.seeds):
        for name, weights in OBJECTIVES.items():
            w = weights["perceptual_weight"]
            run = Path(args.runs) / (f"perceptual{w:g}_seed{seed}" if w else f"pixel_seed{seed}")
            cfg = replace(base, out=str(run), seed=seed, **weights)
            done = run / "scores.json"  # a finished run of the same settings is not redone
            if done.is_file() and json.loads(done.read_text())["config"] == json.loads(json.dumps(asdict(cfg))):
                saved = json.loads(done.read_text())
            else:
                t = time.time()
                path = train(cfg, log=lambda *_: None)
                result = evaluate(Synthesizer(load_model(path)), args.data, args.pairs_per_clip, finetune_steps=0,
                                  split=("val", "heldout"), perceptual=True)
                saved = {"config": asdict(cfg), "minutes": (time.time() - t) / 60, "pairs": result["pairs"],
                         "groups": result["groups"],
                         "scores": {sub: {**r["methods"]["vunet"], "pairs": r["pairs"]}
                                    for sub, r in result["subsets"].items()}}
                done.write_text(json.dumps(saved))
            result = saved
            minutes[name].append(saved["minutes"])
            scores[name].append(saved["scores"])
            print(name, seed, json.dumps(scores[name][-1]), flush=True)

    lines = [f"# Objective ablation ({args.size} px, base {args.base_channels}, {args.steps} steps, batch "
             f"{base.batch_size}, {args.seeds} seeds)", "",
             f"Pairs: {result['pairs']} cross-frame pairs from {', '.join(result['groups'])} (validation and "
             "held-out clips, never trained on); no fine-tune. Mean +- standard deviation over seeds. "
             "Perceptual distance: EfficientNet-Lite0 evaluation layers (blocks 7, 10, 14), not the training "
             "layers (0, 2, 4); lower is better, as for L1.", ""]
    for sub in result["scores"]:
        lines += [f"**{sub}** ({result['scores'][sub]['pairs']} pairs)", "",
                  "| objective | " + " | ".join(label for _, label, _ in METRICS) + " | train minutes |",
                  "| --- |" + " --- |" * (len(METRICS) + 1)]
        for name in OBJECTIVES:
            cells = []
            for key, _, digits in METRICS:
                v = np.array([s[sub][key] for s in scores[name]])
                cells.append(f"{v.mean():.{digits}f} +- {v.std():.{digits}f}")
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {np.mean(minutes[name]):.1f} |")
        lines.append("")
    text = "\n".join(lines)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
