"""The subject at the output's resolution: their photo's own pixels, moved, and the VUNet
completing what those cannot supply.

The VUNet renders a 128 px crop; stretched to a 700 px person it smears face, hair and
print. `FullResolutionRenderer` renders each target pose in two parts and joins them at
the output's resolution:

1. `BodyMesh` (render/mesh.py) moves the photo's pixels onto the target pose at the
   output's resolution: colour, coverage and trust.
2. The same moved pixels, scaled down to the model's crop, are the warp-skip input of the
   VUNet, which renders the person from the target stickman and the appearance code; its
   own colour is taken before its blend head would mix the moved pixels in.
3. At the output's resolution (`_join`): colour = t * moved pixels + (1 - t) * the model's
   colour (upscaled), with t the mesh's trust (times the model's blend weight where
   `uses_blend_head`: the shipped weights were trained on this warp, and once tuned on the
   subject their head shares the say on the core, not on the arms and legs, which keep
   their pixels from any view; untuned it keeps too little of the photo). So the
   face, hair and print come from the photo where they are trusted, and the model paints
   the rest: the back when the person turns, the torso behind an arm that moved, body the
   photo never showed. The matte follows the moved person mask where the mesh covers the
   body and nearby (so a gap between the legs stays open), and the model's matte elsewhere,
   made firm (`_firm`) and kept only near the target's body (`_body_gate`: elsewhere it
   paints smudges, not body). A limb the photo does not show (`BodyMesh.unseen_limbs`) has
   the model's matte along it and at least its solid stroke (`_limb_strokes`).

With `model_stride` N the model renders every Nth target of a batch and the targets between
reuse the renders on either side, each moved onto their own pose bone by bone (`carried`)
and mixed (`_between`); step 1 still runs for every target.
The model's int8 decoder (model.precision "int8") is calibrated here, once per subject, on
`calibration_poses`.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ..pose.keypoints import INDEX as J
from ..pose.keypoints import Pose
from .compose import box_region, crop_to_region, mix
from .framing import Box, person_box
from ..pose.keypoints import BONES, TORSO
from .mesh import (ARM_RADIUS, BONE, FOOT_EXTENSION, HAND_EXTENSION, LIMBS, MESH_VERSION, SKIN_SOFTNESS, THIGH_RADIUS, BodyMesh,
                   Deformed, bone_transforms, distance_maps, torso_length)

# How far around the moved body the matte follows the mesh rather than the model's
# matte, as a fraction of the box (0.08, about a gap between the legs, until 0.3.19: see
# GATE_RADIUS).
MATTE_SUPPORT = 0.16
# How far (model pixels) a high blend weight reaches out over the model's soft silhouette
# edge (_join).
WEIGHT_REACH = 2
# The model's matte below the first value counts as none, above the second as whole (_firm).
MODEL_MATTE_FIRM = (0.3, 0.7)
# Half the thickness of the target's limbs where the model's own matte is kept, in torso
# lengths (a sleeved upper arm: mesh.ARM_RADIUS), and how far the gate is blurred beyond them
# and the torso. The model, even tuned, keeps some memory of the photo's pose (an arm hanging
# beside the torso), and off the mesh its matte drew it as grey streaks beside the body once
# the arm rose. 0.2 and 0.1 until 0.3.19; with 0.12, 0.04 and MATTE_SUPPORT 0.16, over the dev
# subjects x clips with the default tune: faint matte pixels (0.04-0.6) per solid one 0.110 ->
# 0.082, limb error 9.98 -> 9.60 degrees, detail 0.897 -> 0.900; untuned 0.097 -> 0.081, 9.88
# -> 9.52, 0.904 -> 0.906; the held-out reconstruction unchanged.
GATE_RADIUS, GATE_BLUR = 0.12, 0.04


class FullResolutionRenderer:
    """Renders one subject at the output's resolution (see the module docstring).

    synth: the Synthesizer (or its copy tuned on the subject); appearance: the subject's
    Appearance; mesh: their BodyMesh (built once per subject, from the photo at the
    output's scale); frame_size: the canvas (w, h); model_stride: the model renders every
    Nth target of a batch, and the targets between reuse its render (render.model_stride).
    """

    def __init__(self, synth, appearance, mesh: BodyMesh, frame_size: tuple[int, int], model_stride: int = 1,
                 *, decoder_now: bool = True):
        self.synth = synth
        self.appearance = appearance
        self.mesh = mesh
        self.frame_size = frame_size
        self.model_stride = max(1, int(model_stride))
        # Decided once per subject: does the blend head share the say with the mesh's trust?
        self.blend_head = uses_blend_head(synth.model)
        self._decoder_ready = False
        if decoder_now:
            self.prepare_decoder()

    def prepare_decoder(self) -> None:
        """Get the decoder ready for this subject (the first `finish` does it otherwise;
        `decoder_now=False` leaves it to the caller, so that `move` can run meanwhile in
        another thread, as the pipeline's mesh thread does).

        model.precision "int8": its ranges from this subject alone (once per subject: a
        second video of the same subject skips the calibration's mesh moves too), or the
        decoder quantized for them from the cache. Its key: what the calibration inputs are
        made of (the decoder's own weights are part of it anyway)."""
        if self._decoder_ready:
            return
        synth, appearance, mesh = self.synth, self.appearance, self.mesh
        if getattr(synth, "int8", False) and synth.needs_int8_calibration(appearance):
            parts = [CALIBRATION_ARMS, MESH_VERSION, self.frame_size, appearance.crop, appearance.pose.xy,
                     appearance.pose.score, mesh.image, mesh.pose.xy, mesh.pose.score, mesh.pose.mask]
            if not synth.int8_from_cache(appearance, parts):
                poses = calibration_poses(mesh.pose)
                boxes = [person_box(p) for p in poses]
                synth.calibrate_int8(appearance, [b.pose_to_crop(p, synth.crop_size) for p, b in zip(poses, boxes)],
                                     torch.stack([self.move(p, b)[1] for p, b in zip(poses, boxes)]), parts)
        self._decoder_ready = True

    def render(self, targets: list[Pose], boxes: list[Box], temporal=None
               ) -> list[tuple[tuple[int, int], np.ndarray, np.ndarray]]:
        """Per target pose (canvas pixels) framed by its box: (corner (x, y), person (h, w, 3)
        uint8 straight colour, matte (h, w) float32), ready for Compositor.paste.
        temporal: the TemporalFilter applied to the model's crops, or None."""
        return self.finish(targets, boxes, [self.move(t, box) for t, box in zip(targets, boxes)], temporal)

    def move(self, target: Pose, box: Box) -> tuple[Deformed, torch.Tensor]:
        """Step 1 for one target: the photo's pixels moved onto it, and the same as the
        model's warp-skip input. It needs no other frame, so the pipeline runs it in a
        thread of its own, ahead of the decoder."""
        w, h = self.frame_size
        # The moved pixels may reach beyond the target's box (legs hanging below a half-body
        # target follow the torso), so the mesh is drawn anywhere on the canvas.
        moved = self.mesh.deform(target, (0, 0, w, h))
        return moved, _model_warp(moved, box, self.synth.crop_size)

    def finish(self, targets: list[Pose], boxes: list[Box], moved: list[tuple[Deformed, torch.Tensor]],
               temporal=None) -> list[tuple[tuple[int, int], np.ndarray, np.ndarray]]:
        """Steps 2 and 3 for a batch, given `move`'s result per target: as `render`.
        With model_stride N the model renders targets 0, N, 2N, ... of the batch, and each
        target between takes the renders on either side of it, moved onto its own pose bone
        by bone and mixed (`_between`; past the batch's last render, that one alone); the
        moved photo pixels, made every frame, cover most of the body."""
        self.prepare_decoder()
        size = self.synth.crop_size
        drawn = range(0, len(targets), self.model_stride)
        warp = torch.stack([moved[i][1] for i in drawn])
        crop_poses = [boxes[i].pose_to_crop(targets[i], size) for i in drawn]
        if self.blend_head:
            rgbs, alphas, weights = self.synth.render_unblended(self.appearance, crop_poses, warp, with_weight=True)
        else:
            (rgbs, alphas), weights = self.synth.render_unblended(self.appearance, crop_poses, warp), None
        if weights is None:
            weights = [None] * len(rgbs)
        renders = list(zip(rgbs, alphas, weights))
        rendered_distances = {}  # (_between's, per render)
        out = []
        for i, (box, (d, _), target) in enumerate(zip(boxes, moved, targets)):
            j, between = divmod(i, self.model_stride)
            if not between:
                rgb, alpha, weight = renders[j]
            else:
                rgb, alpha, weight = _between(renders, crop_poses, j, between / self.model_stride,
                                              box.pose_to_crop(target, size), rendered_distances)
            if temporal is not None:
                rgb, alpha = temporal(rgb, alpha, box)
            out.append(_join(rgb, alpha, box, box_region(box, self.frame_size), d, target, weight,
                             self.mesh.unseen_limbs, missing_limbs(self.mesh.pose, target, self.mesh.unseen_limbs)))
        return out


def carried(rgb: np.ndarray, alpha: np.ndarray, weight: np.ndarray | None, rendered_for: Pose, target: Pose,
            d_from: np.ndarray | None = None, d_to: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The model's crop (rgb, alpha, weight) rendered for one pose, moved onto another (both
    in their own crop's pixels): each pixel follows the bone nearest it in `target` (a soft
    minimum over the bones, as the mesh's skinning), mapped back onto `rendered_for`'s.
    With model_stride 2 the targets between took the render before them as it was: an arm
    that moved in between left the model's faint matte where it had been, a grey smudge
    beside the moved arm. d_from, d_to: `half_distances` of rendered_for and of target when
    the caller has them already (a render carried to two targets, a target taking two)."""
    size = alpha.shape[0]
    transforms = bone_transforms(target, rendered_for)  # target crop -> rendered crop, per bone
    # The map is smooth: made on a grid of half the crop's resolution and scaled up (the
    # skinning weights' distance maps are most of its cost).
    half = size // 2
    f = half / size
    d_to = half_distances(target, size) if d_to is None else d_to
    w = np.exp(-(d_to - d_to.min(0)) / (SKIN_SOFTNESS * torso_length(target) * f))
    m = (transforms.reshape(len(transforms), 6).T.astype(np.float32) @ (w / w.sum(0)).reshape(len(w), -1))
    m = m.reshape(6, half, half)
    ys, xs = (np.mgrid[0:half, 0:half].astype(np.float32) + 0.5) / f - 0.5  # the grid's full-crop pixels
    small_x, small_y = m[0] * xs + m[1] * ys + m[2], m[3] * xs + m[4] * ys + m[5]
    # Each pixel follows its nearest bone, so a pixel beside a raised arm is taken from beside
    # the arm where it hung: often the torso, whose matte would be drawn beside the arm. Only
    # where the pixel lands as near that same bone as any other (within SKIN_SOFTNESS) is
    # the model's matte carried; elsewhere it has none.
    d_from = half_distances(rendered_for, size) if d_from is None else d_from
    sx = np.clip(np.round((small_x + 0.5) * f - 0.5), 0, half - 1).astype(np.int32)
    sy = np.clip(np.round((small_y + 0.5) * f - 0.5), 0, half - 1).astype(np.int32)
    landed = d_from[:, sy, sx]  # each grid pixel's distances to the bones where it lands
    own = np.take_along_axis(landed, d_to.argmin(0)[None], 0)[0]
    same = (own <= landed.min(0) + SKIN_SOFTNESS * torso_length(rendered_for) * f).astype(np.float32)
    map_x = cv2.resize(small_x, (size, size), interpolation=cv2.INTER_LINEAR)
    map_y = cv2.resize(small_y, (size, size), interpolation=cv2.INTER_LINEAR)
    same = cv2.resize(same, (size, size), interpolation=cv2.INTER_LINEAR)

    def move(image, border: float):
        return cv2.remap(np.ascontiguousarray(image), map_x, map_y, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=border)

    # (Beyond the rendered crop: no model matte, and a weight of 1, the moved pixels' say, as in _join.)
    return move(rgb, 0), move(alpha.astype(np.float32), 0) * same, \
        None if weight is None else move(weight.astype(np.float32), 1.0)


def half_distances(pose: Pose, size: int) -> np.ndarray:
    """`carried`'s bone distance maps of a pose in a size x size crop, on the half-size grid."""
    f = (size // 2) / size
    return _bone_distances(Pose(pose.xy * f, pose.score), size // 2)


def _between(renders: list, crop_poses: list[Pose], j: int, t: float, target: Pose, rendered_distances: dict):
    """The model's crop for a target between renders j and j + 1, t of the way to j + 1
    (0 < t < 1): both renders moved onto it (`carried`) and mixed, the nearer weighing
    more; render j alone past the batch's last render. Where a limb moved fast, each carried
    render leaves the model's faint paint where the limb was in its own frame; mixed, those
    smudges are half as strong and fewer pixels differ visibly from the model's own render
    of the frame (the dev clips at 1280 px, stride 2: frames with over 0.1% of their pixels
    20+ levels off stride 1's 10.5% -> 6.8%, L1 0.054 -> 0.043). rendered_distances: the
    batch's `half_distances` per render index, filled in as needed (each render serves the
    targets on both sides of it)."""
    size = renders[j][1].shape[0]
    d_to = half_distances(target, size)

    def from_render(k: int) -> tuple:
        if k not in rendered_distances:
            rendered_distances[k] = half_distances(crop_poses[k], size)
        return carried(*renders[k], crop_poses[k], target, d_from=rendered_distances[k], d_to=d_to)

    before = from_render(j)
    if j + 1 >= len(renders):
        return before
    after = from_render(j + 1)
    rgb = cv2.addWeighted(before[0], 1.0 - t, after[0], t, 0.0)
    alpha = cv2.addWeighted(before[1], 1.0 - t, after[1], t, 0.0)
    weight = None if before[2] is None else cv2.addWeighted(before[2], 1.0 - t, after[2], t, 0.0)
    return rgb, alpha, weight


def missing_limbs(photo: Pose, target: Pose, unseen: list[tuple[int, int]] = ()
                  ) -> tuple[Pose, list[tuple[int, int]]] | None:
    """The limbs the photo shows and the target lacks (a joint of theirs missing: the
    dancer's hand behind their back), placed where the mesh draws them (following their
    parent bone, mesh.bone_transforms), hands and feet included: (the target with those
    joints filled in, the limbs' joint pairs), or None when there are none. unseen: limbs
    the photo does not show after all (BodyMesh.unseen_limbs), left out."""
    ok_photo, ok_target = photo.visible(), target.visible()
    limbs = [(name, J[a], J[b]) for name, (a, b) in LIMBS.items()
             if ok_photo[J[a]] and ok_photo[J[b]] and not (ok_target[J[a]] and ok_target[J[b]])
             and (J[a], J[b]) not in unseen]
    if not limbs:
        return None
    transforms = bone_transforms(photo, target)
    xy, score = target.xy.copy(), target.score.copy()
    for name, a, b in limbs:
        m = transforms[BONE[name]]
        for j in (a, b):
            if not ok_target[j]:
                xy[j] = m[:, :2] @ photo.xy[j] + m[:, 2]
                score[j] = 1.0
        if name.endswith(("forearm", "shin")):  # the hand or foot beyond the end joint
            xy[b] = _hand_or_foot_end(name, xy[a], xy[b])
    return Pose(xy, score), [(a, b) for _, a, b in limbs]


def _hand_or_foot_end(name: str, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Where the hand past a forearm's wrist, or the foot past a shin's ankle, ends:
    HAND_EXTENSION or FOOT_EXTENSION of the bone's length (start -> end) beyond its end."""
    extend = HAND_EXTENSION if name.endswith("forearm") else FOOT_EXTENSION
    return end + extend * (end - start)


def hands_and_feet(target: Pose) -> tuple[Pose, list[tuple[int, int]]] | None:
    """The target's hands and feet as limbs: (a pose whose forearms and shins are moved on
    to the hand or foot beyond their end joint, HAND_EXTENSION or FOOT_EXTENSION of their
    length, the joint pairs of those drawn), or None when it has none."""
    ok = target.visible()
    xy = target.xy.copy()
    limbs = []
    for name, (a, b) in LIMBS.items():
        if name.endswith(("forearm", "shin")) and ok[J[a]] and ok[J[b]]:
            a, b = J[a], J[b]
            xy[a], xy[b] = target.xy[b], _hand_or_foot_end(name, target.xy[a], target.xy[b])
            limbs.append((a, b))
    return (Pose(xy, target.score), limbs) if limbs else None


def _bone_distances(pose: Pose, size: int) -> np.ndarray:
    """(bones, size, size) float32: each pixel's distance to each bone (mesh.distance_maps),
    1e9 for a missing bone."""
    return np.stack([m if m is not None else np.full((size, size), 1e9, np.float32)
                     for m in distance_maps(pose, (size, size))])


# Arm moves (radians: the upper arm about the shoulder, the forearm about the elbow; positive
# raises the arm away from the body) of the seven poses beside the subject's own that the
# int8 decoder is calibrated on: raised, out, bent, crossed, one arm at a time and both.
CALIBRATION_ARMS = ({"left": (1.5, 0.0)}, {"right": (1.5, 0.8)}, {"left": (2.5, 1.0), "right": (2.5, 1.0)},
                    {"left": (0.8, 1.5), "right": (0.8, -1.5)}, {"left": (-0.4, 0.0), "right": (3.0, 0.0)},
                    {"left": (1.0, 2.0)}, {"left": (0.5, 0.0), "right": (2.0, -1.0)})


def calibration_poses(pose: Pose) -> list[Pose]:
    """`pose` and seven with its arms moved (CALIBRATION_ARMS): inputs that span the
    decoder's activation ranges for this subject, for the int8 decoder's calibration
    (model/onnx_decoder.py). Missing joints stay missing."""
    def turned(xy, joint, about, angle):
        v = xy[J[joint]] - xy[J[about]]
        c, s = np.cos(angle), np.sin(angle)
        return xy[J[about]] + [c * v[0] - s * v[1], s * v[0] + c * v[1]]

    out = [pose]
    for arms in CALIBRATION_ARMS:
        xy = pose.xy.copy()
        for side, (upper, fore) in arms.items():
            sign = -1.0 if side == "left" else 1.0  # (the person's left arm is on the image's right: mirrored)
            for joint in (f"{side}_elbow", f"{side}_wrist"):
                xy[J[joint]] = turned(xy, joint, f"{side}_shoulder", sign * upper)
            xy[J[f"{side}_wrist"]] = turned(xy, f"{side}_wrist", f"{side}_elbow", sign * fore)
        out.append(Pose(xy, pose.score.copy()))
    return out


def uses_blend_head(model) -> bool:
    """Whether the model's blend head decides, with the mesh's trust, how much of the moved
    pixels to keep: for weights trained on this path's warps (metadata "warp": "mesh") once
    they are fine-tuned on the subject (model/finetune.py sets "finetuned_steps").
    Untuned, the head keeps too little of the moved pixels: trained on pairs whose warps
    are often misaligned, it learned caution. With model.finetune_steps 0 it halved the
    detail (person sharpness 0.85 -> 0.35 of the photo's, cross-person) and cost validation SSIM 0.730 ->
    0.711 against the mesh's trust alone (benchmarks/results/model_v2_untuned.md).
    "blend_head" in the metadata overrides it (benchmarks compare both)."""
    extra = getattr(model, "extra", {}) or {}
    return bool(extra.get("blend_head", extra.get("warp") == "mesh" and extra.get("finetuned_steps", 0) > 0))


def crop_mesh_warp(mesh: BodyMesh, target: Pose, size: int) -> torch.Tensor:
    """The warp-skip input for a mesh built on an S x S crop and a target pose in the same
    crop's pixels: what training and the per-subject fine-tune feed a model trained on this
    path's warps (metadata "warp": "mesh"), made by the same function as at inference."""
    return _model_warp(mesh.deform(target, (0, 0, size, size)), Box(0.0, 0.0, float(size)), size)


def crop_mesh_warper(size: int):
    """For the fine-tune (model/finetune.py): (crop, mask 0-1, pose) -> (target -> warp)."""
    def make(image: np.ndarray, mask: np.ndarray, pose: Pose):
        mesh = BodyMesh(image, pose, mask)
        return lambda target: crop_mesh_warp(mesh, target, size)
    make.version = f"mesh {MESH_VERSION}"  # part of the tune cache's key
    return make


def _model_warp(d: Deformed, box: Box, size: int) -> torch.Tensor:
    """The moved pixels as the model's warp-skip input (4, S, S): colour in [-1, 1] times
    the trusted coverage, then that coverage in [-1, 1] (inputs.warp_input's layout)."""
    warp = torch.zeros(4, size, size)
    warp[3] = -1.0
    if d.coverage.size == 0:
        return warp
    f = box.scale_to(size)
    dh, dw = d.coverage.shape
    step = 4 if f < 0.25 and min(dh, dw) >= 8 else 1
    dh, dw = dh - dh % step, dw - dw % step  # (at most 3 px of the edge dropped: < 1 model pixel)
    sw, sh = max(1, round(dw * f)), max(1, round(dh * f))

    def shrink(image):
        # Area averaging by an integer factor first (OpenCV's fast path), then the rest:
        # half the time of one area resize by a fractional factor, to a level or so. The
        # factor 4 as two halvings: OpenCV's vectorised path for 8-bit colour is the halving
        # (0.2 against 0.7 ms for a 600 x 1100 person; to a level).
        image = image[:dh, :dw]
        if step > 1:  # (step is 4)
            image = cv2.resize(image, (dw // 2, dh // 2), interpolation=cv2.INTER_AREA)
            image = cv2.resize(image, (dw // 4, dh // 4), interpolation=cv2.INTER_AREA)
        return cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)

    c = shrink(d.trusted)
    rgb = shrink(d.rgb).astype(np.float32)
    small = np.dstack([rgb * c[..., None], c])
    fx, fy = sw / dw, sh / dh
    # Small pixel s lies at canvas d.x0 + (s + 0.5) / fx - 0.5; the crop is (canvas - box corner) * f.
    m = np.float32([[f / fx, 0, f * (d.x0 - box.x0 - 0.5 + 0.5 / fx)],
                    [0, f / fy, f * (d.y0 - box.y0 - 0.5 + 0.5 / fy)]])
    crop = cv2.warpAffine(small, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    premult, cov = crop[..., :3], np.clip(crop[..., 3], 0, 1)
    warp[:3] = torch.from_numpy(premult / 127.5 - cov[..., None]).permute(2, 0, 1)
    warp[3] = torch.from_numpy(cov * 2 - 1)
    return warp


def _body_gate(target: Pose, region, limbs: list[tuple[int, int]] | None = None) -> np.ndarray:
    """(h, w) float32 in [0, 1] over region: 1 on and near the target's body (limbs drawn
    GATE_RADIUS torso lengths thick, the torso polygon, the head), fading to 0 beyond.
    The model's matte is kept only there: elsewhere it paints smudges, not body.
    limbs: only these bones (joint index pairs), no torso or head; None: the whole body."""
    x0, y0, x1, y1 = region
    f = 0.25  # drawn at a quarter of the resolution: it is blurred anyway
    sw, sh = max(1, int((x1 - x0) * f)), max(1, int((y1 - y0) * f))
    gate = np.zeros((sh, sw), np.float32)
    t = torso_length(target) * f
    ok = target.visible()
    xy = (target.xy - [x0, y0]) * f

    def pt(i):
        return tuple(int(v) for v in np.round(xy[i]))

    torso = [i for i in TORSO if ok[i]]
    if len(torso) >= 3 and limbs is None:
        cv2.fillPoly(gate, [np.round(xy[torso]).astype(np.int32)], 1.0)
    for a, b in BONES if limbs is None else limbs:
        if ok[a] and ok[b]:
            cv2.line(gate, pt(a), pt(b), 1.0, max(1, int(2 * GATE_RADIUS * t)))
    if ok[0] and limbs is None:
        cv2.circle(gate, pt(0), max(1, int(0.35 * t)), 1.0, -1)
    k = max(3, int(GATE_BLUR * t) * 2 + 1)
    gate = cv2.blur(gate, (k, k))
    return cv2.resize(gate, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)


# Each limb's radius (torso lengths) by its joints, for _limb_strokes.
LIMB_RADIUS = {(J[a], J[b]): ARM_RADIUS.get(name, THIGH_RADIUS) for name, (a, b) in LIMBS.items()}
LIMB_PAIRS = list(LIMB_RADIUS)  # every limb's (start, end) joint indices


def _limb_strokes(target: Pose, region, limbs: list[tuple[int, int]]) -> np.ndarray:
    """(h, w) float32 in [0, 1] over region: the target's `limbs` (joint index pairs) as
    solid strokes of their radius (mesh.ARM_RADIUS, THIGH_RADIUS), edges softened over a
    few pixels. The matte of a limb the photo does not show: the model's own matte there is
    faint where it is unsure, and the astronaut's raised forearm (hidden by her helmet in
    the photo) came out a pale ghost that the pose reader did not take for an arm."""
    x0, y0, x1, y1 = region
    strokes = np.zeros((y1 - y0, x1 - x0), np.float32)
    t = torso_length(target)
    ok = target.visible()
    for a, b in limbs:
        if ok[a] and ok[b]:
            p, q = (tuple(int(v) for v in np.round(target.xy[j] - [x0, y0])) for j in (a, b))
            cv2.line(strokes, p, q, 1.0, max(1, int(2 * LIMB_RADIUS.get((a, b), THIGH_RADIUS) * t)))
    k = max(3, int(0.04 * t) * 2 + 1)
    return cv2.GaussianBlur(strokes, (k, k), 0)


def _firm(alpha: np.ndarray, box: Box, region) -> np.ndarray:
    """The model's (S, S) matte scaled onto the canvas region with its soft edge made firm:
    0 below MODEL_MATTE_FIRM[0], 1 above MODEL_MATTE_FIRM[1], linear between. Its 128 px
    silhouette, scaled up several times, fades over tens of output pixels, and that fade
    showed as grey smudges around the body. (The ramp is linear, and a linear map commutes
    with the bilinear upscale: it is applied to the small matte and its border, and only
    the clip at full size.)"""
    lo, hi = MODEL_MATTE_FIRM
    ramp = 1.0 / (hi - lo)
    matte = crop_to_region(alpha.astype(np.float32) * ramp - lo * ramp, box, region, cv2.INTER_LINEAR,
                           cv2.BORDER_CONSTANT, border_value=-lo * ramp)
    return np.clip(matte, 0.0, 1.0, out=matte)


def _join(rgb: np.ndarray, alpha: np.ndarray, box: Box, region, d: Deformed, target: Pose,
          weight: np.ndarray | None = None, unseen: list[tuple[int, int]] = (),
          missing: tuple[Pose, list[tuple[int, int]]] | None = None):
    """The model's crop (upscaled into the box's region of the canvas) joined with the
    moved pixels (see the module docstring): (corner, person, matte) over the rectangle
    both cover. weight: the blend head's (S, S) weight, multiplying the mesh's trust (1
    beyond the box, where the model has no say), or None. unseen: the limbs the photo does
    not show (BodyMesh.unseen_limbs), whose matte is the model's (and at least their
    solid stroke) however near the mesh. missing: missing_limbs' result: the limbs the
    target lacks and the mesh still draws, where the blend head has no say."""
    rects = ([region] if region is not None else []) + \
        ([(d.x0, d.y0, d.x0 + d.coverage.shape[1], d.y0 + d.coverage.shape[0])] if d.coverage.size else [])
    if not rects:
        return (0, 0), np.zeros((0, 0, 3), np.uint8), np.zeros((0, 0), np.float32)
    u0, v0 = min(r[0] for r in rects), min(r[1] for r in rects)
    u1, v1 = max(r[2] for r in rects), max(r[3] for r in rects)
    person = np.zeros((v1 - v0, u1 - u0, 3), np.uint8)
    model_matte = np.zeros((v1 - v0, u1 - u0), np.float32)
    if region is not None:
        x0, y0, x1, y1 = region
        part = np.s_[y0 - v0:y1 - v0, x0 - u0:x1 - u0]
        # (Linear, not cubic: the model's colour only fills what the moved pixels leave.)
        person[part] = crop_to_region(rgb, box, region, cv2.INTER_LINEAR)
        model_matte[part] = _firm(alpha, box, region)
        model_matte = cv2.multiply(model_matte, _body_gate(target, (u0, v0, u1, v1)))
    if not d.coverage.size:
        return (u0, v0), person, model_matte
    dh, dw = d.coverage.shape
    sub = np.s_[d.y0 - v0:d.y0 - v0 + dh, d.x0 - u0:d.x0 - u0 + dw]
    trust = d.join_trust
    if weight is not None and region is not None:
        head = np.ones((v1 - v0, u1 - u0), np.float32)
        x0, y0, x1, y1 = region
        # The head's weight is blurred at the model's silhouette (128 px, scaled up): the last
        # few output pixels of a hand or foot got the model's own grey colour. Each weight is
        # raised to the highest within WEIGHT_REACH model pixels, so at the edge the moved
        # pixels' own coverage and trust decide.
        reach = 2 * WEIGHT_REACH + 1
        weight = weight.astype(np.float32)
        if missing is not None:
            # A limb the target lacks has no stroke in the stickman, and there the head gave
            # the mesh's pixels a weight near 0: the photo's forearm, still drawn hanging from
            # its upper arm, came out in the model's grey, a ghost arm (the musepose dancer's
            # right wrist, missing for 21 frames). There the mesh's trust decides alone.
            pose, limbs = missing
            size = weight.shape[0]
            # (The limbs' solid strokes, and their wider soft gate for the hand's breadth.)
            crop, rect = box.pose_to_crop(pose, size), (0, 0, size, size)
            weight = np.maximum(weight, np.maximum(_limb_strokes(crop, rect, limbs), _body_gate(crop, rect, limbs)))
        # Nor on the target's arms and legs, hands and feet included: the head is there for
        # the core (the photo's front on a person turned away), and on the limbs, which keep
        # their pixels from any view, it only took moved pixels the mesh trusts: the far
        # half of every hand (a grey fingertip on each raised hand of the quick start, the
        # stickman ending at the wrist) and the outer half of a raised forearm (pale, the
        # shirt showing through: the deepfashion photo). There the mesh's trust decides alone.
        size = weight.shape[0]
        crop, rect = box.pose_to_crop(target, size), (0, 0, size, size)
        weight = np.maximum(weight, _limb_strokes(crop, rect, LIMB_PAIRS))
        ends = hands_and_feet(crop)
        if ends is not None:
            ends_pose, end_limbs = ends
            weight = np.maximum(weight, _limb_strokes(ends_pose, rect, end_limbs))
        weight = cv2.dilate(weight, np.ones((reach, reach), np.uint8))
        head[y0 - v0:y1 - v0, x0 - u0:x1 - u0] = crop_to_region(weight, box, region, cv2.INTER_LINEAR)
        trust = cv2.multiply(trust, head[sub])
    person[sub] = mix(d.rgb, person[sub], trust)
    # Near the moved body its own mask is the matte; further out, the model's.
    coverage = np.zeros_like(model_matte)
    coverage[sub] = d.coverage
    # The support (how near the trusted body a pixel is) is a wide blur: made at a
    # quarter of the resolution, where it costs a sixteenth.
    small = (max(1, (u1 - u0) // 4), max(1, (v1 - v0) // 4))
    trusted = np.zeros((small[1], small[0]), np.float32)
    sx, sy = small[0] / (u1 - u0), small[1] / (v1 - v0)
    t0, t1 = int((d.x0 - u0) * sx), int((d.y0 - v0) * sy)
    part = cv2.resize(d.trusted, (max(1, round(dw * sx)), max(1, round(dh * sy))),
                      interpolation=cv2.INTER_AREA)[:small[1] - t1, :small[0] - t0]
    trusted[t1:t1 + part.shape[0], t0:t0 + part.shape[1]] = part
    # The support is 1 up to a quarter of the window from any trusted pixel (a max filter),
    # then falls to 0 at half the window. A blur alone gave a thin limb (narrower than the
    # window) a support under 1 even on itself, so the model's softer, offset silhouette
    # showed beside every arm as a pale halo (quick start: off-mesh matte 1.0% -> 0.3% of the body).
    k = max(3, int(MATTE_SUPPORT * box.side / 4) | 1)
    m = max(3, (k // 2) | 1)
    grown = cv2.dilate(trusted, np.ones((m, m), np.uint8))
    support = cv2.resize(np.clip(2.0 * cv2.blur(grown, (m, m)), 0, 1), (u1 - u0, v1 - v0),
                         interpolation=cv2.INTER_LINEAR)
    matte = cv2.blendLinear(coverage, model_matte, support, 1.0 - support)
    if unseen and region is not None:
        # A limb the photo does not show has no moved pixels, and next to the moved body
        # (a forearm at the end of a moved upper arm) the support gave it the mesh's empty
        # coverage: the limb was cut off. Along it the model's own matte counts too, and
        # the limb's solid stroke, in the model's colour.
        rect = (u0, v0, u1, v1)
        matte = np.maximum(matte, np.maximum(model_matte * _body_gate(target, rect, unseen),
                                             _limb_strokes(target, rect, unseen)))
    return (u0, v0), person, matte
