"""The `vunet-video` command line: a thin layer over the Python API.

Each command parses its options and calls one API function (`Animator.animate`,
`batch.run_batch`, `stills.render_pose`, ...). Every command turns a `VunetError` (bad
input, existing output, missing model) into one line on stderr and exit code 1; anything
else is a bug and keeps its traceback. `main()`, the entry point, makes option errors one
line with exit code 2 and SIGTERM a clean stop (exit code 143) like Ctrl-C (130).

The options `animate` and `batch` share (those that override preset settings) are
defined once below, as typer `Annotated` types, and turned into setting overrides by one
function, `_overrides`.
"""

from __future__ import annotations

import functools
import signal
import sys
import tomllib
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .errors import VunetError

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  help="Make the person in a photo perform the motion of a driving video (Variational U-Net).")
dataset_app = typer.Typer(no_args_is_help=True, help="Build and inspect training sets.")


def user_errors(fn):
    """Report VunetError as one line and exit 1 instead of a traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except VunetError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (Terminated) under main()
            _stopped.append(type(e).__name__)
            typer.echo("terminated" if isinstance(e, Terminated) else "interrupted", err=True)
            raise typer.Exit(TERMINATED_EXIT if isinstance(e, Terminated) else INTERRUPTED_EXIT) from None
    return wrapper


# --- stopping: Ctrl-C and SIGTERM ----------------------------------------------------------------

INTERRUPTED_EXIT, TERMINATED_EXIT, USAGE_EXIT = 130, 143, 2
_stopped: list[str] = []  # the interrupt user_errors reported, so main() does not repeat it


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so the same cleanup runs: writers
    delete their partial files, batch workers are stopped."""


_sigterm_received = False


def _on_sigterm(signum, frame) -> None:
    global _sigterm_received
    _sigterm_received = True
    # Once: a second SIGTERM must not cut short the cleanup the first one started.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"vunet-video {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
):
    """Make the person in a photo perform the motion of a driving video (Variational U-Net)."""


# --- options shared by animate and batch ------------------------------------------------------
# Help texts name choices from the registries and show the default preset's values
# (read from its file, which is cheap; the chosen preset may differ).

@functools.cache
def _default_preset() -> dict:
    from .presets import PRESETS_DIR

    try:
        return tomllib.loads((PRESETS_DIR / "default.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def _preset_default(section: str, key: str) -> str:
    value = _default_preset().get(section, {}).get(key)
    return "the preset's" if value is None else f"{value} in the default preset"


def _export_help() -> str:
    from .video.formats import EXPORTS

    return "; ".join(f"{name}: {f.description}" for name, f in EXPORTS.items())


def _backend_names() -> str:
    from .pose.estimator import backend_names

    return ", ".join(backend_names())


def _preset_names() -> str:
    from .presets import available

    return ", ".join(available())


PresetOpt = Annotated[str, typer.Option(help=f"Preset ({_preset_names()}) or the path of a .toml file.")]
SizeOpt = Annotated[Optional[int], typer.Option(
    help="Longer side of the output in px (0 = the photo's size).", show_default=_preset_default("render", "size"))]
BackgroundOpt = Annotated[Optional[str], typer.Option(
    help="subject (the photo, person removed), color or alpha (transparent; png or prores export).",
    show_default=_preset_default("render", "background"))]
ColorOpt = Annotated[Optional[str], typer.Option(
    help="Background colour for --background color, e.g. '#00b140'.", show_default=_preset_default("render", "color"))]
ExportOpt = Annotated[Optional[str], typer.Option(help=_export_help() + ".",
                                                  show_default=_preset_default("output", "export"))]
NoRetargetOpt = Annotated[bool, typer.Option("--no-retarget", help="Keep the dancer's proportions and "
                                             "placement (driving frame scaled to fit the photo).")]
NoSmoothOpt = Annotated[bool, typer.Option("--no-smooth", help="No One Euro smoothing of the driving poses.")]
BackendOpt = Annotated[Optional[str], typer.Option(help=f"Pose backend for the driving video: {_backend_names()}.",
                                                   show_default=_preset_default("pose", "backend"))]
PersonOpt = Annotated[Optional[str], typer.Option(
    "--person", help="Whom to follow when the driving video shows several people: a rank (1 = the most prominent, "
    "2, ...), left, right, or X,Y (a point in the first frame). Needs a person detector to see several "
    "($VUNET_DET_MODEL) with the mediapipe backend.", show_default=_preset_default("pose", "person"))]
PersonAtOpt = Annotated[Optional[str], typer.Option(
    "--person-at", metavar="X,Y", help="Follow the driving video's person at this point of the first frame "
    "(pixels); the same as --person X,Y.")]
SubjectPersonOpt = Annotated[Optional[str], typer.Option(
    "--subject-person", help="Whom to animate when the subject photo shows several people (forms as --person).",
    show_default=_preset_default("pose", "subject_person"))]
FinetuneOpt = Annotated[Optional[int], typer.Option(
    "--finetune-steps", min=0, help="Steps of fine-tuning on the subject photo before rendering (0 = off).",
    show_default=_preset_default("model", "finetune_steps"))]
DeviceOpt = Annotated[Optional[str], typer.Option(help="Where the model runs: auto (CUDA when available), cpu, cuda.",
                                                  show_default=_preset_default("model", "device"))]
WeightsOpt = Annotated[Optional[Path], typer.Option(
    help="Checkpoint (default: the preset's, else $VUNET_WEIGHTS, else the shipped weights).")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")]
DetailOpt = Annotated[Optional[str], typer.Option(
    help="photo: the photo's own pixels moved at the output's resolution, completed by the model; "
         "model: the model's 128 px render scaled up.", show_default=_preset_default("render", "detail"))]


def _overrides(size, background, color, export, backend, no_retarget, no_smooth, finetune_steps, device,
               detail=None, person=None, person_at=None, subject_person=None) -> dict:
    """The setting overrides the shared options give (None: not given, the preset decides)."""
    if person is not None and person_at is not None:
        raise VunetError(None, "give --person or --person-at, not both")
    return {"size": size, "background": background, "color": color, "export": export, "backend": backend,
            "retarget": False if no_retarget else None, "smooth": False if no_smooth else None,
            "finetune_steps": finetune_steps, "device": device, "detail": detail,
            "pose.person": person if person is not None else person_at, "pose.subject_person": subject_person}


# --- animate -----------------------------------------------------------------------------------

@app.command()
@user_errors
def animate(
    subject: Annotated[Path, typer.Argument(help="Photo of the person to animate.")],
    driving: Annotated[Path, typer.Argument(help="Driving video, or a pose JSON file / OpenPose output.")],
    output: Annotated[Optional[Path], typer.Option(
        "-o", "--output", help="Output file (folder for --export png).",
        show_default="<subject>_<driving> + the export's suffix, here")] = None,
    preset: PresetOpt = "default",
    size: SizeOpt = None,
    background: BackgroundOpt = None,
    detail: DetailOpt = None,
    color: ColorOpt = None,
    export: ExportOpt = None,
    start: Annotated[Optional[float], typer.Option(help="First second of the driving clip to render.")] = None,
    end: Annotated[Optional[float], typer.Option(help="Second of the driving clip to stop at.")] = None,
    no_retarget: NoRetargetOpt = False,
    no_smooth: NoSmoothOpt = False,
    backend: BackendOpt = None,
    person: PersonOpt = None,
    person_at: PersonAtOpt = None,
    subject_person: SubjectPersonOpt = None,
    finetune_steps: FinetuneOpt = None,
    device: DeviceOpt = None,
    weights: WeightsOpt = None,
    fps: Annotated[Optional[float], typer.Option(help="Frame rate of pose-file driving input that has none.")] = None,
    audio: Annotated[Optional[Path], typer.Option(help="File to take the sound from (pose-file driving input).")] = None,
    overwrite: OverwriteOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    profile: Annotated[bool, typer.Option("--profile", help="Then print where the time went: each stage's busy "
                                          "time and rate, the bottleneck, the time to the first frame.")] = False,
    compare: Annotated[Optional[str], typer.Option(
        "--compare", metavar="side|grid", help="Also write <output>_compare.mp4: the driving video, its skeleton "
        "and the result side by side (grid: with the target pose), with the sound.",
        show_default=_preset_default("output", "compare"))] = None,
    timeline: Annotated[Optional[bool], typer.Option(
        "--timeline", help="Also write <output>.otio: the render (with its alpha) and the driving clip's sound on "
        "an OpenTimelineIO timeline, for editors.", show_default=False)] = None,
):
    """Make the person in SUBJECT perform the motion of DRIVING."""
    from .pipeline import Animator, default_output
    from .video.images import check_pixels

    check_pixels(subject)  # an oversized photo is refused from its header before the model loads (seconds)
    animator = Animator(weights, preset, **_overrides(size, background, color, export, backend, no_retarget,
                                                      no_smooth, finetune_steps, device, detail, person, person_at,
                                                      subject_person), **{"output.compare": compare, "output.timeline": timeline})
    output = output or default_output(subject, driving, animator.settings.output.export)
    result = animator.animate(subject, driving, output, start=start, end=end, fps=fps, audio=audio,
                              overwrite=overwrite, quiet=quiet)
    typer.echo(str(result))
    if profile:
        from .stages import profile_lines

        typer.echo("\n".join(profile_lines(result.profile)))


# --- batch ---------------------------------------------------------------------------------------

@app.command()
@user_errors
def batch(
    outdir: Annotated[Path, typer.Option("-o", "--outdir", help="Folder for the outputs and batch_summary.csv "
                                         "(created when missing).")],
    subjects: Annotated[Optional[Path], typer.Option(help="Folder of subject photos (with --driving).")] = None,
    driving: Annotated[Optional[Path], typer.Option(help="Folder of driving videos / pose JSON files "
                                                    "(every subject x every driving input).")] = None,
    pairs: Annotated[Optional[Path], typer.Option(help="CSV with columns subject,driving[,output]; subject/driving "
                                                  "relative to the CSV's folder, output relative to OUTDIR.")] = None,
    preset: PresetOpt = "default",
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Pairs rendered at once (worker processes).")] = 1,
    size: SizeOpt = None,
    background: BackgroundOpt = None,
    detail: DetailOpt = None,
    color: ColorOpt = None,
    export: ExportOpt = None,
    no_retarget: NoRetargetOpt = False,
    no_smooth: NoSmoothOpt = False,
    backend: BackendOpt = None,
    person: PersonOpt = None,
    person_at: PersonAtOpt = None,
    subject_person: SubjectPersonOpt = None,
    finetune_steps: FinetuneOpt = None,
    device: DeviceOpt = None,
    weights: WeightsOpt = None,
    fps: Annotated[Optional[float], typer.Option(help="Frame rate of pose-file driving inputs that have none "
                                                 "(OpenPose).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Redo pairs whose output exists (default: "
                                            "skip those a batch record vouches for, redo the batch's own "
                                            "unfinished ones, refuse the rest).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No line per finished pair; only the "
                                        "summary.")] = False,
):
    """Run animate over many subject x driving pairs; skips finished outputs, goes on past failures.

    Prints a summary table (also written to OUTDIR/batch_summary.csv); exits 1 when any pair failed.
    """
    from . import batch as b

    overrides = _overrides(size, background, color, export, backend, no_retarget, no_smooth, finetune_steps, device,
                           detail, person, person_at, subject_person)

    def report(result, done, total):
        b.print_trace(result)
        if not quiet:
            typer.echo(b.progress_line(result, done, total), err=True)

    def started(pair):
        if not quiet:
            typer.echo(f"[start] {pair.name} -> {pair.output}", err=True)

    results = b.batch_folder(outdir, subjects=subjects, driving=driving, pairs_csv=pairs, weights=weights,
                             preset=preset, overrides=overrides, jobs=jobs, overwrite=overwrite, fps=fps,
                             on_result=report, on_start=started)
    typer.echo(b.format_summary(results))
    typer.echo(f"summary: {Path(outdir) / b.SUMMARY_NAME}")
    if b.counts(results)["failed"]:
        raise typer.Exit(1)


# --- render, transfer, sample: single images ---------------------------------------------------

ImageOutOpt = Annotated[Path, typer.Option("-o", "--output", help="Image to write (.png, .jpg, ...).")]
FrameOpt = Annotated[int, typer.Option(min=0, help="Frame of a pose JSON file to use.")]
StillQuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar during the fine-tune.")]
# (0 since 0.3.24, as animate's default preset: on the photo path the tune bought next to nothing;
# benchmarks/results/finetune_budget_at_0.3.23.md)
StillFinetuneOpt = Annotated[int, typer.Option("--finetune-steps", min=0, help="Steps of fine-tuning on the "
                                               "subject photo first (0 = off; --detail model gains most from it).")]
StillDeviceOpt = Annotated[str, typer.Option(help="Where the model runs: auto (CUDA when available), cpu, cuda.")]
StillDetailOpt = Annotated[str, typer.Option(help="photo: the person's own pixels at the photo's resolution, in "
                                             "its scene; model: the model's S x S crop on grey.")]
StillWeightsOpt = Annotated[Optional[Path], typer.Option(help="Checkpoint (default: $VUNET_WEIGHTS, else the "
                                                         "shipped weights).")]


@app.command("render")
@user_errors
def render_cmd(
    subject: Annotated[Path, typer.Argument(help="Photo of the person to render.")],
    pose: Annotated[Path, typer.Argument(help="Pose JSON / OpenPose file, a photo of someone in the pose, "
                                         "or a stickman image drawn in the model's convention.")],
    out: ImageOutOpt,
    frame: FrameOpt = 0,
    no_retarget: Annotated[bool, typer.Option("--no-retarget", help="Use the pose's own proportions.")] = False,
    finetune_steps: StillFinetuneOpt = 0,
    detail: StillDetailOpt = "photo",
    weights: StillWeightsOpt = None,
    device: StillDeviceOpt = "auto",
    overwrite: OverwriteOpt = False,
    quiet: StillQuietOpt = False,
):
    """Render the subject of a photo in another pose, at the photo's resolution in its scene
    (or, with --detail model or a drawn stickman, as the model's S x S person crop)."""
    from .video.images import check_pixels

    check_pixels(subject)  # before importing the model (seconds)
    from .stills import render_pose

    typer.echo(render_pose(subject, pose, out, frame=frame, retarget=not no_retarget, finetune_steps=finetune_steps,
                           detail=detail, weights=weights, device=device, overwrite=overwrite, progress=not quiet))


@app.command("transfer")
@user_errors
def transfer_cmd(
    appearance: Annotated[Path, typer.Argument(help="Photo whose person's appearance is used.")],
    shape: Annotated[Path, typer.Argument(help="Photo whose person's pose and framing are used.")],
    out: ImageOutOpt,
    finetune_steps: StillFinetuneOpt = 0,
    detail: StillDetailOpt = "photo",
    weights: StillWeightsOpt = None,
    device: StillDeviceOpt = "auto",
    overwrite: OverwriteOpt = False,
    quiet: StillQuietOpt = False,
):
    """Put the appearance of one photo's person on the pose of another's, in the other
    photo's scene at its resolution (or, with --detail model, as the S x S crop)."""
    from .video.images import check_pixels

    for photo in (appearance, shape):  # before importing the model (seconds)
        check_pixels(photo)
    from .stills import transfer

    typer.echo(transfer(appearance, shape, out, finetune_steps=finetune_steps, detail=detail, weights=weights,
                        device=device, overwrite=overwrite, progress=not quiet))


@app.command("sample")
@user_errors
def sample_cmd(
    pose_source: Annotated[Path, typer.Argument(metavar="POSE", help="Photo, pose JSON / OpenPose file, or "
                                                "stickman image.")],
    out: ImageOutOpt,
    n: Annotated[int, typer.Option("-n", min=1, max=64, help="Number of appearances to draw.")] = 4,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    frame: FrameOpt = 0,
    weights: StillWeightsOpt = None,
    device: StillDeviceOpt = "auto",
    overwrite: OverwriteOpt = False,
):
    """Draw new people from the model's prior in one pose: a row of the stickman and n samples."""
    from .stills import sample

    typer.echo(sample(pose_source, out, n=n, seed=seed, frame=frame, weights=weights, device=device,
                      overwrite=overwrite))


# --- the pose stage ------------------------------------------------------------------------------

@app.command("pose")
@user_errors
def pose_cmd(
    source: Path = typer.Argument(..., metavar="INPUT", help="Video or photo."),
    output: Path = typer.Option(..., "-o", "--output", help="Pose JSON to write (docs/pose_json.md)."),
    preview: Path = typer.Option(None, "--preview", help="Also write the skeleton over the darkened frames (.mp4; .png for a photo)."),
    backend: str = typer.Option("auto", "--backend", help=f"Pose backend: {_backend_names()}."),
    smooth: bool = typer.Option(True, "--smooth/--no-smooth", help="One Euro temporal smoothing (videos)."),
    person: PersonOpt = None,
    person_at: PersonAtOpt = None,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
):
    """Estimate the main subject's (or the --person's) COCO-17 pose in every frame of a video (or in a photo)."""
    from .pose.extract import extract_poses

    chosen = _overrides(*[None] * 9, person=person, person_at=person_at)["pose.person"] or "1"
    done = extract_poses(source, output, preview=preview, backend=backend, smooth=smooth,
                         overwrite=overwrite, progress=not quiet, person=chosen)
    if not quiet:
        typer.echo(f"{done['output']}: {done['frames']} frame(s), person found in {done['found']} "
                   f"(backend {done['backend']})", err=True)


# --- the web page ------------------------------------------------------------------------------

@app.command("ui")
@user_errors
def ui_cmd(
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 7860,
    open_browser: Annotated[bool, typer.Option("--open", help="Open it in the default browser.")] = False,
):
    """A local web page: drop a photo and a video, see their poses, render, play and download."""
    try:
        import gradio  # noqa: F401
    except ImportError:  # gradio is the optional extra "ui"
        raise VunetError(None, "the web page needs gradio: pip install 'vunet-video[ui]'") from None
    from .ui import serve

    typer.echo(f"vunet-video ui on http://{host}:{port} (Ctrl-C to stop)", err=True)
    serve(host, port, open_browser)


# --- the model: dataset, train, eval ---------------------------------------------------------

@dataset_app.command("build")
@user_errors
def dataset_build(
    sources: list[Path] = typer.Argument(..., help="Photo folders, videos, or folders of videos."),
    out: Path = typer.Option(..., "-o", "--out", help="Cache folder to write."),
    size: int = typer.Option(256, help="Side of the cached person crops."),
    every: int = typer.Option(2, help="Keep every n-th video frame."),
    holdout_clip: list[str] = typer.Option([], "--holdout-clip", help="Video stem held out whole (repeatable)."),
    val_clip: list[str] = typer.Option([], "--val-clip", help="Video stem kept whole for validation (repeatable)."),
    novelty: float = typer.Option(0.0, min=0.0, help="Keep a video frame only if its pose moved this far from the "
                                  "last kept one (mean joint shift, in torso lengths; 0 = keep all)."),
    holdout_photos: float = typer.Option(0.05, help="Fraction of each photo folder held out (last by name)."),
    limit: int = typer.Option(0, help="At most this many items per source (0 = all)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
):
    """Label photos and video frames with the pose stage and cache person crops for training."""
    from .train.dataset import BuildOptions, build_dataset

    opts = BuildOptions(size=size, every=every, heldout_clips=tuple(holdout_clip), val_clips=tuple(val_clip),
                        novelty=novelty, heldout_photo_fraction=holdout_photos, limit=limit or None)
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
    typer.echo("| source | seen | kept | no person | no torso | too still | unreadable |")
    typer.echo("| --- | --- | --- | --- | --- | --- | --- |")
    for name, c in counts.items():
        typer.echo(f"| {name} | {c['seen']} | {c['kept']} | {c['no_person']} | {c['no_torso']} | {c['still']} "
                   f"| {c['unreadable']} |")


@app.command()
@user_errors
def train(
    data: Path = typer.Option(..., help="Dataset cache from `vunet-video dataset build`."),
    config: Path = typer.Option(None, help="TOML or JSON file of TrainConfig fields, a [model] table for "
                                "VUNetConfig (the shipped model's: configs/vunet_128.toml)."),
    out: Path = typer.Option(None, help="Run folder (checkpoint, log.csv, sample grids, weights)."),
    resume: Path = typer.Option(None, help="checkpoint.pt to continue from, exactly."),
    steps: int = typer.Option(0, help="Override the number of steps."),
    max_minutes: float = typer.Option(0.0, help="Stop after a checkpoint once this much time has passed."),
    init: Path = typer.Option(None, help="Start from these weights (e.g. the shipped ones) with a fresh optimiser."),
    snapshot_every: int = typer.Option(0, min=0, help="Keep the weights of every n-th step in OUT/snapshots/ (0 = off)."),
    workers: int = typer.Option(-1, min=-1, help="Processes making batches, for a GPU that outruns the loop "
                                "(-1 = the config's; 0 = in the loop)."),
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
    if workers >= 0:
        cfg.workers = workers
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
    seed: int = typer.Option(0, help="Random seed of the pair draw."),
    split: str = typer.Option("heldout", help="Which clips: heldout (the test set) or val (the validation set)."),
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

    if split not in ("heldout", "val"):
        raise typer.BadParameter(f"{split!r}: use heldout or val", param_hint="--split")
    with tqdm(unit="pair", desc="scoring") as bar:
        def progress(done, total):
            bar.total = total
            bar.update(1)

        estimator = make_estimator(pose_backend, det_model=det_model)
        result = evaluate(Synthesizer(load_model(weights)), str(data), pairs_per_clip, seed, estimator=estimator,
                          progress=progress, finetune_steps=finetune_steps, subjects_per_group=subjects_per_clip,
                          split=split)
    typer.echo(format_table(result))
    if json_out:
        json_out.write_text(json.dumps(result, indent=2))


# dataset's subcommands come after the commands above in the help
app.add_typer(dataset_app, name="dataset")


def _click_exceptions() -> tuple[type, type]:
    """(ClickException, UsageError) of the click that typer runs on (vendored since typer 0.22)."""
    try:
        from typer._click.exceptions import ClickException, UsageError
    except ImportError:
        from click.exceptions import ClickException, UsageError
    return ClickException, UsageError


def main(args: list[str] | None = None) -> int:
    """The entry point of `vunet-video` and `python -m vunet_video`; returns the exit code.

    Runs the app outside click's standalone mode so that an option error (unknown option,
    missing argument, a value out of range) is one line, `error: <message>`, with exit
    code 2 instead of a usage block; SIGTERM stops a run like Ctrl-C (partial files are
    removed) with the line `terminated` and exit code 143 (Ctrl-C: `interrupted`, 130).
    """
    global _sigterm_received
    ClickException, UsageError = _click_exceptions()
    _stopped.clear()
    _sigterm_received = False
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = app(args=args, prog_name="vunet-video", standalone_mode=False)
    except UsageError as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # a bare `vunet-video` (or group): the help
            e.show()
            return USAGE_EXIT
        typer.echo(f"error: {' '.join(e.format_message().split())}", err=True)
        return USAGE_EXIT
    except ClickException as e:
        typer.echo(f"error: {' '.join(e.format_message().split())}", err=True)
        return e.exit_code
    except (typer.Abort, KeyboardInterrupt):  # Abort: click's own interrupt (EOF at a prompt)
        code = INTERRUPTED_EXIT
    if not isinstance(code, int):
        code = 0  # a command that returned normally
    if code in (INTERRUPTED_EXIT, TERMINATED_EXIT) and not _stopped:
        # Stopped outside a command, where user_errors did not report it (typer turns a
        # KeyboardInterrupt there into exit code 130 without a word).
        code = TERMINATED_EXIT if _sigterm_received else INTERRUPTED_EXIT
        typer.echo("terminated" if code == TERMINATED_EXIT else "interrupted", err=True)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
