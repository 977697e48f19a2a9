"""`Animator`: a photo's person performing a driving video's motion, frame in -> frame out.

    animator = Animator(preset="default")                 # loads the model once
    subject = animator.encode_subject("photo.jpg")        # pose, mask, plate, appearance
    result = animator.animate(subject, "dance.mp4", "out.mp4")

Per driving frame: decode -> pose (tracked, One Euro smoothed; every `pose.stride`-th
frame posed, the rest interpolated) -> retarget onto the subject -> person box + stickman
-> VUNet decoder (batches of frames) -> temporal filter -> composite over the background
-> encode, with the driving clip's sound. The driving side runs ahead in a thread of its
own and the encoder behind in another (stages.py), through bounded queues: only a few
batches of frames are ever held, so memory does not grow with the clip's length. Each
stage's busy time is kept (`AnimationResult.profile`, `animate --profile`).

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
`render.size` (0 = the photo's size, at most settings.AUTO_SIZE_MAX px).
"""

from __future__ import annotations

import logging
import time as _time
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .errors import VunetError
from .pose.keypoints import Pose, usable
from .presets import load_settings
from .settings import Settings
from .video.formats import export_format

log = logging.getLogger(__name__)


def _int8(precision: str, runtime: str) -> bool | None:
    """Synthesizer's int8 for model.precision and model.runtime: "int8" asks for it; "auto"
    takes it wherever it applies (a CPU without native bf16, the ONNX Runtime decoder), where
    the frames match fp32's at SSIM 0.9998-0.9999 and the decoder runs 1.6x faster
    (model/onnx_decoder.py); with model.runtime "torch" there is no ONNX Runtime decoder."""
    if precision == "int8":
        return True
    return None if precision == "auto" and runtime == "auto" else False


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
    mesh: object = None         # their render.mesh.BodyMesh, for render.detail "photo"
    unmoved: object = None      # render.plate.PhotoWherePersonStays: the photo back where they stand as they stood

    @property
    def frame_size(self) -> tuple[int, int]:
        """(width, height) of the output canvas."""
        return self.image.shape[1], self.image.shape[0]


@dataclass
class AnimationResult:
    """What `Animator.animate` produced."""

    output: Path | None
    export: str
    frames: int
    fps: float
    duration: float
    frame_size: tuple[int, int]  # (width, height)
    audio: bool
    held_frames: int             # frames without a driving person (last pose held)
    seconds: float               # wall-clock time of the run
    notes: list[str] = field(default_factory=list)
    profile: dict = field(default_factory=dict)  # busy seconds per stage etc. (stages.StageClock.summary)

    def __str__(self) -> str:
        where = str(self.output) if self.output else "(no file)"
        sound = "with sound" if self.audio else "silent"
        text = (f"{where}: {self.frames} frames, {self.frame_size[0]}x{self.frame_size[1]}, {self.fps:.3f} fps, "
                f"{self.duration:.2f} s, {sound}; took {self.seconds:.1f} s "
                f"({self.frames / max(self.seconds, 1e-9):.1f} frames/s)")
        if self.held_frames:
            text += f"; {self.held_frames} frame(s) without a driving person held the last pose"
        return "\n".join([text] + [f"note: {n}" for n in self.notes])


def _detector_hint(people: int, backend: str) -> str:
    """Why only one person may have been found."""
    if people <= 1 and backend == "mediapipe":
        return "; MediaPipe alone finds one person per image: give a person detector (pose.det_model or " \
               "$VUNET_DET_MODEL) to see everybody"
    return ""


def _batch_sizes(full: int) -> Iterator[int]:
    """How many frames each of the model's batches takes: 1, 2, 4, ... up to `full`, then
    `full` for good. The first frame goes out once the mesh thread has moved one frame
    instead of a whole batch, and the render thread works while the others fill the
    pipeline (it sat idle for a third of a second at the start of every run)."""
    size = 1
    while True:
        yield min(size, full)
        size *= 2


def default_output(subject: str | Path, driving: str | Path, export: str = "video") -> Path:
    """`<subject-stem>_<driving-stem>` + the export's suffix, in the current folder."""
    return Path(f"{Path(subject).stem}_{Path(driving).stem}{export_format(export).suffix}")


class Animator:
    """Animates subject photos with driving videos (see the module docstring).

    weights:  checkpoint path; None = the preset's model.weights, else $VUNET_WEIGHTS,
              else the shipped weights.
    preset:   preset name (a shipped one, see vunet_video/presets/) or path; **overrides
              win over it (e.g. background="alpha", size=512, smooth=False, "render.temporal"=0).
    settings: a ready `Settings` instead of preset and overrides.
    synthesizer: a ready `Synthesizer` (model loaded) instead of loading `weights`.
    """

    def __init__(self, weights: str | Path | None = None, preset: str | Path = "default", *,
                 settings: Settings | None = None, synthesizer=None, **overrides):
        self.settings = settings if settings is not None else load_settings(preset, overrides)
        if synthesizer is None:
            from .model.io import load_model, resolve_device, resolve_weights, use_bf16
            from .model.onnx_decoder import QuantizedCache
            from .render.synthesizer import Synthesizer

            model = self.settings.model
            device = resolve_device(model.device)
            path = resolve_weights(weights or model.weights or None)
            synthesizer = Synthesizer(load_model(path, device=device), device=device,
                                      bf16=use_bf16(model.precision, device),
                                      onnx=None if model.runtime == "auto" else False,
                                      int8=_int8(model.precision, model.runtime),
                                      int8_cache=QuantizedCache() if model.finetune_cache else None)
        self.synth = synthesizer

    # -- the subject, once per run

    def encode_subject(self, photo: str | Path | np.ndarray, quiet: bool = True) -> EncodedSubject:
        """Pose, person mask, background plate and appearance code of a photo's person (and
        the model fine-tuned on them, per model.finetune_steps; quiet: no progress bar)."""
        from tqdm import tqdm

        from .pose import make_estimator
        from .pose.tracking import PersonChoice, choose_person

        if isinstance(photo, np.ndarray):
            image, source = np.ascontiguousarray(photo[..., :3]), "<array>"
        else:
            from .video import read_image

            image, source = read_image(photo), str(photo)
        render, pose_cfg = self.settings.render, self.settings.pose
        min_score = pose_cfg.min_score
        # The photo is always posed by MediaPipe, the one backend that gives a person mask:
        # the appearance encoder takes the person cut out on grey (as in training) and the
        # 'subject' background paints the person out by it.
        estimator = make_estimator("mediapipe", segmentation=True, det_model=pose_cfg.det_model or None)
        try:
            people = [p for p in estimator(image) if not p.is_empty(min_score)]
        finally:
            getattr(estimator, "close", lambda: None)()
        choice = PersonChoice.parse(pose_cfg.subject_person)
        pose = choose_person(people, choice, image.shape[:2], min_score)
        if people and pose.is_empty(min_score):  # a rank beyond the people found
            raise VunetError(source, f"the photo shows {len(people)} person(s); pose.subject_person asks for "
                                     f"the one of rank {choice.rank}{_detector_hint(len(people), estimator.name)}")
        if pose.is_empty(min_score) or not usable(pose, min_score):
            raise VunetError(source, "no person found in the photo")
        notes = []
        if len(people) > 1:
            x0, y0, x1, y1 = pose.bbox()
            which = "the most prominent one" if str(choice) == "1" else f"person {choice}"
            notes.append(f"{source}: {len(people)} people in the photo; animating {which} "
                         f"(around x {x0:.0f}-{x1:.0f}, y {y0:.0f}-{y1:.0f})")
        if not pose.visible(min_score)[[13, 14, 15, 16]].any():
            notes.append(f"{source}: no legs visible (half-body photo); legs take the dancer's proportions")
        # Full resolution: the best crop. With model.finetune_steps the model is first tuned
        # on this photo (once per subject; every frame then renders with the tuned copy).
        # An export that renders nothing (keypoints) skips the tune.
        steps = self.settings.model.finetune_steps if export_format(self.settings.output.export).frames else 0
        with tqdm(total=steps, unit="step", desc="fine-tune on subject", disable=quiet or not steps,
                  dynamic_ncols=True, leave=False) as bar:
            cache = None
            if steps and self.settings.model.finetune_cache:
                from .model.finetune import TunedCache

                cache = TunedCache()
            encoded = self.synth.encode(image, pose, pose.mask, finetune_steps=steps, finetune_cache=cache,
                                        progress=lambda n: bar.update(n - bar.n))

        from .settings import AUTO_SIZE_MAX, SIZE_RANGE

        h, w = image.shape[:2]
        scale = 1.0 if not render.size else render.size / max(h, w)
        if not render.size and max(h, w) > AUTO_SIZE_MAX:  # the photo's size, within the 720p class
            scale = AUTO_SIZE_MAX / max(h, w)
            notes.append(f"{source}: the photo is {w}x{h}; the output is scaled down to {AUTO_SIZE_MAX} px on the "
                         f"longer side (give a size, up to {SIZE_RANGE[1]}, for more)")
        from .render.framing import scale_photo

        image, pose = scale_photo(image, pose, scale)
        subject = EncodedSubject(source, image, pose, encoded.appearance, None, len(people), notes, encoded.synth)
        if render.background == "subject":
            self._add_plate(subject)
        if render.detail == "photo":
            self._add_mesh(subject)
        return subject

    @staticmethod
    def _add_mesh(subject: EncodedSubject) -> None:
        """The photo's person as a skinned mesh, for rendering at the output's resolution."""
        from .render.mesh import BodyMesh

        if subject.mesh is None:
            subject.mesh = BodyMesh(subject.image, subject.pose, subject.pose.mask)
            subject.notes += [f"{subject.source}: {note}" for note in subject.mesh.notes]

    @staticmethod
    def _add_plate(subject: EncodedSubject) -> None:
        """The photo with the person painted out, as the 'subject' background."""
        from .render.plate import PhotoWherePersonStays, person_hole, remove_person

        if subject.plate is None:
            hole = person_hole(subject.pose.mask, subject.pose, subject.image.shape[:2])
            subject.plate = remove_person(subject.image, hole)
            subject.unmoved = PhotoWherePersonStays.from_pose(subject.image, subject.plate, subject.pose, hole)

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
                  the person matte as alpha (the person alone for background 'alpha'),
                  read-only (the encoder may still be reading it: copy it to change it).
        start/end: seconds of the driving clip to render (its sound is cut to match).
        fps, audio: for pose-file driving input: frame rate when the file has none, and a
                  file to take the sound from.
        quiet:    no progress bar.
        """
        from .pose.driving import DrivingSource
        from .stages import StageClock, keep_freed_memory, library_threads
        from .video.sink import OutputSink

        keep_freed_memory()
        settings = self.settings
        export = export_format(settings.output.export)
        clock = StageClock()
        t0 = clock.since
        sink = OutputSink(export, output, alpha=settings.render.background == "alpha", overwrite=overwrite,
                          crf=settings.output.crf, x264_preset=settings.output.x264_preset)
        sink.check()  # before any work, as is opening the driving input
        timeline = None
        if settings.output.timeline:
            if not export.frames:
                raise VunetError(None, f"a timeline needs an export that renders frames, not {export.name}")
            if output is not None:
                from .video.timeline import check_timeline

                timeline = check_timeline(output, overwrite)
        layout, compare = settings.output.compare, None
        if layout != "off":
            if not export.frames:
                raise VunetError(None, f"compare '{layout}' needs an export that renders frames, not {export.name}")
            if output is not None:  # the comparison video beside the output (render/compare.py)
                from .render.compare import compare_path

                compare = OutputSink(export_format("video"), compare_path(output), overwrite=overwrite,
                                     crf=settings.output.crf, x264_preset=settings.output.x264_preset)
                compare.check()
        from .files import refuse_overwriting_inputs

        photo = subject.source if isinstance(subject, EncodedSubject) and subject.source != "<array>" else subject
        refuse_overwriting_inputs(output, None if isinstance(photo, (np.ndarray, EncodedSubject)) else photo,
                                  driving, audio)
        source = DrivingSource(driving, settings.pose, settings.smoothing, start, end, fps, audio, clock=clock)
        if compare is not None and source.is_pose_file:
            source.close()
            raise VunetError(driving, f"compare '{layout}' needs a driving video (a pose file has no frames to show)")
        sink.set_timing(source.rate, source.audio_path, source.audio_follows_frames)
        if compare is not None:
            compare.set_timing(source.rate, source.audio_path, source.audio_follows_frames)
        stats = {"held": 0}
        try:
            with clock.timed("subject", 0):
                if not isinstance(subject, EncodedSubject):
                    subject = self.encode_subject(subject, quiet=quiet)
                if settings.render.background == "subject":
                    self._add_plate(subject)
                if settings.render.detail == "photo" and export.frames:
                    self._add_mesh(subject)
            if compare is not None:
                from .render.compare import DrivingPanel, panel_height

                source.panel = DrivingPanel(panel_height(layout, subject.frame_size[1]), source.frame_size)
            targets = self._targets(subject, source, stats, clock)
            if export.frames:
                with library_threads():
                    written = self._render(subject, targets, sink, on_frame, source, quiet, clock, compare)
                with clock.timed("encode", 0):  # x264 hands over the frames of its look-ahead
                    has_audio = sink.close()
                    if compare is not None:
                        compare.close()
            else:
                written = self._write_keypoints(sink, source, subject, targets, quiet)
                has_audio = False
        except BaseException:
            sink.abort()
            if compare is not None:
                compare.abort()
            raise
        finally:
            source.close()
        notes = list(subject.notes)
        if compare is not None:
            notes.append(f"comparison ({layout}): {compare.path}")
        if timeline is not None and written:
            from .video.timeline import sequence_of, write_timeline

            write_timeline(timeline, sink.path, source.rate, written,
                           sequence=sequence_of(sink.writer.pattern) if export.folder else None,
                           audio_from=source.audio_path,  # (a PNG sequence has no sound: the timeline does)
                           audio_start=sink.first_time if source.audio_follows_frames else 0.0,
                           overwrite=overwrite)
            notes.append(f"timeline: {timeline}")
        if source.most_people > 1:
            which = "the most prominent one" if str(getattr(source, "person", "1")) == "1" else \
                f"person {source.person} (pose.person)"
            notes.append(f"{driving}: up to {source.most_people} people in a frame; following {which}")
        wall = _time.perf_counter() - t0
        if clock.seconds.get("subject", 1.0) < 0.01:  # an EncodedSubject came ready
            clock.seconds.pop("subject")
        return AnimationResult(sink.path, export.name, written, float(source.rate), written / float(source.rate),
                               subject.frame_size, has_audio, stats["held"], wall, notes,
                               clock.summary(written, wall))

    def _targets(self, subject: EncodedSubject, source, stats: dict, clock) -> Iterator[tuple[int, float, Pose]]:
        """(index, time, target pose in output pixels) for every driving frame."""
        from .render.retarget import FrameFit, Retargeter, is_confident

        min_score = self.settings.pose.min_score
        retarget = self.settings.retarget
        stream = iter(source)
        head = list(islice(stream, max(1, retarget.reference_frames)))  # poses only: a bounded look-ahead
        mapping = None
        if not retarget.enabled:
            mapping = FrameFit(source.frame_size, subject.frame_size)

        def make_mapping(refs):
            if not refs:
                return None
            canvas = subject.frame_size if retarget.keep_in_frame else None
            return Retargeter(subject.pose, refs, min_score, canvas, source.frame_size)

        if mapping is None:  # both shoulders seen if possible, else any usable pose
            refs = [item[2] for item in head if is_confident(item[2], min_score)]
            mapping = make_mapping(refs or [item[2] for item in head if usable(item[2], min_score)])
        last = Pose(subject.pose.xy, subject.pose.score)  # before anyone appears: the photo's pose
        seen_anyone = False
        for index, t, pose, *extra in chain(head, stream):  # (extra: --compare's driving panel)
            if usable(pose, min_score):
                if mapping is None:  # nobody in the look-ahead: the first person seen
                    mapping = make_mapping([pose])
                if mapping is not None:
                    with clock.timed("retarget", 0):
                        target = mapping(pose)
                    if usable(target, min_score):
                        last, seen_anyone = target, True
                        yield index, t, target, *extra
                        continue
            stats["held"] += 1
            yield index, t, last, *extra
        if not seen_anyone:
            needs = getattr(source, "person", None)
            if needs is not None and needs.needs > 1 and 0 < source.most_people < needs.needs:
                raise VunetError(source.path, f"no driving frame shows a person of rank {needs.rank} (at most "
                                              f"{source.most_people} in a frame"
                                              f"{_detector_hint(source.most_people, source.backend)})")
            raise VunetError(source.path, "no person found in any driving frame")

    @staticmethod
    def _progress(source, quiet: bool):
        from tqdm import tqdm

        return tqdm(total=source.frame_count or None, unit="frame", desc="animate", disable=quiet,
                    dynamic_ncols=True, leave=True)

    def _render(self, subject: EncodedSubject, targets, sink, on_frame, source, quiet: bool, clock,
                compare=None) -> int:
        """Render and write every target (see stages.py for the threads)."""
        from .render.compose import Compositor, TemporalFilter
        from .render.framing import person_box
        from .stages import Prefetch, WriteBehind

        render = self.settings.render
        synth = subject.synth or self.synth
        # The person's matte travels as the frames' alpha only where something reads it: the
        # on_frame callback (RGBA by contract) and background "alpha"; an export with alpha
        # over an opaque background drops it (OutputSink.write).
        compositor = Compositor(subject.frame_size, render.background, subject.plate, render.color,
                                matte=on_frame is not None or render.background == "alpha", unmoved=subject.unmoved)
        temporal = TemporalFilter(render.temporal)
        full = None
        if render.detail == "photo":  # the photo's own pixels at the output's resolution
            from .render.full_resolution import FullResolutionRenderer

            # (Its decoder is made ready below, once the driving and mesh threads are running.)
            full = FullResolutionRenderer(synth, subject.appearance, subject.mesh, subject.frame_size,
                                          render.model_stride, decoder_now=False)

        def prepare(items):
            """Each (index, time, target[, compare panel]) with its box and, on the photo path,
            the photo's pixels moved onto it: work that needs no other frame, done in a
            thread of its own (see stages.py)."""
            for item in items:
                box = person_box(item[2])
                moved = None
                if full is not None:
                    try:
                        with clock.timed("mesh"):
                            moved = full.move(item[2], box)
                    except (VunetError, KeyboardInterrupt):
                        raise
                    except Exception as e:  # OpenCV or numpy failing (out of memory): one line
                        raise VunetError(source.path, f"rendering failed at frame {item[0]} "
                                                      f"({type(e).__name__}: {e})") from None
                yield item, box, moved

        def draw(batch):
            """The output frames (RGBA) of a batch of prepare()'s (item, box, moved)."""
            targets = [item[2] for item, _, _ in batch]
            boxes = [box for _, box, _ in batch]
            if full is not None:
                with clock.timed("render", len(batch)):
                    people = full.finish(targets, boxes, [moved for _, _, moved in batch], temporal)
                with clock.timed("compose", len(batch)):
                    return [compositor.paste(*person) for person in people]
            crop_poses = [box.pose_to_crop(target, synth.crop_size) for box, target in zip(boxes, targets)]
            with clock.timed("render", len(batch)):
                crops = synth.render(subject.appearance, crop_poses)
            with clock.timed("compose", len(batch)):
                return [compositor(*temporal(rgb, alpha, box), box) for box, rgb, alpha in zip(boxes, *crops)]

        layout = self.settings.output.compare

        def encode(t, frame, item):
            with clock.timed("encode"):
                sink.write(t, frame)  # (RGBA, or RGB where the compositor keeps no matte)
                if compare is not None:  # item: (index, time, target, (driving panel, driving pose))
                    from .render.compare import compose

                    small, driving_pose = item[3]
                    compare.write(t, compose(layout, small, source.panel.scale, driving_pose, item[2], frame))

        written = 0
        # The driving side (decode, pose, retarget) runs ahead in one thread, the encoder
        # behind in another, while this one renders and composites.
        encoder = WriteBehind(encode, 2 * render.batch_size, "encoder")
        try:
            with self._progress(source, quiet) as bar, \
                    Prefetch(targets, 2 * render.batch_size, "driving poses") as poses, \
                    Prefetch(prepare(poses), render.batch_size, "mesh") as ahead:
                if full is not None:
                    # The decoder's int8 quantization, or its load from the cache, while the
                    # other threads decode, pose and move the first frames. Done before they
                    # started, it held the first frame back by 0.15 s from a new photo and
                    # by 0.1 s from a cached one (rooftop dance, unianimate; 1280 px).
                    with clock.timed("render", 0):
                        full.prepare_decoder()
                sizes = _batch_sizes(render.batch_size)
                while batch := list(islice(ahead, next(sizes))):
                    try:
                        frames = draw(batch)
                    except (VunetError, KeyboardInterrupt):
                        raise
                    except Exception as e:  # torch or OpenCV failing (out of memory): one line
                        raise VunetError(source.path, f"rendering failed at frame {batch[0][0][0]} "
                                                      f"({type(e).__name__}: {e})") from None
                    for (item, _, _), rgba in zip(batch, frames):
                        index, t = item[0], item[1]
                        encoder.put(t, rgba, item)
                        clock.mark_first_frame()
                        if on_frame is not None:  # (read-only: the encoder thread may still be reading it)
                            view = rgba.view()
                            view.flags.writeable = False
                            on_frame(index, t, view)
                        written += 1
                    bar.update(len(batch))
            encoder.close()
        except BaseException:
            encoder.abort()
            raise
        return written

    def _write_keypoints(self, sink, source, subject: EncodedSubject, targets, quiet: bool) -> int:
        from .pose.io import write_pose_json

        w, h = subject.frame_size
        smoothed = self.settings.smoothing.enabled or source.presmoothed
        header = {"source": str(source.path), "backend": source.backend, "fps": float(source.rate),
                  "width": w, "height": h, "smoothed": bool(smoothed)}
        if not source.is_pose_file:  # whom the poses follow (a pose file holds one person already)
            header["person"] = str(source.person)
        with self._progress(source, quiet) as bar:
            def frames():
                for item in targets:
                    bar.update(1)
                    yield item
            if sink.path is None:
                return sum(1 for _ in frames())
            return write_pose_json(sink.path, header, frames(), overwrite=sink.overwrite)
