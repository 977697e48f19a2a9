"""Single images: the paper's three uses besides video, on whole photos.

    render_pose("me.jpg", "pose.json", "me_posed.png")     # the subject in a given pose
    transfer("me.jpg", "you.jpg", "me_as_you.png")         # one photo's look on another's pose
    sample("pose.png", "people.png", n=4)                  # new people from the prior, one pose

A pose is given as a pose JSON file (or OpenPose output), a photo of someone in it (posed
by MediaPipe), or an image drawn in the model's stickman convention (`model/stickman.py`),
which is then the model's shape input itself. `render_pose` and `transfer` give, with
detail "photo" (the default), a picture at the photo's resolution: the person's own pixels
moved onto the pose (render/full_resolution.py) in the scene of the photo they stand in,
with its original person painted out; with detail "model" (and always for a drawn stickman,
which has no joints to move pixels by), the model's S x S person crop as the decoder draws
it, on plain grey. `sample` draws new people, so it has only the crop. The output path is
checked before any work (a fine-tune takes seconds), and written atomically.

weights: a checkpoint (default $VUNET_WEIGHTS, else the shipped weights); device: where
the model runs ('auto': CUDA when available); synth: a ready Synthesizer instead of both.

The array-level functions (`render_in_pose`, `transfer_appearance`, `sample_appearances`)
take and return numpy images, for scripts that handle files themselves.
"""

from __future__ import annotations

import contextlib

from pathlib import Path

import cv2
import numpy as np

from .errors import VunetError
from .files import IMAGE_SUFFIXES, check_output_path, is_pose_file, refuse_overwriting_inputs
from .pose.keypoints import Pose
from .render.framing import Box, person_box
from .render.synthesizer import Synthesizer
from .video.images import check_pixels

# ----------------------------------------------------------------------------- pose inputs


def looks_like_stickman(image: np.ndarray) -> bool:
    """An image drawn in the model's stickman convention (model/stickman.py): mostly black,
    the rest pure channel colours (limbs red/green, torso blue), not a photo."""
    dark = image.max(axis=2) < 16
    if dark.mean() < 0.5:
        return False
    lit = image[~dark]
    return bool(len(lit)) and float(np.median(lit.min(axis=1))) < 40


def stickman_crop(image: np.ndarray, size: int) -> np.ndarray:
    """A stickman image framed like the model's crops (person_box around its drawn
    pixels, padded the same way) at size x size: the VUNet's shape input."""
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
    from .pose.estimator import photo_pose
    from .video import read_image

    if is_pose_file(path):
        return read_pose_frame(path, frame)
    image = read_image(path)
    return image if looks_like_stickman(image) else photo_pose(image, path)


def _subject(path: str | Path) -> tuple[np.ndarray, Pose]:
    """A subject photo and its pose with the person mask; VunetError naming the file."""
    from .pose.estimator import photo_pose
    from .video import read_image

    image = read_image(path)
    return image, photo_pose(image, path)


def _synthesizer(weights: str | Path | None, device: str | None, synth: Synthesizer | None) -> Synthesizer:
    if synth is not None:
        return synth
    from .model.io import load_model, resolve_device, resolve_weights

    device = resolve_device(device)
    return Synthesizer(load_model(resolve_weights(weights), device=device), device=device)


# ----------------------------------------------------------------------------- arrays in, arrays out

def render_in_pose(subject_image: np.ndarray, target_pose: Pose, synth: Synthesizer | None = None,
                   subject_pose: Pose | None = None, finetune_steps: int = 0) -> np.ndarray:
    """The subject of a photo in `target_pose` (given in model pixels, S x S): (S, S, 3) RGB.

    subject_pose: the photo's pose with its mask (photo_pose); found here when not given.
    finetune_steps: fine-tune a copy of the model on the subject first (Synthesizer.personalised).
    """
    from .pose.estimator import photo_pose

    synth = synth or Synthesizer()
    subject_pose = subject_pose or photo_pose(subject_image, "subject photo")
    subject = synth.encode(subject_image, subject_pose, subject_pose.mask, finetune_steps=finetune_steps)
    return subject.synth.render(subject.appearance, [target_pose], on_grey=True)[0][0]


def transfer_appearance(appearance_image: np.ndarray, shape_image: np.ndarray | None,
                        synth: Synthesizer | None = None, appearance_pose: Pose | None = None,
                        shape_pose: Pose | None = None, finetune_steps: int = 0) -> np.ndarray:
    """The person of `appearance_image` standing as the person of `shape_image` does,
    framed like the shape photo's person crop: (S, S, 3) RGB. Poses found here when not given;
    finetune_steps as in `render_in_pose`."""
    from .pose.estimator import photo_pose

    synth = synth or Synthesizer()
    a_pose = appearance_pose or photo_pose(appearance_image, "appearance photo")
    a = synth.encode(appearance_image, a_pose, a_pose.mask, finetune_steps=finetune_steps)
    s_pose = shape_pose or photo_pose(shape_image, "shape photo")
    target = person_box(s_pose).pose_to_crop(s_pose, synth.crop_size)
    return a.synth.render(a.appearance, [target], on_grey=True)[0][0]


def sample_appearances(pose: Pose, n: int = 4, seed: int = 0, synth: Synthesizer | None = None) -> np.ndarray:
    """`n` new people drawn from the prior, all in `pose` (model pixels): (n, S, S, 3) RGB."""
    import torch

    synth = synth or Synthesizer()
    g = torch.Generator(device=synth.device).manual_seed(seed)
    return synth.render(None, [pose] * n, generator=g, on_grey=True)[0]


def in_scene(subject, subject_image: np.ndarray, subject_pose: Pose, target: Pose, scene: np.ndarray,
             scene_pose: Pose) -> np.ndarray:
    """A Subject (Synthesizer.encode of subject_image) in `target` at the resolution of the
    photo `scene` (target in its pixels), over that photo with its own person (scene_pose,
    with its mask) painted out: (H, W, 3) RGB. The scene is scaled to at most
    settings.AUTO_SIZE_MAX px on its longer side, as `animate` scales its canvas."""
    from .render.compose import Compositor
    from .render.full_resolution import FullResolutionRenderer
    from .render.mesh import BodyMesh
    from .render.plate import PhotoWherePersonStays, person_hole, remove_person
    from .settings import AUTO_SIZE_MAX

    scene, scene_pose, f = _within(scene, scene_pose, AUTO_SIZE_MAX)
    target = target.transformed(f)
    subject_image, subject_pose, _ = _within(subject_image, subject_pose, AUTO_SIZE_MAX)
    h, w = scene.shape[:2]
    hole = person_hole(scene_pose.mask, scene_pose, (h, w))
    plate = remove_person(scene, hole)
    unmoved = PhotoWherePersonStays.from_pose(scene, plate, scene_pose, hole)  # (its scene back around them)
    renderer = FullResolutionRenderer(subject.synth, subject.appearance,
                                      BodyMesh(subject_image, subject_pose, subject_pose.mask), (w, h))
    rgba = Compositor((w, h), "subject", plate, unmoved=unmoved).paste(
        *renderer.render([target], [person_box(target)])[0])
    return rgba[..., :3]


def _within(image: np.ndarray, pose: Pose, max_side: int) -> tuple[np.ndarray, Pose, float]:
    """The image scaled so its longer side is at most max_side, its pose (and mask) with
    it, and the scale."""
    from .render.framing import scale_photo

    f = min(1.0, max_side / max(image.shape[:2]))
    return (*scale_photo(image, pose, f), f)


def _tuned_cache(steps: int):
    """The user's cache of tuned weights (model/finetune.py), when there is a tune."""
    from .model.finetune import TunedCache

    return TunedCache() if steps > 0 else None


def _placed_like(pose: Pose, reference: Pose) -> Pose:
    """`pose` with its own proportions, scaled and moved so its joints' box has the height
    and centre of reference's (a pose file's coordinates are not the photo's)."""
    a, b = pose.bbox(), reference.bbox()
    f = (b[3] - b[1]) / max(a[3] - a[1], 1e-6)
    return pose.transformed(f, ((b[0] + b[2]) / 2 - f * (a[0] + a[2]) / 2, (b[1] + b[3]) / 2 - f * (a[1] + a[3]) / 2))


# ----------------------------------------------------------------------------- files in, file out

@contextlib.contextmanager
def _tune_progress(steps: int, show: bool):
    """A progress callback for the per-subject fine-tune (a bar on stderr while it runs, and
    nothing when the tune is read from the cache), or None when not shown."""
    if not show or not steps:
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=steps, unit="step", desc="fine-tune on subject", dynamic_ncols=True, leave=False) as bar:
        yield lambda n: bar.update(n - bar.n)


def _check_detail(detail: str) -> None:
    from .settings import DETAILS

    if detail not in DETAILS:
        raise VunetError(None, f"detail {detail!r} is not one of {', '.join(DETAILS)}")


def render_pose(subject: str | Path, pose: str | Path, output: str | Path, *, frame: int = 0,
                retarget: bool = True, finetune_steps: int = 25, detail: str = "photo",
                weights: str | Path | None = None, device: str | None = None, synth: Synthesizer | None = None,
                overwrite: bool = False, progress: bool = False) -> Path:
    """The person of the photo `subject` in the pose that `pose` names (pose file, photo or
    drawn stickman; `frame` of a pose file), saved to `output`. retarget: give the pose the
    subject's own proportions first (not for a drawn stickman, which has no joints).
    detail: "photo" = at the subject photo's resolution in its scene; "model" = the model's
    crop on grey (see the module docstring). progress: a bar on stderr during the fine-tune."""
    from .render.retarget import Retargeter
    from .video import write_image

    _check_detail(detail)
    output = check_output_path(output, overwrite, IMAGE_SUFFIXES)
    refuse_overwriting_inputs(output, subject, pose)
    check_pixels(Path(subject))  # an oversized photo is refused from its header before the model loads
    synth = _synthesizer(weights, device, synth)
    image, subject_pose = _subject(subject)
    shape = shape_input(pose, frame)
    with _tune_progress(finetune_steps, progress) as tick:
        encoded = synth.encode(image, subject_pose, subject_pose.mask, finetune_steps=finetune_steps,
                               finetune_cache=_tuned_cache(finetune_steps), progress=tick)
    if isinstance(shape, np.ndarray):  # a stickman image is the shape input itself
        result = encoded.synth.render_stickman(encoded.appearance, stickman_crop(shape, synth.crop_size))
    else:
        target = Retargeter(subject_pose, shape)(shape) if retarget else _placed_like(shape, subject_pose)
        if detail == "photo":
            result = in_scene(encoded, image, subject_pose, target, image, subject_pose)
        else:
            crop_pose = person_box(target).pose_to_crop(target, synth.crop_size)
            result = encoded.synth.render(encoded.appearance, [crop_pose], on_grey=True)[0][0]
    return write_image(output, result, overwrite)


def transfer(appearance: str | Path, shape: str | Path, output: str | Path, *, finetune_steps: int = 25,
             detail: str = "photo", weights: str | Path | None = None, device: str | None = None,
             synth: Synthesizer | None = None, overwrite: bool = False, progress: bool = False) -> Path:
    """The appearance of the person in photo `appearance` on the pose and framing of the
    person in photo `shape`, saved to `output`. detail: "photo" = at the shape photo's
    resolution, in its scene with its own person painted out; "model" = the model's crop
    on grey. progress: a bar on stderr during the fine-tune."""
    from .video import write_image

    _check_detail(detail)
    output = check_output_path(output, overwrite, IMAGE_SUFFIXES)
    refuse_overwriting_inputs(output, appearance, shape)
    for photo in (appearance, shape):  # refused from their headers before the model loads
        check_pixels(Path(photo))
    synth = _synthesizer(weights, device, synth)
    a_image, a_pose = _subject(appearance)  # posed here so that an error names the file
    s_image, s_pose = _subject(shape)
    with _tune_progress(finetune_steps, progress) as tick:
        encoded = synth.encode(a_image, a_pose, a_pose.mask, finetune_steps=finetune_steps,
                               finetune_cache=_tuned_cache(finetune_steps), progress=tick)
    if detail == "photo":
        result = in_scene(encoded, a_image, a_pose, s_pose, s_image, s_pose)
    else:  # the model's crop framed like the shape photo's person
        target = person_box(s_pose).pose_to_crop(s_pose, synth.crop_size)
        result = encoded.synth.render(encoded.appearance, [target], on_grey=True)[0][0]
    return write_image(output, result, overwrite)


def sample(pose: str | Path, output: str | Path, *, n: int = 4, seed: int = 0, frame: int = 0,
           weights: str | Path | None = None, device: str | None = None, synth: Synthesizer | None = None,
           overwrite: bool = False) -> Path:
    """A row image: the stickman of `pose` (pose file, photo or drawn stickman), then `n`
    people drawn from the model's prior in that pose; saved to `output`."""
    import torch

    from .model.stickman import draw_stickman
    from .video import write_image

    output = check_output_path(output, overwrite, IMAGE_SUFFIXES)
    refuse_overwriting_inputs(output, pose)
    synth = _synthesizer(weights, device, synth)
    shape = shape_input(pose, frame)
    if isinstance(shape, np.ndarray):
        stick = stickman_crop(shape, synth.crop_size)
        g = torch.Generator(device=synth.device).manual_seed(seed)
        samples = [synth.render_stickman(None, stick, generator=g) for _ in range(n)]
    else:
        crop_pose = person_box(shape).pose_to_crop(shape, synth.crop_size)
        stick = draw_stickman(crop_pose, (synth.crop_size, synth.crop_size))
        samples = list(sample_appearances(crop_pose, n, seed, synth))
    return write_image(output, np.concatenate([stick] + samples, axis=1), overwrite)
