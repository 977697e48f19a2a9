"""Saving and loading VUNet weights (safetensors, config in the file's metadata)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..errors import VunetError
from ..files import atomic_output
from .vunet import VUNet, VUNetConfig

# The weights this project trained and ships (see weights/MODEL_CARD.md).
DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "vunet_128.safetensors"
# Weights to use when none are named (a preset's model.weights or a --weights option win).
WEIGHTS_ENV = "VUNET_WEIGHTS"


def resolve_weights(path: str | Path | None = None) -> Path:
    """The checkpoint to load: `path` when given, else $VUNET_WEIGHTS, else the shipped weights."""
    return Path(path or os.environ.get(WEIGHTS_ENV) or DEFAULT_WEIGHTS)


def resolve_device(name: str | None = "auto") -> str:
    """A torch device name: 'auto' (or None) is CUDA when available, else the CPU."""
    if name and name != "auto":
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise VunetError(None, f"device {name!r}: no CUDA GPU is available here (use auto or cpu)")
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def native_bf16(device: str | torch.device) -> bool:
    """Whether bf16 runs natively on `device`: any CUDA GPU with bf16, or a CPU with the
    AVX-512 BF16 or AMX instructions (read from /proc/cpuinfo; elsewhere assumed not).
    Emulated bf16 is slower than fp32."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def use_bf16(precision: str, device: str | torch.device) -> bool:
    """model.precision ("auto", "fp32", "bf16") on `device` -> whether to decode in bf16."""
    return precision == "bf16" or (precision == "auto" and native_bf16(device))


def save_weights(model: VUNet, path: str | Path, extra: dict | None = None, half: bool = False) -> None:
    """Write `model` to `path` all or nothing, replacing any file there; `half` stores fp16
    (half the size, for shipping)."""
    from safetensors.torch import save_file

    path = Path(path)
    dtype = torch.float16 if half else torch.float32
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    prior = getattr(model, "appearance_prior", None)
    if prior is not None:
        tensors.update({k: v.to(dtype).contiguous() for k, v in prior.tensors().items()})
    meta = {"format": "vunet-video", "config": json.dumps(model.cfg.to_dict()),
            "extra": json.dumps(extra or {})}
    # safetensors creates the file private (0600); atomic_output gives it a normal file's mode.
    with atomic_output(path, overwrite=True) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_model(path: str | Path | None = None, device: str | torch.device = "cpu") -> VUNet:
    """The VUNet from `path` (default: the shipped weights), in eval mode.

    Raises VunetError for a missing, corrupt or mismatched file.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path) if path else DEFAULT_WEIGHTS
    if not path.is_file():
        hint = " (the shipped weights are missing from this install)" if path == DEFAULT_WEIGHTS else ""
        raise VunetError(path, f"no such checkpoint{hint}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise VunetError(path, f"not a readable safetensors checkpoint ({str(e).splitlines()[0][:80]})") from None
    if meta.get("format") != "vunet-video" or "config" not in meta:
        raise VunetError(path, "not a vunet-video checkpoint (no model config in its metadata)")
    try:
        cfg = VUNetConfig(**json.loads(meta["config"]))
        model = VUNet(cfg)
    except (TypeError, ValueError) as e:
        raise VunetError(path, f"bad model config in checkpoint ({e})") from None
    prior = {k: tensors.pop(k) for k in list(tensors) if k.startswith("appearance_prior.")}
    state = model.state_dict()
    missing = sorted(set(state) - set(tensors))
    unexpected = sorted(set(tensors) - set(state))
    wrong = [k for k in state if k in tensors and tensors[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        what = (f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}" if unexpected
                else f"{wrong[0]} has shape {tuple(tensors[wrong[0]].shape)}, expected {tuple(state[wrong[0]].shape)}")
        raise VunetError(path, f"weights do not match the model config: {what}")
    check_finite({**tensors, **prior}, path)
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    if prior:
        model.appearance_prior = _appearance_prior(prior, model, path)
    try:
        model.extra = json.loads(meta.get("extra", "{}"))
    except ValueError as e:
        raise VunetError(path, f"bad 'extra' metadata in checkpoint ({e})") from None
    return model.to(device).eval()


def _appearance_prior(tensors: dict, model: VUNet, path) -> "AppearancePrior":
    from .vunet import AppearancePrior

    mean, basis = tensors.get("appearance_prior.mean"), tensors.get("appearance_prior.basis")
    # The latents' sizes per scale, coarsest first, from a decode of one blank stickman.
    with torch.no_grad():
        s = model.cfg.image_size
        _, priors = model._decode(torch.zeros(1, 3, s, s), None, lambda i, p: p)
    sizes = [p[0].numel() for p in priors]
    if mean is None or basis is None or mean.shape != (sum(sizes),) or basis.ndim != 2 \
            or basis.shape[1] != sum(sizes):
        raise VunetError(path, "bad appearance prior in checkpoint (appearance_prior.mean/basis shapes)")
    return AppearancePrior(mean.float(), basis.float(), sizes)


def check_finite(tensors: dict[str, torch.Tensor], path: str | Path) -> None:
    """VunetError naming the first tensor that holds NaN or infinity: such weights load
    and run, and render garbage (or nothing) without any other sign. fp16 files are also
    checked after the cast to float32 they get, which can only keep them as they are."""
    for name, tensor in tensors.items():
        if not tensor.is_floating_point():
            continue
        bad = int((~torch.isfinite(tensor)).sum())
        if bad:
            raise VunetError(path, f"weights hold non-finite values: {name} has {bad} NaN/Inf of {tensor.numel()} "
                                   "(a diverged or damaged checkpoint)")
