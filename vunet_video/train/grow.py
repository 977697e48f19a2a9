"""Start a model at twice the resolution from trained weights: add one finer scale on top.

A VUNet's scales are numbered from the finest (0) and its channels double per scale
(VUNetConfig.channels). A 256 px model with half the base channels of a 128 px model
therefore has, at every scale from 128 px down, exactly the older model's layers: its scale
s + 1 is the older model's scale s (same resolution, same channels). Only the new 256 px
scale (stems, finest blocks, the last upsampling, the output convolution) and the warp
branch, which lives at the two finest scales, start fresh. This is the "grow a finer level"
step of progressive growing (Karras et al., ICLR 2018), without the fade-in: the fresh
residual blocks start as identities (ResBlock) and the warp branch's blend at zero.

    grown = VUNet(replace(old.cfg, image_size=256, base_channels=8))
    copied = load_grown(grown, old)
"""

from __future__ import annotations

import re

from ..model.vunet import VUNet


def can_grow(small, large) -> bool:
    """Whether `large` (a VUNetConfig) is `small` with one finer scale added."""
    from dataclasses import replace

    return (large.image_size == 2 * small.image_size and 2 * large.base_channels == small.base_channels
            and replace(large, image_size=small.image_size, base_channels=small.base_channels,
                        warp_skip=small.warp_skip) == small)


def _source_key(key: str, n_small: int) -> str | None:
    """The key in the smaller model's state that holds `key`'s weights in the grown model,
    or None for a layer that is new."""
    if key.startswith("warp_skip."):
        return None  # it works at the two finest scales, which are new
    m = re.match(r"(shape_up|appearance_up)\.(blocks|downs)\.(\d+)\.(.*)", key)
    if m:  # contracting paths: index i works one scale finer than the smaller model's i
        path, kind, i, rest = m.groups()
        return f"{path}.{kind}.{int(i) - 1}.{rest}" if int(i) > 0 else None
    if key.startswith(("shape_up.stem.", "appearance_up.stem.", "decoder.out.")):
        return None
    m = re.match(r"decoder\.(pre|post|ups)\.(\d+)\.(.*)", key)
    if m:  # the decoder counts from the coarsest scale, so indices agree up to the new finest one
        kind, k, rest = m.groups()
        last = n_small - 1 if kind == "ups" else n_small
        return key if int(k) < last else None
    return key  # appearance_down, decoder.to_p and .fuse live at the coarse scales only


def load_grown(model: VUNet, small: VUNet) -> list[str]:
    """Copy `small`'s weights into the matching layers of `model` (see the module docstring).
    Returns the keys of `model` that were copied; the others keep their initialisation."""
    if not can_grow(small.cfg, model.cfg):
        raise ValueError(f"{model.cfg} is not {small.cfg} grown by one finer scale")
    old = small.state_dict()
    state = model.state_dict()
    copied = []
    for key, value in state.items():
        src = _source_key(key, small.cfg.n_scales)
        if src is not None and src in old and old[src].shape == value.shape:
            state[key] = old[src].to(value)
            copied.append(key)
    model.load_state_dict(state)
    return copied
