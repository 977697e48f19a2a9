"""One lent-GPU session: train a model (the 256 px one by default), optionally time the decoders.

Runs on the device machine under its own python3 (torch with CUDA, OpenCV, safetensors;
no PyAV or MediaPipe, which training does not need). tools/gpu_train.sh calls it after
unpacking the compact cache (tools/compact_cache.py). Everything it returns is written to
`--out` as it goes, so a run cut off by its time limit still brings back its latest weights.

Outputs: vunet_<size>.safetensors (fp16, with the appearance prior once training ends),
vunet_<size>_at_<m>min.safetensors (--snapshot-minutes), log.csv, config.json, samples.png
(the latest grid), gpu_bench.json (--bench).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vunet_video.model import perceptual  # noqa: E402
from vunet_video.model.io import load_model, save_weights  # noqa: E402
from vunet_video.train.train import load_config, train  # noqa: E402


def use_trimmed_perceptual_weights(trimmed: Path) -> None:
    """The training term uses the network's first five blocks only; the carried file holds
    just those (260 kB instead of 18.8 MB). The unused rest is filled with the fresh
    network's own initial values, which the loss never reads."""
    state = perceptual.EfficientNetLite0().state_dict()
    state.update(torch.load(trimmed, map_location="cpu", weights_only=True))
    full = Path("/tmp/effnet_lite0_filled.pth")
    torch.save(state, full)
    perceptual.weights_path = lambda: str(full)


def export(run: Path, out: Path, name: str) -> None:
    """The run's latest weights as fp16 (16 MiB is the most one returned file may hold)."""
    src = run / "vunet.safetensors"
    if src.is_file():
        model = load_model(src)
        save_weights(model, out / name, model.extra, half=True)
    for name in ("log.csv", "config.json"):
        if (run / name).is_file():
            shutil.copy(run / name, out / name)
    grids = sorted(run.glob("samples_*.png"))
    if grids:
        shutil.copy(grids[-1], out / "samples.png")


def bench_decoder(paths: dict[str, str], out: Path) -> None:
    """Decoder time per frame (the per-frame model work of `animate`) on the GPU, fp32 and
    bf16 autocast, by batch size; CUDA events, after warm-up, median of 20."""
    from vunet_video.model.vunet import empty_warp

    results = []
    for name, path in paths.items():
        model = load_model(path, device="cuda").to(memory_format=torch.channels_last)
        s = model.cfg.image_size
        parts = torch.zeros(1, 48, model.cfg.part_size, model.cfg.part_size, device="cuda")
        with torch.no_grad():
            latents = model.encode(parts)
        for batch in (1, 8, 32):
            stick = torch.zeros(batch, 3, s, s, device="cuda").to(memory_format=torch.channels_last)
            warp = empty_warp(stick)
            for dtype in ("fp32", "bf16"):
                times = []
                for k in range(25):
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    with torch.no_grad(), torch.autocast("cuda", torch.bfloat16, enabled=dtype == "bf16"):
                        model.decode(stick, latents, warp=warp, blend="weight")
                    end.record()
                    torch.cuda.synchronize()
                    if k >= 5:
                        times.append(start.elapsed_time(end))
                ms = sorted(times)[len(times) // 2]
                results.append({"model": name, "size": s, "batch": batch, "dtype": dtype,
                                "ms_per_batch": round(ms, 3), "ms_per_frame": round(ms / batch, 3)})
                print(results[-1], flush=True)
    info = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "results": results}
    (out / "gpu_bench.json").write_text(json.dumps(info, indent=1))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cache", required=True)
    p.add_argument("--effnet", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--config", default="configs/vunet_256.toml")
    p.add_argument("--minutes", type=float, default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--init", default=None, help="start from these weights instead of the config's init "
                   "(e.g. an earlier run's, to train it longer)")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--kl-warmup", type=int, default=None)
    p.add_argument("--snapshot-minutes", default="", help="also bring back the weights of the last checkpoint "
                   "(ckpt_every) before these minutes, e.g. '4,6' (vunet_256_at_4min.safetensors at 256 px), "
                   "for choosing on validation")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="any other TrainConfig field, e.g. --set batch_size=32 --set ckpt_every=2000")
    p.add_argument("--bench", action="store_true", help="time the decoders on the GPU after training")
    args = p.parse_args()

    torch.backends.cudnn.benchmark = True
    use_trimmed_perceptual_weights(Path(args.effnet))
    cfg = replace(load_config(args.config), data=args.cache, out="/tmp/gpu_run")
    # Forked workers share the loaded dataset; spawned ones are each sent a copy (108 s to
    # start 14 of them at 256 px, a quarter of a 7-minute run).
    cfg.worker_start = "fork"
    named = {"max_minutes": args.minutes, "steps": args.steps, "workers": args.workers, "init": args.init,
             "lr": args.lr, "kl_warmup": args.kl_warmup}
    for key, value in named.items():
        if value is not None:
            setattr(cfg, key, value)
    for item in args.set:
        key, _, value = item.partition("=")
        kind = type(getattr(cfg, key))  # AttributeError names a field that does not exist
        setattr(cfg, key, value.lower() in ("1", "true", "yes") if kind is bool else kind(value))
    name = f"vunet_{cfg.model.image_size}"
    snapshot_at = sorted(float(m) for m in args.snapshot_minutes.split(",") if m.strip())
    run = Path(cfg.out)
    args.out.mkdir(parents=True, exist_ok=True)

    # Bring the weights back every minute while training runs.
    done = threading.Event()

    def keep_exporting():
        while not done.wait(60):
            try:
                export(run, args.out, f"{name}.safetensors")
                minutes = (time.time() - t0) / 60
                while snapshot_at and minutes >= snapshot_at[0]:
                    export(run, args.out, f"{name}_at_{snapshot_at.pop(0):g}min.safetensors")
            except Exception as e:  # a half-written file is retried next minute
                print(f"export skipped: {e}", flush=True)

    t0 = time.time()
    threading.Thread(target=keep_exporting, daemon=True).start()
    weights = train(cfg, log=lambda line: print(line, flush=True))
    done.set()
    export(run, args.out, f"{name}.safetensors")
    print(f"training done in {time.time() - t0:.0f} s: {weights}", flush=True)
    if args.bench and torch.cuda.is_available():
        bench_decoder({"vunet_128": "vunet_video/weights/vunet_128.safetensors",
                       name: str(args.out / f"{name}.safetensors")}, args.out)


if __name__ == "__main__":
    main()
