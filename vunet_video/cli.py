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
    config: Path = typer.Option(None, help="TOML or JSON file of TrainConfig fields, a \\[model] table for "
                                "VUNetConfig (the shipped model's: configs/vunet_128.toml)."),
    out: Path = typer.Option(None, help="Run folder (checkpoint, log.csv, sample grids, weights)."),
    resume: Path = typer.Option(None, help="checkpoint.pt to continue from, exactly."),
    steps: int = typer.Option(0, help="Override the number of steps."),
    max_minutes: float = typer.Option(0.0, help="Stop after a checkpoint once this much time has passed."),
    init: Path = typer.Option(None, help="Start from these weights (e.g. the shipped ones) with a fresh optimiser."),
    snapshot_every: int = typer.Option(0, min=0, help="Keep the weights of every n-th step in OUT/snapshots/ (0 = off)."),
):
    """Train the VUNet."""
    from .train.train import TrainConfig, load_config, train as run_training

    cfg = load_config(config) if config else TrainConfig()
    cfg.data = str(data)
    if out:
        cfg.out = str(out)
    if steps:
        cfg.steps = steps
    if max_minutes:
        cfg.max_minutes = max_minutes
    if init:
        cfg.init = str(init)
    if snapshot_every:
        cfg.snapshot_every = snapshot_every
    if resume and not resume.is_file():
        raise VunetError(resume, "no such checkpoint")
    weights = run_training(cfg, resume=str(resume) if resume else None, log=typer.echo)
    typer.echo(f"weights: {weights}")


@app.command("eval")
@user_errors
def evaluate_cmd(
    data: Path = typer.Option(..., help="Dataset cache with held-out clips."),
    weights: Path = typer.Option(None, help="Checkpoint to score (default: the shipped weights)."),
    pairs_per_clip: int = typer.Option(40, help="Subject/target pairs drawn from each held-out clip."),
    subjects_per_clip: int = typer.Option(4, help="Subject frames per clip (the pairs are split among them)."),
    finetune_steps: int = typer.Option(100, min=0, help="Steps of the per-subject fine-tune scored as "
                                       "vunet_finetuned (0 = skip that method)."),
    seed: int = typer.Option(0),
    pose_backend: str = typer.Option("auto", help="Pose stage that scores PCK: auto, rtmlib or mediapipe."),
    det_model: str = typer.Option(None, help="Person detector ONNX for the pose stage (default: "
                                  "$VUNET_DET_MODEL or rtmlib's cache; none = MediaPipe's own detector)."),
    json_out: Path = typer.Option(None, "--json", help="Also write the results as JSON here."),
):
    """Score the VUNet (as is and fine-tuned per subject) and two baselines on held-out pairs
    (SSIM, PSNR, L1, PCK@0.1)."""
    import json

    from .model.io import load_model
    from .pose import make_estimator
    from .render.synthesizer import Synthesizer
    from .train.evaluate import evaluate, format_table

    from tqdm import tqdm

    with tqdm(unit="pair", desc="scoring") as bar:
        def progress(done, total):
            bar.total = total
            bar.update(1)

        estimator = make_estimator(pose_backend, det_model=det_model)
        result = evaluate(Synthesizer(load_model(weights)), str(data), pairs_per_clip, seed, estimator=estimator,
                          progress=progress, finetune_steps=finetune_steps, subjects_per_group=subjects_per_clip)
    typer.echo(format_table(result))
    if json_out:
        json_out.write_text(json.dumps(result, indent=2))


# --- render, transfer, sample: single images ---------------------------------------------------

def _synthesizer(weights: Path | None):
    import os

    from .model.io import load_model
    from .render.synthesizer import Synthesizer

    return Synthesizer(load_model(weights or os.environ.get("VUNET_WEIGHTS") or None))


@app.command("render")
@user_errors
def render_cmd(
    subject: Path = typer.Argument(..., help="Photo of the person to render."),
    pose: Path = typer.Argument(..., help="Pose JSON / OpenPose file, a photo of someone in the pose, "
                                "or a stickman image drawn in the model's convention."),
    out: Path = typer.Option(..., "-o", "--output", help="Image to write (.png, .jpg)."),
    frame: int = typer.Option(0, help="Frame of a pose JSON file to use."),
    no_retarget: bool = typer.Option(False, "--no-retarget", help="Use the pose's own proportions."),
    finetune_steps: int = typer.Option(100, "--finetune-steps", min=0, help="Steps of fine-tuning on the subject "
                                       "photo first (0 = off)."),
    weights: Path = typer.Option(None, help="Checkpoint (default: $VUNET_WEIGHTS or the shipped weights)."),
    overwrite: bool = typer.Option(False, "--overwrite"),
):
    """Render the subject of a photo in another pose, as the model's S x S person crop."""
    import numpy as np

    from .pipeline import render_stickman, shape_input, stickman_crop, write_image
    from .pose.estimator import photo_pose
    from .render.framing import person_box
    from .render.retarget import Retargeter
    from .render.synthesizer import render_in_pose
    from .video import read_image

    synth = _synthesizer(weights)
    image = read_image(subject)
    subject_pose = photo_pose(image, subject)
    shape = shape_input(pose, frame)
    if isinstance(shape, np.ndarray):  # a stickman image is the shape input itself
        encoded = synth.encode(image, subject_pose, subject_pose.mask, finetune_steps=finetune_steps)
        result = render_stickman(encoded.synth, encoded.appearance, stickman_crop(shape, synth.size))
    else:
        target = shape if no_retarget else Retargeter(subject_pose, shape)(shape)
        crop_pose = person_box(target).pose_to_crop(target, synth.size)
        result = render_in_pose(image, crop_pose, synth, subject_pose=subject_pose, finetune_steps=finetune_steps)
    typer.echo(write_image(out, result, overwrite))


@app.command("transfer")
@user_errors
def transfer_cmd(
    appearance: Path = typer.Argument(..., help="Photo whose person's appearance is used."),
    shape: Path = typer.Argument(..., help="Photo whose person's pose and framing are used."),
    out: Path = typer.Option(..., "-o", "--output", help="Image to write (.png, .jpg)."),
    finetune_steps: int = typer.Option(100, "--finetune-steps", min=0, help="Steps of fine-tuning on the "
                                       "appearance photo first (0 = off)."),
    weights: Path = typer.Option(None, help="Checkpoint (default: $VUNET_WEIGHTS or the shipped weights)."),
    overwrite: bool = typer.Option(False, "--overwrite"),
):
    """Put the appearance of one photo's person on the pose of another's (S x S crop)."""
    from .pipeline import write_image
    from .pose.estimator import photo_pose
    from .render.synthesizer import transfer_appearance
    from .video import read_image

    synth = _synthesizer(weights)
    a_image, s_image = read_image(appearance), read_image(shape)
    # Poses found here so that an error names the file.
    a_pose, s_pose = photo_pose(a_image, appearance), photo_pose(s_image, shape)
    result = transfer_appearance(a_image, s_image, synth, a_pose, s_pose, finetune_steps=finetune_steps)
    typer.echo(write_image(out, result, overwrite))


@app.command("sample")
@user_errors
def sample_cmd(
    pose_source: Path = typer.Argument(..., help="Photo, pose JSON / OpenPose file, or stickman image."),
    n: int = typer.Option(4, "-n", min=1, max=64, help="Number of appearances to draw."),
    out: Path = typer.Option(..., "-o", "--output", help="Grid image to write (.png, .jpg)."),
    seed: int = typer.Option(0, help="Random seed."),
    frame: int = typer.Option(0, help="Frame of a pose JSON file to use."),
    weights: Path = typer.Option(None, help="Checkpoint (default: $VUNET_WEIGHTS or the shipped weights)."),
    overwrite: bool = typer.Option(False, "--overwrite"),
):
    """Draw new people from the model's prior in one pose: a row of the stickman and n samples."""
    import numpy as np
    import torch

    from .pipeline import render_stickman, shape_input, stickman_crop, write_image
    from .render.framing import person_box
    from .model.stickman import draw_stickman
    from .render.synthesizer import sample_appearances

    synth = _synthesizer(weights)
    shape = shape_input(pose_source, frame)
    if isinstance(shape, np.ndarray):
        stick = stickman_crop(shape, synth.size)
        g = torch.Generator(device=synth.device).manual_seed(seed)
        samples = [render_stickman(synth, None, stick, generator=g) for _ in range(n)]
    else:
        crop_pose = person_box(shape).pose_to_crop(shape, synth.size)
        stick = draw_stickman(crop_pose, (synth.size, synth.size))
        samples = list(sample_appearances(crop_pose, n, seed, synth))
    typer.echo(write_image(out, np.concatenate([stick] + samples, axis=1), overwrite))


# --- animate -----------------------------------------------------------------------------------

@app.command()
@user_errors
def animate(
    subject: Path = typer.Argument(..., help="Photo of the person to animate."),
    driving: Path = typer.Argument(..., help="Driving video, or a pose JSON file / OpenPose output."),
    output: Path = typer.Option(None, "-o", "--output",
                                help="Output file (folder for --export png). Default: <subject>_<driving>.mp4 here."),
    preset: str = typer.Option("default", help="Preset name (presets/*.toml) or path of a .toml file."),
    size: int = typer.Option(None, help="Longer side of the output in px (0 = the photo's size)."),
    background: str = typer.Option(None, help="subject (photo, person removed), color or alpha."),
    color: str = typer.Option(None, help="Background colour for --background color, e.g. '#00b140'."),
    start: float = typer.Option(None, help="First second of the driving clip to render."),
    end: float = typer.Option(None, help="Second of the driving clip to stop at."),
    export: str = typer.Option(None, help="video (H.264 .mp4), png (RGBA sequence), prores (4444 .mov) "
                               "or keypoints (.json of the retargeted poses)."),
    no_retarget: bool = typer.Option(False, "--no-retarget", help="Keep the dancer's proportions and placement "
                                     "(driving frame scaled to fit the photo)."),
    no_smooth: bool = typer.Option(False, "--no-smooth", help="No One Euro smoothing of the driving poses."),
    backend: str = typer.Option(None, help="Pose backend: auto, mediapipe or rtmlib."),
    finetune_steps: int = typer.Option(None, "--finetune-steps", min=0, help="Steps of fine-tuning on the subject "
                                       "photo before rendering (preset default 100; 0 = off)."),
    weights: Path = typer.Option(None, help="Checkpoint (default: preset, $VUNET_WEIGHTS, shipped weights)."),
    fps: float = typer.Option(None, help="Frame rate of pose-file driving input that has none."),
    audio: Path = typer.Option(None, help="File to take the sound from (for pose-file driving input)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
):
    """Make the person in SUBJECT perform the motion of DRIVING."""
    from .pipeline import Animator, default_output

    overrides = {"size": size, "background": background, "color": color, "export": export, "backend": backend,
                 "retarget": False if no_retarget else None, "smooth": False if no_smooth else None,
                 "finetune_steps": finetune_steps}
    animator = Animator(weights, preset, **overrides)
    output = output or default_output(subject, driving, animator.settings["output"]["export"])
    result = animator.animate(subject, driving, output, start=start, end=end, fps=fps, audio=audio,
                              overwrite=overwrite, quiet=quiet)
    typer.echo(str(result))


# --- batch ---------------------------------------------------------------------------------------

@app.command()
@user_errors
def batch(
    outdir: Path = typer.Option(..., "-o", "--outdir", help="Folder for the outputs and batch_summary.csv "
                                "(created when missing)."),
    subjects: Path = typer.Option(None, "--subjects", help="Folder of subject photos (with --driving)."),
    driving: Path = typer.Option(None, "--driving", help="Folder of driving videos / pose JSON files "
                                 "(every subject x every driving input)."),
    pairs: Path = typer.Option(None, "--pairs", help="CSV with columns subject,driving[,output]; subject/driving "
                               "relative to the CSV's folder, output relative to OUTDIR."),
    preset: str = typer.Option("default", help="Preset name (presets/*.toml) or path of a .toml file."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Pairs rendered at once (worker processes)."),
    size: int = typer.Option(None, help="Longer side of the outputs in px (0 = each photo's size)."),
    background: str = typer.Option(None, help="subject (photo, person removed), color or alpha."),
    color: str = typer.Option(None, help="Background colour for --background color, e.g. '#00b140'."),
    export: str = typer.Option(None, help="video (.mp4), png (RGBA sequence folder), prores (4444 .mov) "
                               "or keypoints (.json)."),
    no_retarget: bool = typer.Option(False, "--no-retarget", help="Keep the dancers' proportions and placement."),
    no_smooth: bool = typer.Option(False, "--no-smooth", help="No One Euro smoothing of the driving poses."),
    backend: str = typer.Option(None, help="Pose backend: auto, mediapipe or rtmlib."),
    finetune_steps: int = typer.Option(None, "--finetune-steps", min=0, help="Steps of fine-tuning on the subject "
                                       "photo before rendering (preset default 100; 0 = off)."),
    weights: Path = typer.Option(None, help="Checkpoint (default: preset, $VUNET_WEIGHTS, shipped weights)."),
    fps: float = typer.Option(None, help="Frame rate of pose-file driving inputs that have none (OpenPose)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo pairs whose output exists (default: skip them)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No line per finished pair; only the summary."),
):
    """Run animate over many subject x driving pairs; skips finished outputs, goes on past failures.

    Prints a summary table (also written to OUTDIR/batch_summary.csv); exits 1 when any pair failed.
    """
    from . import batch as b
    from .presets import load_settings

    if pairs is not None and (subjects is not None or driving is not None):
        raise VunetError(None, "give either --pairs CSV or --subjects and --driving folders, not both")
    if pairs is None and (subjects is None or driving is None):
        raise VunetError(None, "give --subjects and --driving folders, or a --pairs CSV")
    overrides = {"size": size, "background": background, "color": color, "export": export, "backend": backend,
                 "retarget": False if no_retarget else None, "smooth": False if no_smooth else None,
                 "finetune_steps": finetune_steps}
    kind = load_settings(preset, overrides)["output"]["export"]
    todo = b.pairs_from_csv(pairs, outdir, kind) if pairs is not None else \
        b.pairs_from_folders(subjects, driving, outdir, kind)
    b.check_run(weights, preset, overrides)  # before the output folder is made
    outdir = b.prepare_outdir(outdir)

    def report(result, done, total):
        b.print_trace(result)
        if not quiet:
            typer.echo(b.progress_line(result, done, total), err=True)

    results = b.run_batch(todo, weights=weights, preset=preset, overrides=overrides, jobs=jobs,
                          overwrite=overwrite, fps=fps, on_result=report)
    summary = b.write_summary(results, outdir / b.SUMMARY_NAME)
    typer.echo(b.format_summary(results))
    typer.echo(f"summary: {summary}")
    if b.counts(results)["failed"]:
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - entry point for `python -m vunet_video`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
