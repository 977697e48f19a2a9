"""Fit the AppearancePrior (model/vunet.py) of trained weights: where real people's codes lie.

    from vunet_video.train.appearance_prior import fit_appearance_prior
    model = load_model("runs/v2/vunet.safetensors")
    model.appearance_prior = fit_appearance_prior(model, "data/train_cache_v2")
    save_weights(model, "vunet.safetensors", model.extra, half=True)

Training calls it on its final weights (TrainConfig.appearance_prior components; 0 = off).
"""

from __future__ import annotations

import numpy as np
import torch

from ..model.inputs import appearance_input, on_plain_background, stickman_input
from ..model.vunet import AppearancePrior, VUNet
from .dataset import PairDataset


@torch.no_grad()
def fit_appearance_prior(model: VUNet, data_dir: str, components: int = 64, samples: int = 1000,
                         seed: int = 0, batch: int = 50, split: str | tuple[str, ...] = "train") -> AppearancePrior:
    """The low-rank Gaussian of `samples` training people's posterior offsets (the
    appearance code from their own photo minus the prior mean for their own stickman)."""
    ds = PairDataset(data_dir, model.cfg.image_size, split)
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(ds), min(samples, len(ds)), replace=False)
    model = model.eval()
    device = next(model.parameters()).device
    rows, sizes = [], None
    for k in range(0, len(picked), batch):
        idx = picked[k:k + batch]
        parts = torch.stack([appearance_input(on_plain_background(ds.images[i], ds.masks[i]), ds.poses[i],
                                              model.cfg.part_size) for i in idx]).to(device)
        stick = torch.stack([stickman_input(ds.poses[i], ds.size) for i in idx]).to(device)
        q = model.encode(parts)
        _, p = model._decode(stick, None, lambda i, prior: q[i])
        rows.append(torch.cat([(a - b).flatten(1).float().cpu() for a, b in zip(q, p)], 1))
        sizes = [a[0].numel() for a in q]
    x = torch.cat(rows)
    mean = x.mean(0)
    k = min(components, x.shape[0] - 1, x.shape[1])
    torch.manual_seed(seed)  # pca_lowrank's random projections
    _, s, v = torch.pca_lowrank(x - mean, q=k, center=False)
    basis = (s / (x.shape[0] - 1) ** 0.5)[:, None] * v.T  # (k, D): directions scaled by their std
    return AppearancePrior(mean, basis, sizes)
