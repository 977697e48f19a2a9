"""`Animator`: a photo's person performing a driving video's motion, frame in -> frame out.

    animator = Animator(preset="default")                 # loads the model once
    subject = animator.encode_subject("photo.jpg")        # pose, mask, plate, appearance
    result = animator.animate(subject, "dance.mp4", "out.mp4")

Per driving frame: decode -> pose (tracked, One Euro smoothed) -> retarget onto the
subject -> person box + stickman -> VUNet decoder (batches of frames) -> temporal filter
-> composite over the background -> encode, with the driving clip's sound. Only the
current batch of frames is ever held, so memory does not grow with the clip's length.

Behaviour at the edges:
* A driving frame without a usable person (nobody found, or fewer than 4 joints, or no
  shoulder or hip among them) repeats the last rendered pose; before the first person
  appears the subject is shown in their own photo pose. A clip with nobody in any frame
  is an error (and leaves no output).
* The retargeting reference is taken from the first `retarget.reference_frames` frames'
  confident poses (both shoulders seen; failing that, any usable pose); poses, not
  images, are held for that look-ahead.
* The subject photo is always posed by MediaPipe (with its person mask: the appearance
  encoder sees the person cut out on grey, as in training, and the 'subject' background
  paints them out by it); `pose.backend` chooses the driving video's backend.
* A photo with several people: the most prominent one is animated (noted in the result,
  when the backend reports several: MediaPipe alone sees one, with a person detector
  every person is posed).
  A half-body photo works: the joints it lacks take the dancer's proportions (see
  render/retarget.py) and are rendered with the model's guess of their appearance;
  usually they fall below the photo's bottom edge anyway.
* Driving poses may come from a pose JSON file or OpenPose output instead of a video
  (no sound unless `audio` names a file to take it from).

The output canvas is the subject photo's frame, scaled so its longer side is
`render.size` (0 = the photo's size).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time as _time
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import chain, islice
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from .errors import VunetError
from .pose.keypoints import Pose, usable
from .presets import load_settings

log = logging.getLogger(__name__)

EXPORT_SUFFIX = {"video": ".mp4", "png": "", "prores": ".mov", "keypoints": ".json"}
_POSE_SUFFIXES = (".json",)
WEIGHTS_ENV = "VUNET_WEIGHTS"


@dataclass
class EncodedSubject:
    """A subject photo ready to animate, at the output's scale."""

    source: str                 # file name, or "<array>"
    image: np.ndarray           # the photo, RGB, scaled to the output size
    pose: Pose                  # their pose in output pixels
    appearance: object          # Synthesizer.encode's Appearance (from the full-resolution photo)
    plate: np.ndarray | None    # the photo with the person painted out (background 'subject')
    people: int = 1             # people found in the photo
    notes: list[str] = field(default_factory=list)
    synth: object = None        # what renders them: the Animator's Synthesizer or its copy tuned on them

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the output canvas."""
        return self.image.shape[:2]


@dataclass
class AnimationResult:
    """What `Animator.animate` produced."""

    output: Path | None
    export: str
    frames: int
    fps: float
    duration: float
    size: tuple[int, int]        # (width, height)
    audio: bool
    held_frames: int             # frames without a driving person (last pose held)
    seconds: float               # wall-clock time of the run
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        where = str(self.output) if self.output else "(no file)"
        sound = "with sound" if self.audio else "silent"
        text = (f"{where}: {self.frames} frames, {self.size[0]}x{self.size[1]}, {self.fps:.3f} fps, "
                f"{self.duration:.2f} s, {sound}; took {self.seconds:.1f} s "
                f"({self.frames / max(self.seconds, 1e-9):.1f} frames/s)")
        if self.held_frames:
            text += f"; {self.held_frames} frame(s) without a driving person held the last pose"
        return "\n".join([text] + [f"note: {n}" for n in self.notes])


def default_output(subject: str | Path, driving: str | Path, export: str = "video") -> Path:
    """`<subject-stem>_<driving-stem>` + the export's suffix, in the current folder."""
    return Path(f"{Path(subject).stem}_{Path(driving).stem}{EXPORT_SUFFIX[export]}")


def write_image(path: str | Path, image: np.ndarray, overwrite: bool = False) -> Path:
    """Save an RGB or RGBA image atomically (temp file + rename); never clobbers unasked."""
    from .video.writer import check_output_path

    path = check_output_path(path, overwrite, (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"))
    code = cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, data = cv2.imencode(path.suffix, cv2.cvtColor(np.ascontiguousarray(image), code))
    if not ok:
        raise VunetError(path, "image encoding failed")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.tobytes())
        if not overwrite and path.exists():
            raise VunetError(path, "already exists (use --overwrite to replace it)")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


# ----------------------------------------------------------------------------- driving poses

class _CountingEstimator:
    """Passes an estimator through and remembers the most people seen in one frame."""

    def __init__(self, estimator):
        self.estimator, self.name, self.most_people = estimator, estimator.name, 0

    def __call__(self, image):
        people = self.estimator(image)
        self.most_people = max(self.most_people, len(people))
        return people

    def close(self):
        close = getattr(self.estimator, "close", None)
        if close:
            close()


class DrivingSource:
    """The driving motion as (index, time, pose): from a video (pose estimated per frame)
    or from a pose JSON file / OpenPose output. Streams; holds no frames."""

    def __init__(self, path: str | Path, settings: dict, start: float | None = None, end: float | None = None,
                 fps: float | None = None, audio: str | Path | None = None):
        self.path = Path(path)
        self.settings = settings
        self.start, self.end = start, end
        pose = settings["pose"]
        self.min_score = pose["min_score"]
        self.is_pose_file = self.path.is_dir() or self.path.suffix.lower() in _POSE_SUFFIXES
        self._estimator = None
        if self.is_pose_file:
            from .pose.io import read_pose_json

            self.header, self._records = read_pose_json(self.path, fps=fps)
            rate = self.header.get("fps") or fps or 25.0
            from .video.writer import exact_rate

            self.rate = exact_rate(rate)
            w, h = self.header.get("width"), self.header.get("height")
            self.frame_size = (int(h), int(w)) if w and h else None
            self.frame_count = self.header.get("frame_count")
            self.backend = self.header.get("backend") or "file"
            self.presmoothed = bool(self.header.get("smoothed"))
            self.audio_path = Path(audio) if audio else None
        else:
            from .video import VideoReader

            self.reader = VideoReader(self.path, start=start, end=end)
            info = self.reader.info
            self.rate = info.rate or Fraction(25)
            self.frame_size = (info.height, info.width)
            self.frame_count = len(self.reader)
            self.presmoothed = False
            self.audio_path = Path(audio) if audio else (self.path if info.has_audio else None)
            self._estimator = _CountingEstimator(self._make_estimator(pose))
            self.backend = self._estimator.name

    @staticmethod
    def _make_estimator(pose: dict):
        from .pose import make_estimator

        options = {k: (pose[k] or None) for k in ("det_model", "pose_model")}
        if pose["backend"] == "mediapipe":
            options.pop("pose_model")
        return make_estimator(pose["backend"], video_mode=True, **options)

    @property
    def most_people(self) -> int:
        return self._estimator.most_people if self._estimator else 1

    def _smoother(self):
        s = self.settings["smoothing"]
        if not s["enabled"] or self.presmoothed:
            return None
        from .pose import PoseSmoother

        return PoseSmoother(s["min_cutoff"], s["beta"], s["d_cutoff"], min_score=self.min_score)

    def __iter__(self) -> Iterator[tuple[int, float, Pose]]:
        smoother = self._smoother()
        if self.is_pose_file:
            for n, (index, t, pose) in enumerate(self._records):
                t = n / float(self.rate) if t is None else t
                if self.start is not None and t < self.start - 1e-6:
                    continue
                if self.end is not None and t >= self.end - 1e-6:
                    break
                yield index, t, (smoother(pose, t) if smoother else pose)
            return
        from .pose import SubjectTracker, track_poses

        tracker = SubjectTracker(min_score=self.min_score)
        with self.reader:
            for frame, pose in track_poses(self.reader, self._estimator, smoother, tracker):
                yield frame.index, frame.time, pose

    def close(self) -> None:
        if self._estimator is not None:
            self._estimator.close()


# ----------------------------------------------------------------------------- outputs

class _Sink:
    """Where frames go for one export; created at the first frame (the audio slice starts
    at that frame's time, exactly)."""

    def __init__(self, export: str, path: Path | None, settings: dict, overwrite: bool):
        self.export, self.path, self.overwrite = export, path, overwrite
        self.source: DrivingSource | None = None  # set once the driving input is open
        self.settings = settings
        self.writer = None
        self.alpha = settings["render"]["background"] == "alpha"

    def check(self) -> None:
        """Fail before any work for an output that cannot be written."""
        from .video.writer import check_output_folder, check_output_path

        if self.path is None:
            return
        if self.export == "png":
            if self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())) and not self.overwrite:
                raise VunetError(self.path, "already exists (use --overwrite to replace it)")
            check_output_folder(self.path.parent)
        else:
            suffixes = {"video": (".mp4", ".m4v", ".mov", ".mkv"), "prores": (".mov",), "keypoints": (".json",)}
            try:
                check_output_path(self.path, self.overwrite, suffixes[self.export])
            except VunetError as e:
                if "already exists" in e.problem:
                    raise VunetError(self.path, "already exists (use --overwrite to replace it)") from None
                raise

    def _open(self, first_time: float):
        from .video import PngSequenceWriter, ProResWriter, VideoWriter

        # The sound from the first rendered frame's time for as long as the video lasts
        # (the writer stops it at the last frame's end, which may lie just past `end`).
        audio = self.source.audio_path
        a_start = first_time if audio == self.source.path else 0.0
        a_end = None
        if self.export == "png":
            return PngSequenceWriter(self.path, overwrite=self.overwrite)
        if self.export == "prores":
            return ProResWriter(self.path, self.source.rate, audio_from=audio, audio_start=a_start,
                                audio_end=a_end, overwrite=self.overwrite)
        out = self.settings["output"]
        return VideoWriter(self.path, self.source.rate, audio_from=audio, audio_start=a_start, audio_end=a_end,
                           overwrite=self.overwrite, crf=out["crf"], preset=out["x264_preset"])

    def write(self, time: float, rgba: np.ndarray) -> None:
        if self.path is None:
            return
        if self.writer is None:
            self.writer = self._open(time)
        if self.export == "video":
            self.writer.write(rgba[..., :3])
        elif self.alpha:
            self.writer.write(rgba)
        else:  # an opaque background stays opaque in the export
            self.writer.write(rgba[..., :3])

    def close(self) -> bool:
        """Finish the file; True when it carries sound."""
        if self.writer is None:
            return False
        self.writer.close()
        return bool(getattr(self.writer, "has_audio", False))  # PNG sequences have none

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()


# ----------------------------------------------------------------------------- the animator

def _device(name: str) -> str:
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class Animator:
    """Animates subject photos with driving videos (see the module docstring).

    weights: checkpoint path; None = the preset's model.weights, else $VUNET_WEIGHTS,
             else the shipped weights.
    preset:  preset name (presets/<name>.toml) or path; **overrides win over it
             (e.g. background="alpha", size=512, smooth=False, "render.temporal"=0).
    """

    def __init__(self, weights: str | Path | None = None, preset: str | Path = "default", **overrides):
        from .model.io import load_model
        from .render.synthesizer import Synthesizer

        self.settings = load_settings(preset, overrides)
        model_cfg = self.settings["model"]
        path = weights or model_cfg["weights"] or os.environ.get(WEIGHTS_ENV) or None
        device = _device(model_cfg["device"])
        self.synth = Synthesizer(load_model(path, device=device), device=device)
        self.size = self.synth.size

    # -- the subject, once per run

    def encode_subject(self, photo: str | Path | np.ndarray, quiet: bool = True) -> EncodedSubject:
        """Pose, person mask, background plate and appearance code of a photo's person (and
        the model fine-tuned on them, per model.finetune_steps; quiet: no progress bar)."""
        from tqdm import tqdm

        from .pose import make_estimator
        from .pose.tracking import main_subject

        if isinstance(photo, np.ndarray):
            image, source = np.ascontiguousarray(photo[..., :3]), "<array>"
        else:
            from .video import read_image

            image, source = read_image(photo), str(photo)
        render = self.settings["render"]
        pose_cfg = self.settings["pose"]
        # The photo is always posed by MediaPipe, the one backend that gives a person mask:
        # the appearance encoder takes the person cut out on grey (as in training) and the
        # 'subject' background paints the person out by it.
        estimator = make_estimator("mediapipe", segmentation=True, det_model=pose_cfg["det_model"] or None)
        try:
            people = [p for p in estimator(image) if not p.is_empty(pose_cfg["min_score"])]
        finally:
            getattr(estimator, "close", lambda: None)()
        pose = main_subject(people, image.shape[:2], pose_cfg["min_score"])
        if pose.is_empty(pose_cfg["min_score"]) or not usable(pose, pose_cfg["min_score"]):
            raise VunetError(source, "no person found in the photo")
        notes = []
        if len(people) > 1:
            x0, y0, x1, y1 = pose.bbox()
            notes.append(f"{source}: {len(people)} people in the photo; animating the most prominent one "
                         f"(around x {x0:.0f}-{x1:.0f}, y {y0:.0f}-{y1:.0f})")
        if not pose.visible(pose_cfg["min_score"])[[13, 14, 15, 16]].any():
            notes.append(f"{source}: no legs visible (half-body photo); legs take the dancer's proportions")
        # Full resolution: the best crop. With model.finetune_steps the model is first tuned
        # on this photo (once per subject; every frame then renders with the tuned copy).
        # A keypoints export renders nothing, so it skips the tune.
        steps = 0 if self.settings["output"]["export"] == "keypoints" else self.settings["model"]["finetune_steps"]
        with tqdm(total=steps, unit="step", desc="fine-tune on subject", disable=quiet or not steps,
                  dynamic_ncols=True, leave=False) as bar:
            encoded = self.synth.encode(image, pose, pose.mask, finetune_steps=steps,
                                        progress=lambda n: bar.update(n - bar.n))

        scale = 1.0 if not render["size"] else render["size"] / max(image.shape[:2])
        if scale != 1.0:
            h, w = image.shape[:2]
            size = (max(2, round(w * scale)), max(2, round(h * scale)))
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
            mask = None if pose.mask is None else cv2.resize(pose.mask, size, interpolation=cv2.INTER_LINEAR)
            image, pose = small, Pose(pose.transformed(scale).xy, pose.score, mask)
        subject = EncodedSubject(source, image, pose, encoded.appearance, None, len(people), notes, encoded.synth)
        if render["background"] == "subject":
            self._add_plate(subject)
        return subject

    @staticmethod
    def _add_plate(subject: EncodedSubject) -> None:
        """The photo with the person painted out, as the 'subject' background."""
        from .render.compose import person_hole, remove_person

        if subject.plate is None:
            hole = person_hole(subject.pose.mask, subject.pose, subject.size)
            subject.plate = remove_person(subject.image, hole)

    # -- a run

    def animate(self, subject: EncodedSubject | str | Path | np.ndarray, driving: str | Path,
                output: str | Path | None = None, *, on_frame: Callable[[int, float, np.ndarray], None] | None = None,
                start: float | None = None, end: float | None = None, fps: float | None = None,
                audio: str | Path | None = None, overwrite: bool = False, quiet: bool = True) -> AnimationResult:
        """Render `subject` performing `driving` (a video, pose JSON or OpenPose output).

        output:   file (video, prores, keypoints) or folder (png) per `output.export`;
                  None = write nothing (frames only reach `on_frame`).
        on_frame: called as on_frame(index, time, rgba) for every output frame: index and
                  time of the driving frame, rgba (H, W, 4) uint8 = the output frame with
                  the person matte as alpha (the person alone for background 'alpha').
        start/end: seconds of the driving clip to render (its sound is cut to match).
        fps, audio: for pose-file driving input: frame rate when the file has none, and a
                  file to take the sound from.
        quiet:    no progress bar.
        """
        settings = self.settings
        export = settings["output"]["export"]
        if export in ("video",) and settings["render"]["background"] == "alpha":
            raise VunetError(output, "background 'alpha' needs export png or prores (H.264 has no alpha channel)")
        t0 = _time.perf_counter()
        sink = _Sink(export, None if output is None else Path(output), settings, overwrite)
        sink.check()  # before any work, as is opening the driving input
        source = sink.source = DrivingSource(driving, settings, start, end, fps, audio)
        stats = {"held": 0}
        try:
            if not isinstance(subject, EncodedSubject):
                subject = self.encode_subject(subject, quiet=quiet)
            if settings["render"]["background"] == "subject":
                self._add_plate(subject)
            targets = self._targets(subject, source, stats)
            if export == "keypoints":
                written = self._write_keypoints(sink, source, subject, targets, quiet)
                has_audio = False
            else:
                written = self._render(subject, targets, sink, on_frame, source, quiet)
                has_audio = sink.close()
        except BaseException:
            sink.abort()
            raise
        finally:
            source.close()
        notes = list(subject.notes)
        if source.most_people > 1:
            notes.append(f"{driving}: up to {source.most_people} people in a frame; following the most prominent one")
        h, w = subject.size
        return AnimationResult(sink.path, export, written, float(source.rate), written / float(source.rate),
                               (w, h), has_audio, stats["held"], _time.perf_counter() - t0, notes)

    def _targets(self, subject: EncodedSubject, source: DrivingSource, stats: dict) -> Iterator[tuple[int, float, Pose]]:
        """(index, time, target pose in output pixels) for every driving frame."""
        from .render.retarget import FrameFit, Retargeter, is_confident

        min_score = self.settings["pose"]["min_score"]
        window = max(1, self.settings["retarget"]["reference_frames"])
        stream = iter(source)
        head = list(islice(stream, window))  # poses only: a bounded look-ahead
        mapping = None
        if not self.settings["retarget"]["enabled"]:
            mapping = FrameFit(source.frame_size, subject.size)

        def make_mapping(refs):
            return Retargeter(subject.pose, refs, min_score) if refs else None

        if mapping is None:  # both shoulders seen if possible, else any usable pose
            refs = [p for _, _, p in head if is_confident(p, min_score)]
            mapping = make_mapping(refs or [p for _, _, p in head if usable(p, min_score)])
        last = Pose(subject.pose.xy, subject.pose.score)  # before anyone appears: the photo's pose
        seen_anyone = False
        for index, t, pose in chain(head, stream):
            if usable(pose, min_score):
                if mapping is None:  # nobody in the look-ahead: the first person seen
                    mapping = make_mapping([pose])
                if mapping is not None:
                    target = mapping(pose)
                    if usable(target, min_score):
                        last, seen_anyone = target, True
                        yield index, t, target
                        continue
            stats["held"] += 1
            yield index, t, last
        if not seen_anyone:
            raise VunetError(source.path, "no person found in any driving frame")

    def _progress(self, source: DrivingSource, quiet: bool):
        from tqdm import tqdm

        return tqdm(total=source.frame_count or None, unit="frame", desc="animate", disable=quiet,
                    dynamic_ncols=True, leave=True)

    def _render(self, subject: EncodedSubject, targets, sink: _Sink, on_frame, source: DrivingSource,
                quiet: bool) -> int:
        from .model.inputs import off_plain_background
        from .render.compose import Compositor, TemporalFilter
        from .render.framing import person_box

        render = self.settings["render"]
        compositor = Compositor(subject.size, render["background"], subject.plate, render["color"])
        temporal = TemporalFilter(render["temporal"])
        batch_size = max(1, render["batch_size"])
        written = 0
        with self._progress(source, quiet) as bar:
            while True:
                batch = list(islice(targets, batch_size))
                if not batch:
                    break
                boxes = [person_box(target) for _, _, target in batch]
                crop_poses = [box.pose_to_crop(target, self.size) for box, (_, _, target) in zip(boxes, batch)]
                rgbs, alphas = (subject.synth or self.synth).render(subject.appearance, crop_poses)
                for (index, t, _), box, rgb, alpha in zip(batch, boxes, rgbs, alphas):
                    # The model paints the person over grey; take the grey out by the matte
                    # so no grey fringe shows on the real background.
                    rgb, alpha = temporal(off_plain_background(rgb, alpha), alpha, box)
                    rgba = compositor(rgb, alpha, box)
                    sink.write(t, rgba)
                    if on_frame is not None:
                        on_frame(index, t, rgba)
                    written += 1
                bar.update(len(batch))
        return written

    def _write_keypoints(self, sink: _Sink, source: DrivingSource, subject: EncodedSubject, targets, quiet) -> int:
        from .pose.io import write_pose_json

        h, w = subject.size
        header = {"source": str(source.path), "backend": source.backend, "fps": float(source.rate),
                  "width": w, "height": h, "smoothed": bool(self.settings["smoothing"]["enabled"] or source.presmoothed)}
        with self._progress(source, quiet) as bar:
            def frames():
                for item in targets:
                    bar.update(1)
                    yield item
            if sink.path is None:
                return sum(1 for _ in frames())
            return write_pose_json(sink.path, header, frames(), overwrite=sink.overwrite)


# ----------------------------------------------------------------------------- single images

def looks_like_stickman(image: np.ndarray) -> bool:
    """An image drawn in the model's stickman convention (render/stickman.py): mostly black,
    the rest pure channel colours (limbs red/green, torso blue), not a photo."""
    dark = image.max(axis=2) < 16
    if dark.mean() < 0.5:
        return False
    lit = image[~dark]
    return bool(len(lit)) and float(np.median(lit.min(axis=1))) < 40


def stickman_crop(image: np.ndarray, size: int) -> np.ndarray:
    """A stickman image framed like the model's crops (person_box around its drawn
    pixels, padded the same way) at size x size: the VUNet's shape input."""
    from .render.framing import Box

    ys, xs = np.nonzero(image.max(axis=2) >= 16)
    if len(xs) == 0:
        raise VunetError(None, "the stickman image is blank")
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    h = y1 - y0
    y0, y1 = y0 - 0.10 * h, y1 + 0.05 * h  # as person_box pads joint extents
    side = max(x1 - x0, y1 - y0, 1.0) / 0.8
    box = Box(0.5 * (x0 + x1) - side / 2, 0.5 * (y0 + y1) - side / 2, side)
    return cv2.warpAffine(image, box.matrix(size), (size, size), flags=cv2.INTER_AREA if side > size else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def read_pose_frame(path: str | Path, frame: int = 0) -> Pose:
    """Pose number `frame` (0 = first) of a pose JSON file or OpenPose output."""
    from .pose.io import read_pose_json

    _, records = read_pose_json(path, fps=25.0)
    for n, (_, _, pose) in enumerate(records):
        if n == frame:
            if pose.is_empty():
                raise VunetError(path, f"frame {frame} has no person")
            return pose
    raise VunetError(path, f"has no frame {frame}")


def shape_input(path: str | Path, frame: int = 0) -> Pose | np.ndarray:
    """What a pose argument names: a Pose (from a pose JSON file, or estimated from a photo)
    or, for an image in the stickman convention, the stickman image itself."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() in _POSE_SUFFIXES:
        return read_pose_frame(path, frame)
    from .video import read_image

    image = read_image(path)
    from .pose.estimator import photo_pose

    return image if looks_like_stickman(image) else photo_pose(image, path)


def render_stickman(synth, appearance, stickman: np.ndarray, generator=None) -> np.ndarray:
    """Decode a stickman image (S x S, the model's shape input) with an Appearance (None =
    drawn from the prior): (S, S, 3) RGB. A drawn stickman has no joints to warp the
    subject's parts to, so a warp-skip model renders from the appearance code alone."""
    import torch

    from .model.inputs import to_image, to_tensor

    stick = to_tensor(stickman)[None].to(synth.device)
    with torch.no_grad(), synth._autocast():
        latents = None if appearance is None else appearance.latents
        out = synth.model.decode(stick, latents, generator=generator).float()
    return to_image(out[0, :3])
