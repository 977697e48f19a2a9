"""The `vunet-video` command line: a thin layer over the Python API.

Every command turns a `VunetError` (bad input, existing output, missing model) into one
line on stderr and exit code 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import typer

from .errors import VunetError

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Make the person in a photo perform the motion of a driving video (Variational U-Net).")
dataset_app = typer.Typer(no_args_is_help=True, help="Build and inspect training sets.")
app.add_typer(dataset_app, name="dataset")


def user_errors(fn):
    """Report VunetError as one line and exit 1 instead of a traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except VunetError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
    return wrapper


# --- commands ------------------------------------------------------------------------------
# Commands register below with @app.command() and @user_errors, grouped by the data's path:
# pose -> dataset/train/eval -> render/transfer/sample -> animate -> batch.


# --- pose ------------------------------------------------------------------------------------

@app.command("pose")
@user_errors
def pose_cmd(
    source: Path = typer.Argument(..., metavar="INPUT", help="Video or photo."),
    output: Path = typer.Option(..., "-o", "--output", help="Pose JSON to write (docs/pose_json.md)."),
    preview: Path = typer.Option(None, "--preview", help="Also write the skeleton over the darkened frames (.mp4; .png for a photo)."),
    backend: str = typer.Option("auto", "--backend", help="auto, rtmlib or mediapipe."),
    smooth: bool = typer.Option(True, "--smooth/--no-smooth", help="One Euro temporal smoothing (videos)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
):
    """Estimate the main subject's COCO-17 pose in every frame of a video (or in a photo)."""
    from .pose.extract import extract_poses

    done = extract_poses(source, output, preview=preview, backend=backend, smooth=smooth,
                         overwrite=overwrite, progress=not quiet)
    if not quiet:
        typer.echo(f"{done['output']}: {done['frames']} frame(s), person found in {done['found']} "
                   f"(backend {done['backend']})", err=True)


# --- the model: dataset, train, eval ---------------------------------------------------------

@dataset_app.command("build")
@user_errors
def dataset_build(
    sources: list[Path] = typer.Argument(..., help="Photo folders, videos, or folders of videos."),
    out: Path = typer.Option(..., "-o", "--out", help="Cache folder to write."),
    size: int = typer.Option(256, help="Side of the cached person crops."),
    every: int = typer.Option(2, help="Keep every n-th video frame."),
    holdout_clip: list[str] = typer.Option([], "--holdout-clip", help="Video stem held out whole (repeatable)."),
    holdout_photos: float = typer.Option(0.05, help="Fraction of each photo folder held out (last by name)."),
    limit: int = typer.Option(0, help="At most this many items per source (0 = all)."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Label photos and video frames with the pose stage and cache person crops for training."""
    from .train.dataset import BuildOptions, build_dataset

    opts = BuildOptions(size=size, every=every, heldout_clips=tuple(holdout_clip),
                        heldout_photo_fraction=holdout_photos, limit=limit or None)
    bar = None
    if not quiet:
        from tqdm import tqdm
        bar = tqdm(unit="img", desc="labelling")

    def progress(source, counts):
        if bar is not None:
            bar.set_postfix_str(f"{source}: kept {counts['kept']}/{counts['seen']}")
            bar.update(1)

    counts = build_dataset(sources, out, opts, progress)
    if bar is not None:
        bar.close()
    typer.echo("| source | seen | kept | no person | no torso | unreadable |")
    typer.echo("| --- | --- | --- | --- | --- | --- |")
    for name, c in counts.items():
        typer.echo(f"| {name} | {c['seen']} | {c['kept']} | {c['no_person']} | {c['no_torso']} | {c['unreadable']} |")


@app.command()
@user_errors
def train(
    data: Path = typer.Option(..., help="Dataset cache from `vunet-video dataset build`."),
    config: Path = typer.Option(None, help="TOML or JSON file of TrainConfig fields ([model] for VUNetConfig)."),
    out: Path = typer.Option(None, help="Run folder (checkpoint, log.csv, sample grids, weights)."),
    resume: Path = typer.Option(None, help="checkpoint.pt to continue from, exactly."),
    steps: int = typer.Option(0, help="Override the number of steps."),
    max_minutes: float = typer.Option(0.0, help="Stop after a checkpoint once this much time has passed."),
):
    """Train the VUNet."""
    from .train.train import TrainConfig, train as run_training

    fields = {}
    if config:
        fields = _read_config(config)
    cfg = TrainConfig.from_dict(fields)
    cfg.data = str(data)
    if out:
        cfg.out = str(out)
    if steps:
        cfg.steps = steps
    if max_minutes:
        cfg.max_minutes = max_minutes
    if resume and not resume.is_file():
        raise VunetError(resume, "no such checkpoint")
    weights = run_training(cfg, resume=str(resume) if resume else None, log=typer.echo)
    typer.echo(f"weights: {weights}")


def _read_config(path: Path) -> dict:
    import json
    import tomllib

    if not path.is_file():
        raise VunetError(path, "no such config file")
    try:
        if path.suffix == ".json":
            return json.loads(path.read_text())
        return tomllib.loads(path.read_text())
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise VunetError(path, f"not a valid config ({e})") from None


@app.command("eval")
@user_errors
def evaluate_cmd(
    data: Path = typer.Option(..., help="Dataset cache with held-out clips."),
    weights: Path = typer.Option(None, help="Checkpoint to score (default: the shipped weights)."),
    pairs_per_clip: int = typer.Option(40, help="Subject/target pairs drawn from each held-out clip."),
    seed: int = typer.Option(0),
    json_out: Path = typer.Option(None, "--json", help="Also write the results as JSON here."),
):
    """Score the VUNet and two baselines on held-out pairs (SSIM, PSNR, L1, PCK@0.1)."""
    import json

    from .model.io import load_model
    from .render.synthesizer import Synthesizer
    from .train.evaluate import evaluate, format_table

    result = evaluate(Synthesizer(load_model(weights)), str(data), pairs_per_clip, seed)
    typer.echo(format_table(result))
    if json_out:
        json_out.write_text(json.dumps(result, indent=2))


def main() -> None:  # pragma: no cover - entry point for `python -m vunet_video`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
