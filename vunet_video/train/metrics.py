"""Image and pose metrics, shared by the training loss and the evaluation.

SSIM follows Wang et al. 2004 (Gaussian window sigma 1.5, K1 = 0.01, K2 = 0.03) with an
11-pixel window; multi-scale SSIM follows Wang, Simoncelli, Bovik 2003, using the first
three of its five scale weights (renormalised) because a 128 px image is too small for five.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

# Wang et al. 2003, Table/eq. weights for scales 1..5; we use the first three.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001)


def _gaussian_window(size: int, sigma: float, channels: int, device, dtype) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    w = (g[:, None] * g[None, :]).to(dtype)
    return w.expand(channels, 1, size, size).contiguous()


def _ssim_terms(a: torch.Tensor, b: torch.Tensor, data_range: float, window: int = 11):
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


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """Mean SSIM per image, (B,). Inputs (B, C, H, W) float, same range."""
    s, _ = _ssim_terms(a.float(), b.float(), data_range)
    return s.flatten(1).mean(1)


def ms_ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0, window: int = 7) -> torch.Tensor:
    """Three-scale MS-SSIM per image, (B,). Negative contrast terms are clamped (they make the
    product's gradient undefined early in training)."""
    a, b = a.float(), b.float()
    weights = torch.tensor(MS_SSIM_WEIGHTS, device=a.device)
    weights = weights / weights.sum()
    values = []
    for k in range(len(MS_SSIM_WEIGHTS)):
        s, cs = _ssim_terms(a, b, data_range, window)
        last = k == len(MS_SSIM_WEIGHTS) - 1
        values.append((s if last else cs).flatten(1).mean(1).clamp_min(1e-4))
        if not last:
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    return torch.stack([v ** w for v, w in zip(values, weights)], 0).prod(0)


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """PSNR per image in dB, (B,)."""
    mse = (a.float() - b.float()).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return 10 * torch.log10(data_range ** 2 / mse)


def pck(pred_xy: np.ndarray, pred_ok: np.ndarray, true_xy: np.ndarray, true_ok: np.ndarray,
        alpha: float = 0.1) -> tuple[int, int]:
    """Correct-keypoint count at threshold alpha * (longer side of the true joints' box).

    Counts joints visible in the target; a joint the detector missed in the prediction is
    wrong. Returns (correct, total) so results can be pooled over images.
    """
    if true_ok.sum() < 2:
        return 0, 0
    pts = true_xy[true_ok]
    size = float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1])))
    dist = np.linalg.norm(np.nan_to_num(pred_xy, nan=1e9) - true_xy, axis=1)
    correct = true_ok & pred_ok & (dist <= alpha * size)
    return int(correct.sum()), int(true_ok.sum())
