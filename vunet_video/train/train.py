"""The training loop, in one readable file (in the spirit of nanoGPT's train.py).

The objective (L1 + MS-SSIM on the person over grey, BCE of the matte, KL ramped in) is
model/loss.py, shared with the per-subject fine-tune; TrainConfig carries its weights as
flat fields (`cfg.loss` gathers them). The shipped model's settings are
configs/vunet_128.toml at the repository root (`load_config` reads such a file).

Fast paths: bf16 autocast + channels_last on a CPU with native bf16 (about 3x over fp32 on the 2-core dev
machines), CUDA autocast when a GPU is present. Checkpoints hold model, optimiser, step and
every RNG state, so `--resume` continues exactly where a run stopped.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from ..errors import VunetError
from ..files import atomic_output
from ..model.augment import to_device
from ..model.io import native_bf16, save_weights
from ..model.loss import LossConfig, compute_loss, kl_weight_at
from ..model.vunet import VUNet, VUNetConfig
from .batches import MeshWarps, sample_batch
from .dataset import PairDataset


@dataclass
class TrainConfig:
    data: str = "data/train_cache"
    out: str = "runs/vunet"
    model: VUNetConfig = field(default_factory=VUNetConfig)
    batch_size: int = 8
    lr: float = 2e-4
    lr_final: float = 2e-5         # cosine decay to this by `steps`
    steps: int = 100_000
    # The loss weights (model/loss.py, LossConfig), flat so that config files and checkpoints
    # keep their shape; `loss` gathers them.
    kl_weight: float = LossConfig.kl_weight
    kl_warmup: int = LossConfig.kl_warmup
    l1_weight: float = LossConfig.l1_weight
    ssim_weight: float = LossConfig.ssim_weight
    mask_weight: float = LossConfig.mask_weight
    perceptual_weight: float = LossConfig.perceptual_weight
    cross_prob: float = 0.5        # share of video samples whose appearance comes from another frame
    video_share: float = 0.0       # share of targets drawn from video frames; 0 = every sample equally likely
    hard_share: float = 0.0        # share of cross-frame pairs chosen for a large pose change (PairDataset)
    warp: str = "parts"            # warp-skip input: "parts" (rigid 128 px parts) or "mesh" (as inference
                                   # builds it, train/batches.py)
    grad_clip: float = 1.0
    seed: int = 0
    threads: int = 0               # torch CPU threads; 0 = torch's default
    log_every: int = 25
    sample_every: int = 500
    ckpt_every: int = 250
    snapshot_every: int = 0        # also keep the weights of every n-th step (snapshots/step_N.safetensors), for
                                   # choosing a checkpoint on validation afterwards; 0 = only the latest
    max_minutes: float = 0.0       # stop (after a checkpoint) once the run has trained this long, time before a
                                   # --resume included; 0 = no limit.
                                   # The learning rate's cosine then runs over whichever of `steps` and
                                   # `max_minutes` is used up first, so a timed run still ends at lr_final.
    init: str = ""                 # start from these safetensors weights (e.g. the shipped ones), fresh optimiser;
                                   # weights of half the resolution grow into the model (train/grow.py)
    workers: int = 0               # processes that make batches (mesh warps are CPU work that a GPU outruns);
                                   # 0 = in the training loop. With workers, --resume is not bit-exact.
    worker_start: str = "spawn"    # how workers start: "spawn" (safe anywhere) or "fork". A spawned worker is sent
                                   # the whole dataset (1 GB at 256 px: 14 of them took 108 s to start on a lent
                                   # GPU); a forked one shares it, but can hang in OpenCV under pytest
    appearance_prior: int = 64     # components of the AppearancePrior fitted to the final weights; 0 = none

    @property
    def loss(self) -> LossConfig:
        return LossConfig(l1_weight=self.l1_weight, ssim_weight=self.ssim_weight, mask_weight=self.mask_weight,
                          kl_weight=self.kl_weight, kl_warmup=self.kl_warmup,
                          perceptual_weight=self.perceptual_weight)

    @staticmethod
    def from_dict(d: dict) -> "TrainConfig":
        d = dict(d)
        model = VUNetConfig(**d.pop("model", {}))
        return TrainConfig(model=model, **d)


def load_config(path: str | Path) -> TrainConfig:
    """TrainConfig from a TOML (or .json) file of its fields, with a [model] table of
    VUNetConfig fields; fields left out keep their defaults. What `vunet-video train
    --config` reads. VunetError for a missing file, bad syntax or an unknown field."""
    import tomllib

    path = Path(path)
    if not path.is_file():
        raise VunetError(path, "no such config file")
    try:
        text = path.read_text()
        fields = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        return TrainConfig.from_dict(fields)
    except (ValueError, TypeError) as e:  # TOMLDecodeError is a ValueError; unknown fields are TypeErrors
        raise VunetError(path, f"not a valid config ({e})") from None


def lr_at(cfg: TrainConfig, step: int, minutes: float = 0.0) -> float:
    """Cosine from lr to lr_final over the run: `steps`, or `max_minutes` of wall time when
    that runs out first."""
    t = min(1.0, step / max(1, cfg.steps))
    if cfg.max_minutes:
        t = max(t, min(1.0, minutes / cfg.max_minutes))
    return cfg.lr_final + 0.5 * (cfg.lr - cfg.lr_final) * (1 + math.cos(math.pi * t))


def _checkpoint_state(model, opt, step: int, rng: np.random.Generator, cfg: TrainConfig,
                      minutes: float = 0.0) -> dict:
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
            "torch_rng": torch.get_rng_state(), "numpy_rng": rng.bit_generator.state,
            "config": asdict(cfg), "minutes": minutes}


def _atomic_torch_save(obj, path: Path) -> None:
    with atomic_output(path, overwrite=True) as tmp:
        torch.save(obj, tmp)


def save_sample_grid(model: VUNet, batch: dict, path: Path) -> None:
    """PNG rows: target stickman | appearance source (torso part) | [warp input |]
    reconstruction | target."""
    from ..model.inputs import to_image

    model.eval()
    with torch.no_grad():
        n = min(6, batch["image"].shape[0])
        latents = model.encode(batch["parts"][:n].float())
        warp = batch["warp"][:n].float() if "warp" in batch else None
        out = model.decode(batch["stickman"][:n].float(), latents, warp=warp).float()
    model.train()
    s = batch["image"].shape[-1]
    rows = []
    for k in range(n):
        torso = batch["parts"][k, :3].float()
        torso = torch.nn.functional.interpolate(torso[None], size=(s, s), mode="nearest")[0]
        cells = [batch["stickman"][k], torso] + ([warp[k, :3]] if warp is not None else []) \
            + [out[k, :3], batch["image"][k]]
        rows.append(np.concatenate([to_image(c) for c in cells], 1))
    with atomic_output(path, overwrite=True) as tmp:
        cv2.imwrite(str(tmp), np.concatenate(rows, 0)[:, :, ::-1])


class _BatchStream(torch.utils.data.IterableDataset):
    """Endless training batches made in a DataLoader worker process, seeded per worker."""

    def __init__(self, ds: PairDataset, cfg: TrainConfig, seed: int):
        self.ds, self.cfg, self.seed = ds, cfg, seed

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        torch.set_num_threads(1)  # one core per worker; the workers together fill the machine
        cv2.setNumThreads(1)
        rng = np.random.default_rng([self.seed, worker.id if worker else 0])
        mesh_warps = MeshWarps(self.ds) if self.cfg.model.warp_skip and self.cfg.warp == "mesh" else None
        while True:
            yield sample_batch(self.ds, self.cfg.batch_size, self.cfg.model.part_size, rng,
                               warp=self.cfg.model.warp_skip, mesh_warps=mesh_warps)


def _batches(ds: PairDataset, cfg: TrainConfig, rng: np.random.Generator, mesh_warps):
    """Training batches: made in the loop from the run's own `rng` (exactly resumable), or in
    `cfg.workers` processes whose seeds are drawn from it."""
    if not cfg.workers:
        while True:
            yield sample_batch(ds, cfg.batch_size, cfg.model.part_size, rng, warp=cfg.model.warp_skip,
                               mesh_warps=mesh_warps)
    stream = _BatchStream(ds, cfg, int(rng.integers(2**31)))
    # Spawned by default, not forked: a forked child inherits OpenCV's and OpenMP's thread pools
    # mid-state and can hang in its first call to them (seen with cv2.setNumThreads under pytest).
    yield from torch.utils.data.DataLoader(stream, batch_size=None, num_workers=cfg.workers, prefetch_factor=4,
                                           pin_memory=torch.cuda.is_available(), persistent_workers=True,
                                           multiprocessing_context=cfg.worker_start)


def _start_from(model: VUNet, cfg: TrainConfig, log) -> None:
    """Load `cfg.init` into `model`: the same shape, the same without a warp branch, or half
    the resolution (grown by one finer scale, train/grow.py)."""
    from ..model.io import load_model
    from .grow import can_grow, load_grown

    start_from = load_model(cfg.init)
    step = start_from.extra.get("step", "?")
    if can_grow(start_from.cfg, cfg.model):
        copied = load_grown(model, start_from)
        log(f"grown from {cfg.init} ({start_from.cfg.image_size} px, its step {step}): "
            f"{len(copied)} of {len(model.state_dict())} tensors copied, the rest new")
        return
    # Weights without a warp branch may start a model with one (the branch starts at zero);
    # the other way round would silently drop the trained branch.
    if start_from.cfg.warp_skip and not cfg.model.warp_skip:
        raise VunetError(cfg.init, "weights have a warp branch (warp_skip) that the configured model lacks; "
                         "train with a config that sets it, e.g. --config configs/vunet_128.toml")
    if replace(start_from.cfg, warp_skip=cfg.model.warp_skip) != cfg.model:
        raise VunetError(cfg.init, f"weights are for {start_from.cfg}, not the configured {cfg.model}")
    missing, _ = model.load_state_dict(start_from.state_dict(), strict=False)
    if any(not k.startswith("warp_skip.") for k in missing):
        raise VunetError(cfg.init, f"weights lack {missing[0]}")
    log(f"initialised from {cfg.init} (its step {step})")


def train(cfg: TrainConfig, resume: str | None = None, log=print) -> Path:
    """Train per `cfg`; returns the path of the exported safetensors weights."""
    if cfg.warp not in ("parts", "mesh"):
        raise VunetError("warp", f"must be 'parts' or 'mesh', not {cfg.warp!r}")
    if cfg.worker_start not in ("spawn", "fork"):
        raise VunetError("worker_start", f"must be 'spawn' or 'fork', not {cfg.worker_start!r}")
    ds = PairDataset(cfg.data, cfg.model.image_size, "train", cfg.cross_prob, cfg.video_share, cfg.hard_share)
    mesh_warps = MeshWarps(ds) if cfg.model.warp_skip and cfg.warp == "mesh" and not cfg.workers else None
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    amp_dtype = torch.bfloat16
    # Autocast only where bf16 is native: emulated (a CPU without AVX-512 BF16) it runs
    # several times slower than fp32 (model/finetune.py has the figures).
    amp = native_bf16(device)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)

    model = VUNet(cfg.model).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.5, 0.9))
    step = 0
    minutes_before = 0.0  # training time of the run before a resume: max_minutes counts the whole run
    if cfg.init and not resume:
        _start_from(model, cfg, log)
    if resume:
        state = torch.load(resume, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step = state["step"]
        torch.set_rng_state(state["torch_rng"])
        rng.bit_generator.state = state["numpy_rng"]
        minutes_before = float(state.get("minutes", 0.0))
        log(f"resumed from {resume} at step {step}")

    log(f"{len(ds)} training samples, model {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M "
        f"parameters, device {device}")
    with atomic_output(out / "config.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps(asdict(cfg), indent=2))
    log_path = out / "log.csv"
    fields = ["step", "time", "lr", "kl_weight", "loss", "l1", "ms_ssim", "mask_bce", "kl", "perceptual",
              "samples_per_s", "data_wait"]
    if not log_path.exists() or step == 0:
        with open(log_path, "w", newline="") as f:
            csv.writer(f).writerow(fields)

    loss_cfg = cfg.loss
    start = time.time() - 60 * minutes_before
    t_last, n_last, waited = time.time(), 0, 0.0
    batches = _batches(ds, cfg, rng, mesh_warps)
    while step < cfg.steps:
        t_wait = time.time()
        batch = next(batches)
        waited += time.time() - t_wait
        batch = to_device(batch, device)
        lr = lr_at(cfg, step, (time.time() - start) / 60)
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
            loss, parts = compute_loss(model, batch, loss_cfg, step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        n_last += cfg.batch_size

        if step % cfg.log_every == 0:
            rate = n_last / (time.time() - t_last)
            data_wait = waited / (time.time() - t_last)  # share of the time spent waiting for batches
            t_last, n_last, waited = time.time(), 0, 0.0
            row = {"step": step, "time": round(time.time() - start, 1), "lr": f"{lr:.3g}",
                   "kl_weight": round(kl_weight_at(loss_cfg, step), 4), **{k: f"{v:.5g}" for k, v in parts.items()},
                   "samples_per_s": round(rate, 2), "data_wait": round(data_wait, 3)}
            with open(log_path, "a", newline="") as f:
                csv.writer(f).writerow([row[k] for k in fields])
            log(" ".join(f"{k}={row[k]}" for k in fields))
        if step % cfg.sample_every == 0:
            save_sample_grid(model, batch, out / f"samples_{step:07d}.png")
        over_time = cfg.max_minutes and (time.time() - start) > cfg.max_minutes * 60
        if step % cfg.ckpt_every == 0 or step == cfg.steps or over_time:
            _atomic_torch_save(_checkpoint_state(model, opt, step, rng, cfg, (time.time() - start) / 60),
                               out / "checkpoint.pt")
            save_weights(model, out / "vunet.safetensors", {"step": step, "data": cfg.data, "warp": cfg.warp})
        if cfg.snapshot_every and step % cfg.snapshot_every == 0:
            (out / "snapshots").mkdir(exist_ok=True)
            save_weights(model, out / "snapshots" / f"step_{step}.safetensors", {"step": step, "data": cfg.data, "warp": cfg.warp})
        if over_time:
            log(f"stopping at step {step}: max_minutes reached")
            break
    if cfg.appearance_prior:
        # Sampling new people needs to know where real people's codes lie (model/vunet.py).
        from .appearance_prior import fit_appearance_prior

        model.appearance_prior = fit_appearance_prior(model, cfg.data, cfg.appearance_prior)
        save_weights(model, out / "vunet.safetensors", {"step": step, "data": cfg.data, "warp": cfg.warp})
        model.appearance_prior = None
    return out / "vunet.safetensors"
