"""Fine-tuning the VUNet on one subject photo before rendering it ("personalising").

The shipped model is small and was trained on a few thousand people, so the appearance
code alone gets a new person's colours and textures only roughly. A short fine-tune on the
subject photo itself fixes much of that: the model learns to reconstruct *this* person from
their own stickman, with the same loss as training. One photo shows one pose, so the target
is the photo under random similarity transforms (scale, rotation, shift) and mirroring, with
the stickman moved alike; the appearance input stays the untransformed photo, as it will be
at inference. The stickman encoder (`shape_up`) stays frozen: the tune is about how this
person looks, not how poses are read, and freezing it kept the renders' pose accuracy
closer to the untuned model's. Measured: benchmarks/results/finetune.md.

This is once-per-subject work (like the appearance code), never per frame. It is part of
inference (`Synthesizer.personalised`), so it needs only the model and the pose, not train/.

`TunedCache` keeps the tuned weights of recent subjects in the user's cache folder
(`cache_dir()`), keyed by a hash of everything the tune depends on: the model's weights,
the subject crop, its pose and mask, and the tune's settings. A second clip with the same
photo then starts at once instead of tuning again (about 12-20 s on 2 cores).
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..pose.keypoints import Pose
from .augment import maybe_flip, random_similarity, to_device, training_warp
from .inputs import appearance_input, on_plain_background, stickman_input, to_tensor
from .io import native_bf16
from .loss import LossConfig, compute_loss
from .vunet import VUNet

log = logging.getLogger(__name__)


@dataclass
class FinetuneConfig:
    steps: int = 100
    lr: float = 1e-4
    batch_size: int = 4
    max_scale: float = 0.15     # targets scaled by 1 +- this
    max_rotation: float = 12.0  # degrees
    max_shift: float = 0.08     # share of the crop side
    # L2-SP (Li et al. 2018, "Explicit Inductive Bias for Transfer Learning with Convolutional
    # Networks"): pull the tuned weights towards the base weights with this weight on the sum
    # of squared differences, so one photo teaches the person's look without overwriting what
    # the model knows about other views. 0 = off.
    anchor: float = 0.0
    seed: int = 0


CACHE_ENV = "VUNET_CACHE_DIR"


def cache_dir() -> Path:
    """Where tuned weights are kept: $VUNET_CACHE_DIR, else $XDG_CACHE_HOME/vunet-video,
    else ~/.cache/vunet-video. Deleting it is always safe (the tunes are redone)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "vunet-video"


class TunedCache:
    """Tuned weights of the `keep` most recently used subjects, one safetensors file each
    (full precision, about 30 MB for the shipped model), in `folder`/finetune."""

    VERSION = b"vunet-video tuned weights 2"  # part of every key: bump when the tune changes

    def __init__(self, folder: str | Path | None = None, keep: int = 10):
        self.folder = Path(folder or cache_dir()) / "finetune"
        self.keep = keep

    @classmethod
    def key(cls, model: VUNet, crop_image: np.ndarray, crop_pose: Pose, crop_mask: np.ndarray | None,
            cfg: "FinetuneConfig", warp: str = "parts") -> str:
        h = hashlib.sha256(cls.VERSION)
        if warp != "parts":  # (the rigid part warp's keys stay as they were)
            h.update(warp.encode())
        if not native_bf16(next(model.parameters()).device):
            h.update(b"fp32")  # a tune in fp32 arithmetic is another tune (bf16 keys stay as they were)
        for name, tensor in sorted(model.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        for array in (crop_image, crop_pose.xy, crop_pose.score, crop_mask):
            h.update(b"none" if array is None else np.ascontiguousarray(array).tobytes() + str(array.shape).encode())
        h.update(repr(cfg).encode())
        return h.hexdigest()[:40]

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.safetensors"

    def load(self, key: str, model: VUNet) -> VUNet | None:
        """A copy of `model` with the cached tuned weights, or None (not cached, or a file
        that cannot be read: it is removed, and the tune is redone)."""
        from safetensors.torch import load_file

        path = self.path(key)
        if not path.is_file():
            return None
        try:
            tuned = copy.deepcopy(model)
            tuned.load_state_dict(load_file(str(path), device=str(next(model.parameters()).device)))
            os.utime(path)  # most recently used
        except Exception as e:  # a damaged or foreign file is a cache miss, never an error
            log.warning("ignoring the cached tune %s (%s)", path, e)
            path.unlink(missing_ok=True)
            return None
        return tuned.eval()

    def save(self, key: str, tuned: VUNet) -> None:
        """Store the tuned weights (all or nothing), then forget the least recently used
        beyond `keep`. A cache that cannot be written is skipped with a warning."""
        from safetensors.torch import save_file

        tensors = {k: v.detach().to("cpu").contiguous() for k, v in tuned.state_dict().items()}
        keep_in_cache(self.path(key), lambda tmp: save_file(tensors, str(tmp)), self.keep, "the tuned weights")


def keep_in_cache(path: Path, write, keep: int, what: str) -> None:
    """Write a cache file all or nothing (`write(tmp)` fills a temporary file beside
    `path`), then forget the least recently used files of its kind (suffix) in its folder
    beyond `keep`. A cache that cannot be written is skipped with a warning about `what`."""
    folder = path.parent
    tmp = folder / f".{path.stem}.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
        files = sorted(folder.glob(f"*{path.suffix}"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[keep:]:
            old.unlink(missing_ok=True)
    except OSError as e:
        log.warning("could not keep %s in %s (%s)", what, folder, e)
        tmp.unlink(missing_ok=True)


class Adam:
    """Adam (Kingma & Ba, ICLR 2015) as torch.optim.Adam computes it on a CPU (its
    single-tensor path: no weight decay, no AMSGrad), written out for the tune. torch's
    optimizers import torch._dynamo when the first one is made: 1.6 s on the dev machine,
    a sixth of a new photo's whole encoding, spent on every run that tunes."""

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.steps = 0
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        beta1, beta2 = self.betas
        step_size = self.lr / (1 - beta1 ** self.steps)
        correction2_sqrt = (1 - beta2 ** self.steps) ** 0.5
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq):
            if p.grad is None:
                continue
            m.lerp_(p.grad, 1 - beta1)
            v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            p.addcdiv_(m, (v.sqrt() / correction2_sqrt).add_(self.eps), value=-step_size)


def finetune_on_subject(model: VUNet, crop_image: np.ndarray, crop_pose: Pose, crop_mask: np.ndarray | None,
                        cfg: FinetuneConfig | None = None, progress=None, cache: TunedCache | None = None,
                        warper=None) -> VUNet:
    """A copy of `model` fine-tuned to reconstruct one subject (an S x S crop, its pose in
    model pixels and its person mask, 0-255 uint8 or 0-1 float); `model` is left as it was.
    progress: called with the number of steps done after each step. cache: where a tune of
    the same model, subject and settings is taken from (and this one kept). warper: for a
    model trained on mesh warps, warper(crop image, mask 0-1, pose) gives a function from a
    target pose to the warp input (render/full_resolution.py builds it, so that model/ needs
    nothing from render/); None: the rigid part warp."""
    cfg = cfg or FinetuneConfig()
    # (The warper names its version: a tune on other moved pixels is another tune.)
    warp = getattr(warper, "version", "mesh") if warper is not None else "parts"
    key = cache.key(model, crop_image, crop_pose, crop_mask, cfg, warp) if cache is not None else None
    if key is not None:
        tuned = cache.load(key, model)
        if tuned is not None:
            tuned.extra = dict(getattr(model, "extra", {}), finetuned_steps=cfg.steps)
            if progress is not None:
                progress(cfg.steps)
            return tuned
    tuned = _tune(model, crop_image, crop_pose, crop_mask, cfg, progress, warper)
    if key is not None:
        cache.save(key, tuned)
    return tuned


def _tune(model: VUNet, crop_image: np.ndarray, crop_pose: Pose, crop_mask: np.ndarray | None,
          cfg: FinetuneConfig, progress, warper=None) -> VUNet:
    size = model.cfg.image_size
    if crop_mask is None:
        mask = np.full((size, size), 255, np.uint8)
    else:
        mask = crop_mask if crop_mask.dtype == np.uint8 else (np.clip(crop_mask, 0, 1) * 255 + 0.5).astype(np.uint8)
    plain = on_plain_background(crop_image, mask)
    views = []  # the photo and its mirror image, each with its appearance input (and mesh warper)
    for flip in (False, True):
        image, pose = maybe_flip(plain, crop_pose, flip)
        image, msk = np.ascontiguousarray(image), np.ascontiguousarray(mask[:, ::-1] if flip else mask)
        mesh_warp = None
        if warper is not None and model.cfg.warp_skip:
            raw = np.ascontiguousarray(crop_image[:, ::-1] if flip else crop_image)
            mesh_warp = warper(raw, msk * (1 / 255), pose)
        views.append((image, msk, pose, appearance_input(image, pose, model.cfg.part_size), mesh_warp))

    device = next(model.parameters()).device
    # channels_last whatever the layout of `model` (a bf16 Synthesizer keeps its model so):
    # the fast path with bf16 autocast on a CPU, and one layout, so that the same subject
    # gives the same tuned weights however the model was held. bf16 autocast only where bf16
    # is native: on a CPU without AVX-512 BF16 (AMD Zen 3, most Intel before Sapphire Rapids)
    # it is emulated, and 100 steps took 478 s against 64-85 s in fp32 (Zen 3, 2 cores).
    tuned = copy.deepcopy(model).to(memory_format=torch.channels_last).train()
    bf16 = native_bf16(device)
    for p in tuned.shape_up.parameters():
        p.requires_grad_(False)
    trainable = [p for p in tuned.parameters() if p.requires_grad]
    base = [p.detach().clone() for p in trainable] if cfg.anchor > 0 else None
    opt = Adam(trainable, lr=cfg.lr, betas=(0.5, 0.9))
    loss_cfg = LossConfig(kl_warmup=1)  # training's loss weights, KL at full weight
    rng = np.random.default_rng(cfg.seed)
    gen_state = torch.get_rng_state()
    torch.manual_seed(cfg.seed)  # the posterior samples: same subject + seed -> same tuned model
    try:
        for step in range(cfg.steps):
            stick, parts, images, masks, warps = [], [], [], [], []
            for _ in range(cfg.batch_size):
                view, view_mask, view_pose, app, mesh_warp = views[int(rng.integers(2))]
                image, msk, pose = random_similarity(view, view_mask, view_pose, rng, cfg.max_scale,
                                                     cfg.max_rotation, cfg.max_shift)
                stick.append(stickman_input(pose, size))
                parts.append(app)
                images.append(to_tensor(image))
                masks.append(torch.from_numpy(msk).float() / 255.0)
                # The untransformed photo moved onto the moved pose, as at inference.
                if mesh_warp is not None:
                    warps.append(mesh_warp(pose))
                elif model.cfg.warp_skip:
                    warps.append(training_warp(view, view_mask, view_pose, pose, False, rng))
            batch = {"stickman": torch.stack(stick), "parts": torch.stack(parts),
                     "image": torch.stack(images), "mask": torch.stack(masks)}
            if warps:
                batch["warp"] = torch.stack(warps)
            batch = to_device(batch, device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss, _ = compute_loss(tuned, batch, loss_cfg, 1)
            if base is not None:
                loss = loss + cfg.anchor * sum((p - b).pow(2).sum() for p, b in zip(trainable, base))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            opt.step()
            if progress is not None:
                progress(step + 1)
    finally:
        torch.set_rng_state(gen_state)
    for p in tuned.shape_up.parameters():
        p.requires_grad_(True)
    tuned.extra = dict(getattr(model, "extra", {}), finetuned_steps=cfg.steps)
    return tuned.eval()
