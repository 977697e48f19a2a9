"""The VUNet's training objective, used by training and by the per-subject fine-tune.

Objective per sample (image values in [-1, 1], averaged over pixels):
    loss = l1_weight * L1(rgb, x) + ssim_weight * (1 - MS-SSIM(rgb, x))
         + mask_weight * BCE(alpha, person mask)
         + kl_weight(step) * KL(q || p) / (3 * S * S)
         + perceptual_weight * D_feat(rgb, x)
The KL is divided by the number of RGB values so that kl_weight = 1 is the per-pixel
ELBO trade-off; it ramps linearly from 0 over `kl_warmup` steps so the decoder first learns
to use the appearance code before the prior pulls it in. No pretrained VGG exists offline;
the pixel terms are MS-SSIM plus L1 (the mix Zhao et al. 2017, "Loss Functions for Image
Restoration with Neural Networks", found best, alpha = 0.84), and D_feat is a feature
distance on frozen ImageNet EfficientNet-Lite0 layers (model/perceptual.py), the paper's
perceptual term with the network that installs offline.

SSIM follows Wang et al. 2004 (Gaussian window sigma 1.5, K1 = 0.01, K2 = 0.03);
multi-scale SSIM follows Wang, Simoncelli, Bovik 2003, using the first three of its five
scale weights (renormalised) because a 128 px image is too small for five. The evaluation's
SSIM (train/metrics.py) uses the same terms with an 11-pixel window.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .vunet import VUNet

# Wang et al. 2003, Table/eq. weights for scales 1..5; we use the first three.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001)


@dataclass(frozen=True)
class LossConfig:
    """The loss weights. The defaults are the ones the shipped model was trained with."""

    l1_weight: float = 0.16        # Zhao et al. 2017 mix: 0.84 MS-SSIM + 0.16 L1
    ssim_weight: float = 0.84
    mask_weight: float = 0.1
    kl_weight: float = 1.0
    kl_warmup: int = 2000          # steps over which the KL weight ramps up from 0
    perceptual_weight: float = 0.0  # frozen ImageNet features (model/perceptual.py); 0 = off


def kl_weight_at(cfg: LossConfig, step: int) -> float:
    return cfg.kl_weight * min(1.0, step / max(1, cfg.kl_warmup))


def compute_loss(model: VUNet, batch: dict, cfg: LossConfig, step: int) -> tuple[torch.Tensor, dict]:
    """The loss of `model` on a batch ("stickman", "parts", "image", "mask" and, for a warp
    skip model, "warp"), and its terms as floats for logging."""
    out, kl = model(batch["stickman"], batch["parts"], batch.get("warp"))
    perceptual = None
    if cfg.perceptual_weight > 0:
        from .perceptual import perceptual_distance

        # Under the caller's autocast (the features are unit-normalised in fp32).
        perceptual = perceptual_distance(out[:, :3], batch["image"]).mean()
    # The rest runs in fp32: SSIM's variance terms cancel catastrophically in bf16.
    with torch.autocast(out.device.type, enabled=False):
        return _loss_terms(out.float(), kl.float(), batch, cfg, step, perceptual)


def _loss_terms(out: torch.Tensor, kl: torch.Tensor, batch: dict, cfg: LossConfig, step: int,
                perceptual: torch.Tensor | None = None):
    rgb, alpha = out[:, :3], out[:, 3]
    target = batch["image"]
    l1 = (rgb - target).abs().mean()
    ssim_loss = 1 - ms_ssim(rgb, target).mean()
    mask_loss = F.binary_cross_entropy_with_logits(alpha, batch["mask"])
    kl = kl.mean() / (3 * target.shape[-1] * target.shape[-2])
    loss = (cfg.l1_weight * l1 + cfg.ssim_weight * ssim_loss + cfg.mask_weight * mask_loss
            + kl_weight_at(cfg, step) * kl)
    if perceptual is not None:
        loss = loss + cfg.perceptual_weight * perceptual.float()
    return loss, {"loss": loss.item(), "l1": l1.item(), "ms_ssim": 1 - ssim_loss.item(),
                  "mask_bce": mask_loss.item(), "kl": kl.item(),
                  "perceptual": 0.0 if perceptual is None else perceptual.item()}


def _gaussian_window(size: int, sigma: float, channels: int, device, dtype) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    w = (g[:, None] * g[None, :]).to(dtype)
    return w.expand(channels, 1, size, size).contiguous()


def ssim_terms(a: torch.Tensor, b: torch.Tensor, data_range: float, window: int = 11):
    """Per-pixel SSIM and its contrast-structure part, (B, C, H', W') each ("valid" window)."""
    c = a.shape[1]
    w = _gaussian_window(window, 1.5, c, a.device, a.dtype)
    mu_a = F.conv2d(a, w, groups=c)
    mu_b = F.conv2d(b, w, groups=c)
    var_a = F.conv2d(a * a, w, groups=c) - mu_a ** 2
    var_b = F.conv2d(b * b, w, groups=c) - mu_b ** 2
    cov = F.conv2d(a * b, w, groups=c) - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    cs = (2 * cov + c2) / (var_a + var_b + c2)
    lum = (2 * mu_a * mu_b + c1) / (mu_a ** 2 + mu_b ** 2 + c1)
    return lum * cs, cs


def ms_ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0, window: int = 7) -> torch.Tensor:
    """Three-scale MS-SSIM per image, (B,). Negative contrast terms are clamped (they make the
    product's gradient undefined early in training)."""
    a, b = a.float(), b.float()
    weights = torch.tensor(MS_SSIM_WEIGHTS, device=a.device)
    weights = weights / weights.sum()
    values = []
    for k in range(len(MS_SSIM_WEIGHTS)):
        s, cs = ssim_terms(a, b, data_range, window)
        last = k == len(MS_SSIM_WEIGHTS) - 1
        values.append((s if last else cs).flatten(1).mean(1).clamp_min(1e-4))
        if not last:
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    return torch.stack([v ** w for v, w in zip(values, weights)], 0).prod(0)
