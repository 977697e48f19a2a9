"""The Variational U-Net (Esser, Sutter, Ommer, CVPR 2018), in one file.

Three networks share the work:

* `shape_up`   - the U-Net's contracting path over the target stickman y. Its features at
                 every scale become skip connections.
* `appearance` - the encoder over the *appearance* input: eight body-part crops of the
                 image and of its own stickman, pose-normalised (see parts.py). It gives the
                 posterior q(z | x, y-hat) at the coarsest `n_latent_scales` scales.
* `decoder`    - the expanding path. At each latent scale (coarsest first) it predicts the
                 prior p(z | y) from the shape features, takes z (posterior sample while
                 training, posterior mean for inference, prior sample for new appearances),
                 and mixes it in; the finer scales only upsample with skips.

As in the official code, both distributions are Gaussians with unit variance, so the KL
between them is 0.5 * ||mu_q - mu_p||^2 and the posterior *mean* is the appearance code.
The latents are hierarchical: the posterior and prior at a finer scale see the latent
chosen at the coarser one.

Output: RGB in [-1, 1] plus one alpha logit (person vs. background), which the paper
does not have; it lets the pipeline composite the person on any background.

Optional (`warp_skip`, on in the shipped model; not in the paper): `WarpSkip` reads the
subject's body parts warped onto the target pose, adds its features to the two finest
skips and blends the output colour towards the warp where a small head says it can be
trusted, so detail no longer has to pass through the 4 and 8 px latents.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .parts import NUM_PARTS


@dataclass
class VUNetConfig:
    """Model shape. The defaults are the shipped model: 128 px, 16 -> 128 channels over six
    scales (128 ... 4 px), latents at 8 and 4 px, 7.4M parameters. Chosen for 2-core CPU
    training: base 32 has 9.1M parameters but trains 2.8x slower (12 vs 33 samples/s)."""

    image_size: int = 128        # S: square model resolution (a power of two, >= 64)
    base_channels: int = 16      # channels at full resolution, doubled per scale ...
    max_channels: int = 128      # ... up to this
    res_blocks: int = 1          # residual blocks per scale and path
    n_latent_scales: int = 2     # latents live at this many of the coarsest scales
    latent_channels: int = 32
    coarsest: int = 4            # spatial size of the coarsest scale
    part_factor: int = 4         # part crops are S / part_factor on a side (official box_factor=2)
    dropout: float = 0.0
    warp_skip: bool = False      # the subject's body parts warped onto the target pose feed the two
                                 # finest decoder skips (WarpSkip); not in the paper

    @property
    def n_scales(self) -> int:
        return int(math.log2(self.image_size // self.coarsest)) + 1

    @property
    def part_size(self) -> int:
        return self.image_size // self.part_factor

    @property
    def first_part_scale(self) -> int:
        return int(math.log2(self.part_factor))

    def channels(self, scale: int) -> int:
        return min(self.base_channels * 2 ** scale, self.max_channels)

    def to_dict(self) -> dict:
        return asdict(self)


class ResBlock(nn.Module):
    """Pre-activation residual block with an optional skip input (official `nn_resblock`)."""

    def __init__(self, channels: int, skip_channels: int = 0, dropout: float = 0.0):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.skip = nn.Conv2d(skip_channels, channels, 1) if skip_channels else None
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        # Start every block close to the identity so deep stacks train without normalisation.
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(F.silu(x))
        if self.skip is not None:
            h = h + self.skip(F.silu(skip))
        h = self.conv2(self.drop(F.silu(h)))
        return x + h


class Down(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class Up(nn.Module):
    """Sub-pixel upsampling (conv to 4x channels, then pixel shuffle), as in the official code."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout * 4, 3, padding=1)

    def forward(self, x):
        return F.pixel_shuffle(self.conv(x), 2)


class Contracting(nn.Module):
    """Residual blocks and stride-2 convolutions; returns the features at each scale."""

    def __init__(self, cfg: VUNetConfig, in_channels: int, first_scale: int):
        super().__init__()
        self.first_scale = first_scale
        scales = range(first_scale, cfg.n_scales)
        self.stem = nn.Conv2d(in_channels, cfg.channels(first_scale), 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.ModuleList(ResBlock(cfg.channels(s), dropout=cfg.dropout) for _ in range(cfg.res_blocks))
            for s in scales)
        self.downs = nn.ModuleList(Down(cfg.channels(s), cfg.channels(s + 1)) for s in scales[:-1])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = self.stem(x)
        feats = []
        for i, blocks in enumerate(self.blocks):
            for block in blocks:
                h = block(h)
            feats.append(h)
            if i < len(self.downs):
                h = self.downs[i](h)
        return feats


class AppearanceDown(nn.Module):
    """Hierarchical posterior over the latent scales, from the appearance features."""

    def __init__(self, cfg: VUNetConfig):
        super().__init__()
        self.cfg = cfg
        top = cfg.n_scales - 1
        self.latent_scales = [top - i for i in range(cfg.n_latent_scales)]
        zc = cfg.latent_channels
        self.blocks = nn.ModuleList()
        self.to_q = nn.ModuleList()
        self.ups = nn.ModuleList()
        for i, s in enumerate(self.latent_scales):
            c = cfg.channels(s)
            # Finer scales also see the coarser latent, upsampled with the features.
            self.blocks.append(ResBlock(c, skip_channels=c if i else 0, dropout=cfg.dropout))
            self.to_q.append(nn.Conv2d(c, zc, 3, padding=1))
            if i + 1 < len(self.latent_scales):
                self.ups.append(Up(c + zc, cfg.channels(s - 1)))

    def forward(self, feats: dict[int, torch.Tensor]) -> list[torch.Tensor]:
        """Posterior means, coarsest first. A finer scale is conditioned on the coarser *mean*,
        so the code computed once for a subject is exactly the one training shaped."""
        means = []
        h = None
        for i, s in enumerate(self.latent_scales):
            if i == 0:
                h = self.blocks[i](feats[s])
            else:
                h = self.blocks[i](h, feats[s])
            q = self.to_q[i](h)
            means.append(q)
            if i + 1 < len(self.latent_scales):
                h = self.ups[i](torch.cat([h, q], 1))
        return means


class Decoder(nn.Module):
    """Expanding path: prior, latent injection at the coarse scales, skips from the shape branch."""

    def __init__(self, cfg: VUNetConfig):
        super().__init__()
        self.cfg = cfg
        n = cfg.n_scales
        zc = cfg.latent_channels
        self.n_latent = cfg.n_latent_scales
        self.pre = nn.ModuleList()    # block before the prior, sees the shape skip
        self.to_p = nn.ModuleList()
        self.fuse = nn.ModuleList()   # mixes z into the features
        self.post = nn.ModuleList()
        self.ups = nn.ModuleList()
        for s in reversed(range(n)):
            c = cfg.channels(s)
            self.pre.append(ResBlock(c, skip_channels=c, dropout=cfg.dropout))
            if len(self.to_p) < self.n_latent:
                self.to_p.append(nn.Conv2d(c, zc, 3, padding=1))
                self.fuse.append(ResBlock(c, skip_channels=zc, dropout=cfg.dropout))
            self.post.append(nn.ModuleList(
                ResBlock(c, dropout=cfg.dropout) for _ in range(cfg.res_blocks - 1)))
            if s > 0:
                self.ups.append(Up(c, cfg.channels(s - 1)))
        self.out = nn.Conv2d(cfg.channels(0), 4, 3, padding=1)

    def forward(self, shape_feats: list[torch.Tensor], choose_z) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """`choose_z(i, prior_mean)` returns the latent for latent scale i (coarsest first).
        Returns (output, prior means, the full-resolution features the output is made from)."""
        priors = []
        h = shape_feats[-1]
        for k, s in enumerate(reversed(range(len(shape_feats)))):
            h = self.pre[k](h, shape_feats[s])
            if k < self.n_latent:
                p = self.to_p[k](h)
                priors.append(p)
                h = self.fuse[k](h, choose_z(k, p))
            for block in self.post[k]:
                h = block(h)
            if s > 0:
                h = self.ups[k](h)
        return self.out(h), priors, h


class WarpSkip(nn.Module):
    """Lets the decoder copy from the subject's body parts warped onto the target pose
    (parts.warp_parts: RGB and coverage, 4 channels at S). Not in the paper, where every
    appearance detail must pass through the latents at 4 and 8 px and comes out blurred.

    Two paths: the warp's features are added to the shape branch's skips at the two finest
    scales, and a blend head predicts, per pixel, how much of the output colour to take
    from the warp instead of the decoder (the soft selection of warping-based pose transfer,
    e.g. Siarohin et al., CVPR 2018; Han et al., ICCV 2019). The skip convolutions start at
    zero and the blend at sigmoid(-6) = 0.25%, so a model with this branch starts as (almost
    exactly) the model without it and learns where the warp can be trusted.
    """

    BLEND_INIT = -6.0

    def __init__(self, cfg: VUNetConfig):
        super().__init__()
        c0, c1 = cfg.channels(0), cfg.channels(1)
        self.stem = nn.Conv2d(4, c0, 3, padding=1)
        self.block = ResBlock(c0)
        self.to_skip0 = nn.Conv2d(c0, c0, 1)
        self.down = Down(c0, c1)
        self.to_skip1 = nn.Conv2d(c1, c1, 1)
        self.blend1 = nn.Conv2d(c0 + 4, c0, 3, padding=1)
        self.blend2 = nn.Conv2d(c0, 1, 3, padding=1)
        for conv in (self.to_skip0, self.to_skip1, self.blend2):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        nn.init.constant_(self.blend2.bias, self.BLEND_INIT)

    def forward(self, warp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features to add to the skips at scales 0 and 1."""
        h0 = self.block(self.stem(warp))
        h1 = self.down(F.silu(h0))
        return self.to_skip0(F.silu(h0)), self.to_skip1(F.silu(h1))

    def weight(self, features: torch.Tensor, warp: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, S): how much of the output colour the head takes from the warp, where
        the warp covers the pixel."""
        return torch.sigmoid(self.blend2(F.silu(self.blend1(torch.cat([F.silu(features), warp], 1)))))

    def blend(self, out: torch.Tensor, features: torch.Tensor, warp: torch.Tensor) -> torch.Tensor:
        """The decoder's output (B, 4, S, S) with its colour blended towards the warp where the
        head says so (only where the warp covers anything); alpha stays the decoder's."""
        coverage = ((warp[:, 3:4] + 1) / 2).clamp(0, 1)
        m = self.weight(features, warp) * coverage
        rgb = out[:, :3] * (1 - m) + warp[:, :3] / coverage.clamp(min=1e-3) * m
        return torch.cat([rgb, out[:, 3:]], 1)


class AppearancePrior:
    """Where real people's appearance codes lie, as a low-rank Gaussian: for sampling.

    The shape-conditioned prior p(z | stickman) alone gives nearly the same person in every
    draw (benchmarks/results/model_v2.md, prior diversity): the posteriors of real people sit
    at offsets from the prior mean that unit-variance noise does not reach. Fitted after
    training (train/appearance_prior.py, "ex-post density estimation" as in Ghosh et al. 2020,
    "From Variational to Deterministic Autoencoders"): the offsets q - p of training people,
    their mean and their top principal directions scaled by their standard deviations. A draw
    is mean + basis^T a, a ~ N(0, I), split into the latent scales (coarsest first).
    Stored in the weights file as the tensors "appearance_prior.mean" and ".basis".
    """

    def __init__(self, mean: torch.Tensor, basis: torch.Tensor, sizes: list[int]):
        self.mean, self.basis, self.sizes = mean.float(), basis.float(), list(sizes)

    def sample(self, n: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        device = generator.device if generator is not None else self.mean.device
        a = torch.randn(n, self.basis.shape[0], generator=generator, device=device)
        return list((self.mean.to(device) + a @ self.basis.to(device)).split(self.sizes, dim=1))

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"appearance_prior.mean": self.mean, "appearance_prior.basis": self.basis}


def empty_warp(like: torch.Tensor) -> torch.Tensor:
    """A warp that covers nothing (colour 0, coverage -1), shaped for `like` (B, C, S, S)."""
    warp = like.new_zeros((like.shape[0], 4, like.shape[2], like.shape[3]))
    warp[:, 3] = -1.0
    return warp


class VUNet(nn.Module):
    def __init__(self, cfg: VUNetConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or VUNetConfig()
        if cfg.image_size & (cfg.image_size - 1) or cfg.image_size < 64:
            raise ValueError(f"image_size must be a power of two >= 64, got {cfg.image_size}")
        self.shape_up = Contracting(cfg, 3, 0)
        self.appearance_up = Contracting(cfg, 6 * NUM_PARTS, cfg.first_part_scale)
        self.appearance_down = AppearanceDown(cfg)
        self.decoder = Decoder(cfg)
        self.warp_skip = WarpSkip(cfg) if cfg.warp_skip else None
        self.appearance_prior: AppearancePrior | None = None  # set by model.io.load_model when the file has one

    # --- the three uses -------------------------------------------------------------------

    def encode(self, parts: torch.Tensor) -> list[torch.Tensor]:
        """Posterior means of the appearance latents, coarsest first.

        parts: (B, 6 * NUM_PARTS, S/4, S/4): the image's part crops then its stickman's, in [-1, 1].
        """
        feats = self.appearance_up(parts)
        by_scale = {self.appearance_up.first_scale + i: f for i, f in enumerate(feats)}
        return self.appearance_down(by_scale)

    def _decode(self, stickman: torch.Tensor, warp: torch.Tensor | None, choose_z, blend: bool = True):
        feats = self.shape_up(stickman)
        if self.warp_skip is None:
            return self.decoder(feats, choose_z)[:2]
        if warp is None:  # nothing to copy (sampling from the prior): the empty warp of training's dropout
            warp = empty_warp(stickman)
        w0, w1 = self.warp_skip(warp)
        out, priors, h = self.decoder([feats[0] + w0, feats[1] + w1] + feats[2:], choose_z)
        if blend == "weight":
            return (out, self.warp_skip.weight(h, warp)), priors
        return (self.warp_skip.blend(out, h, warp) if blend else out), priors

    def decode(self, stickman: torch.Tensor, latents: list[torch.Tensor] | None = None,
               generator: torch.Generator | None = None, warp: torch.Tensor | None = None,
               blend: bool | str = True) -> torch.Tensor:
        """(B, 4, S, S): RGB in [-1, 1] and an alpha logit, for target stickmen (B, 3, S, S).

        latents: appearance codes from `encode` (used as they are); None samples them from the
        shape-conditioned prior, for new appearances (moved by an AppearancePrior's draw when
        the weights carry one). warp: the subject's parts warped onto
        each target pose (inputs.warp_input), for a model with `warp_skip`. blend=False: the
        decoder's own colour, before the blend head moves it towards the warp (for a caller
        that joins a sharper warp of its own, render/full_resolution.py); blend="weight": that
        and the blend head's weight (B, 1, S, S), as a pair (a model with `warp_skip` only).
        """
        offsets = None
        if latents is None and self.appearance_prior is not None:
            offsets = self.appearance_prior.sample(stickman.shape[0], generator)

        def choose(i, prior_mean):
            if latents is not None:
                return latents[i].expand(prior_mean.shape[0], -1, -1, -1)
            noise = torch.randn(prior_mean.shape, generator=generator, dtype=prior_mean.dtype,
                                device=prior_mean.device)
            if offsets is not None:  # a new person's appearance (AppearancePrior), then the posterior's noise
                return prior_mean + offsets[i].view(prior_mean.shape).to(prior_mean) + noise
            return prior_mean + noise

        return self._decode(stickman, warp, choose, blend)[0]

    def forward(self, stickman: torch.Tensor, parts: torch.Tensor, warp: torch.Tensor | None = None):
        """Training pass: returns (output (B,4,S,S), KL per sample (B,))."""
        q_means = self.encode(parts)
        zs = [q + torch.randn_like(q) for q in q_means]
        out, p_means = self._decode(stickman, warp, lambda i, p: zs[i])
        kl = sum(0.5 * (q.float() - p.float()).pow(2).flatten(1).sum(1) for q, p in zip(q_means, p_means))
        return out, kl
