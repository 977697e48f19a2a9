"""Does the per-subject fine-tune copy the photo's view? Variants of the tune on the pairs of
clips never trained on, the large-pose-change pairs reported on their own.

    python benchmarks/finetune_view.py --weights vunet_video/weights/vunet_128.safetensors \
        [--data data/train_cache_v2] [--pairs-per-clip 20]

Rows: the model alone (no tune), the default tune, and the variants below (model/finetune.py,
FinetuneConfig). Scored by train/evaluate.py (128 px crops over the subject's scene, SSIM, L1,
PCK@0.1, the perceptual distance on the evaluation layers) on the validation and held-out
clips' cross-frame pairs; "unchanged" (the subject frame itself) is the bar to beat.
Writes benchmarks/results/finetune_view.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vunet_video.model.finetune import FinetuneConfig, finetune_on_subject  # noqa: E402
from vunet_video.model.io import load_model  # noqa: E402
from vunet_video.render.synthesizer import Synthesizer  # noqa: E402
from vunet_video.train.evaluate import evaluate  # noqa: E402

VARIANTS = {
    "default (100 steps)": {},
    "50 steps": {"steps": 50},
    "L2-SP anchor 0.01": {"anchor": 0.01},
    "L2-SP anchor 0.1": {"anchor": 0.1},
}


class Tuned(Synthesizer):
    """A Synthesizer whose `personalised` uses one FinetuneConfig variant."""

    def __init__(self, model, variant: dict):
        super().__init__(model)
        self.variant = variant

    def personalised(self, crop_image, crop_pose, crop_mask, steps=100, seed=0, progress=None, cache=None):
        from vunet_video.render.full_resolution import crop_mesh_warper

        warper = crop_mesh_warper(self.crop_size) if getattr(self.model, "extra", {}).get("warp") == "mesh" else None
        cfg = FinetuneConfig(**{"steps": steps, "seed": seed, **self.variant})
        import torch

        with torch.enable_grad():
            model = finetune_on_subject(self.model, crop_image, crop_pose, crop_mask, cfg, None, None, warper)
        return Synthesizer(model, self.device, self.bf16)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--data", default="data/train_cache_v2")
    ap.add_argument("--pairs-per-clip", type=int, default=20)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/finetune_view.md"))
    args = ap.parse_args()
    model = load_model(args.weights)
    rows = {}
    result = None
    for name in args.variants.split(","):
        t = time.time()
        result = evaluate(Tuned(model, VARIANTS[name]), args.data, args.pairs_per_clip, split=("val", "heldout"),
                          perceptual=True, finetune_steps=VARIANTS[name].get("steps", 100))
        if not rows:
            for m in ("unchanged", "vunet"):
                rows[m if m == "unchanged" else "no tune"] = {s: r["methods"][m] for s, r in result["subsets"].items()}
        rows[name] = {s: r["methods"]["vunet_finetuned"] for s, r in result["subsets"].items()}
        print(name, f"{time.time() - t:.0f} s", {s: round(v["ssim"], 4) for s, v in rows[name].items()}, flush=True)
    lines = [f"# Fine-tune variants: does the tune copy the photo's view? (`{args.weights}`)", "",
             f"{result['pairs']} cross-frame pairs from {', '.join(result['groups'])} (validation and held-out "
             "clips), 128 px crops over the subject's scene; train/evaluate.py. Perceptual: evaluation layers, "
             "lower is better.", ""]
    for sub in result["subsets"]:
        lines += [f"**{sub}** ({result['subsets'][sub]['pairs']} pairs)", "",
                  "| method | SSIM | L1 | PCK@0.1 | perceptual |", "| --- | --- | --- | --- | --- |"]
        for name, r in rows.items():
            v = r[sub]
            lines.append(f"| {name} | {v['ssim']:.4f} | {v['l1']:.4f} | {v['pck@0.1']:.3f} | {v['perceptual']:.4f} |")
        lines.append("")
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
