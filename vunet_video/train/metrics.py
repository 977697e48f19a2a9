"""Image and pose metrics of the evaluation.

SSIM is Wang et al. 2004 with an 11-pixel Gaussian window, from the same terms as the
training loss's MS-SSIM (model/loss.py, which documents them); SSIM and PSNR default to
images in [-1, 1]; PCK scores the pose stage's joints on a render against the target's.
"""

from __future__ import annotations

import numpy as np
import torch

from ..model.loss import ssim_terms


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """Mean SSIM per image, (B,). Inputs (B, C, H, W) float, same range."""
    s, _ = ssim_terms(a.float(), b.float(), data_range)
    return s.flatten(1).mean(1)


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
