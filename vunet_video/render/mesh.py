"""A skinned triangle mesh of the photographed person: their own pixels, moved to any pose.

The VUNet renders a 128 px crop, which stretched to the output smears face, hair and print.
The photo itself has those details at full resolution, so `BodyMesh` moves the photo's
own pixels onto each target pose at the output's resolution, and the model only has to
complete what the moved pixels cannot supply (see render/full_resolution.py).

Built once per subject, in the way of Animated Drawings (Smith et al., "A Method for
Animating Children's Drawings of the Human Figure", ACM TOG 2023: mask -> mesh -> rig ->
deform), adapted to photos:

* Parts. Every pixel of the person mask is labelled with the body part it belongs to:
  an arm or forearm only within a limb's radius of its bone, nearer it than the torso and
  thighs, and not coloured like the body beside it (so a forearm resting on the shorts
  does not take a patch of the shorts with it); the rest by the nearest of torso, head,
  thighs and shins. Forearms and shins run on past the wrist and ankle to take the hand
  and foot; a hand bent off that line (resting on the hip) is found by the face's skin
  colour near the wrist. Two exceptions to "nearer the arm than the torso": an arm whose
  bone lies across the torso (folded arms) keeps its radius there, and beside the torso a
  sleeve of the body's own cloth is the arm's out to SLEEVE_REACH radii. A half-body
  photo (no hips) gets hips from average proportions first.
* Dresses. A dress or skirt that joins the legs (a gown as wide as the body's middle, or
  one to the knees, found by its hem: the person narrows there and changes colour to the
  shins') is no part of the legs: down to its hem it stays in the core, which follows the
  legs more the lower it hangs, so it stretches between legs that part instead of splitting.
* The face is never an arm's: a hand raised to the temple, its skin the face's colour,
  leaves the face's middle (HEAD_CLEAR) behind.
* Layers. Parts form five layers, each with its own vertices: core (torso and head),
  two legs, two arms. Limbs the photo shows touching the body or each other can thus
  come apart. Where the legs overlap in the photo (one foot before the other), the pixels
  near both legs' bones go to both legs' layers: the one leg seen, cut between them, came
  apart in strips. Layers are drawn back to front: core, legs, arms, so an arm in front of
  the body stays in front.
* Mesh. A regular grid of triangles over each layer's part of the mask, one cell wider
  than the part. Each layer's texture is the photo with its part's soft mask, grown a
  little into the core around a limb's root, so the layers overlap where they meet and
  joints leave no gaps.
* Skinning. Every vertex follows a blend of its layer's bones (linear-blend skinning),
  weighted by a soft minimum of its distances to them, so it bends smoothly at elbows,
  knees, shoulders and hips. Each bone's transform maps its source segment onto the
  target segment (rotation, the length ratio along the bone and the body's scale across);
  the torso's is the affine map of its four corners.
* Borrowed forearms. A forearm the photo does not show (folded across the body, behind
  something, beyond the photo's edge) gets its upper arm's pixels laid along it, a sleeve
  of the arm's own cloth, drawn over the arm; the model still paints the hand.
* Under the hips. The core reaches a little below the line between the hip joints, behind
  the legs' tops (fading out), so a thigh swung out uncovers the shorts' or skirt's own
  cloth rather than opening a wedge of background at the hip.
* What an arm hides. Where an arm lies across the torso in the photo, or a hand rests on
  the body, what is behind was never seen; the layer behind (core or leg) still covers it,
  filled from the visible pixels around it, mirrored (the shorts behind a hand become
  shorts, a plaid side goes on as plaid). The fill is trusted as the photo's own pixels
  (HIDDEN_TRUST), and the model's blend head, where used, still has its say there.

Every frame, `BodyMesh.deform` rasterises the deformed layers inside a region of the
output canvas (the triangle map at a quarter of the resolution, interpolated; the photo
sampled at full resolution): RGB, coverage (the photo's soft person mask, moved), and
trust in [0, 1], a smooth map made at a quarter of the resolution
(low where the mesh is stretched or squashed, lower where a layer was hidden, and on the
core where the target faces away from the camera while the photo faces it: the photo's
face and chest must not be pasted on the person's back).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from ..pose.keypoints import INDEX as J
from ..pose.keypoints import MIN_SCORE, Pose
from .compose import mix

# Bones, in the order of the transform table. Segments are (start joint, end joint).
TORSO, HEAD = 0, 1
LIMBS = {
    "left_upper_arm": ("left_shoulder", "left_elbow"), "left_forearm": ("left_elbow", "left_wrist"),
    "right_upper_arm": ("right_shoulder", "right_elbow"), "right_forearm": ("right_elbow", "right_wrist"),
    "left_thigh": ("left_hip", "left_knee"), "left_shin": ("left_knee", "left_ankle"),
    "right_thigh": ("right_hip", "right_knee"), "right_shin": ("right_knee", "right_ankle"),
}
BONE_NAMES = ("torso", "head", *LIMBS)
BONE = {name: i for i, name in enumerate(BONE_NAMES)}
ARMS = [BONE[n] for n in ("left_upper_arm", "left_forearm", "right_upper_arm", "right_forearm")]
LEGS = [BONE[n] for n in ("left_thigh", "left_shin", "right_thigh", "right_shin")]

# Limb radius as a fraction of the torso length (shoulder centre to hip centre, ~50 cm on
# an adult): a forearm is ~7-8 cm across, an upper arm ~9-10 cm (anthropometric tables, e.g.
# NASA-STD-3000 vol. I, sec. 3), plus a margin for sleeves. Pixels further from an arm's
# bone are not the arm's.
ARM_RADIUS = {"left_upper_arm": 0.12, "left_forearm": 0.085, "right_upper_arm": 0.12, "right_forearm": 0.085}
# Hands and feet lie beyond the wrist and ankle: the forearm's and shin's bones are drawn
# this much longer (a hand is ~0.7 of the forearm's length, a foot below the ankle shorter).
HAND_EXTENSION, FOOT_EXTENSION = 0.55, 0.2
# No arm takes pixels within this many torso lengths of the face's centre (the nose and
# eyes): its middle, not the temples a hand may rest on (a face is about 0.3 wide).
HEAD_CLEAR = 0.15
# Below this mask value a person pixel is the mask's soft rim: it goes with the part of the
# nearest firmer pixel, not the nearest bone (_rim_follows_nearest_part).
RIM_SOFTNESS = 0.5
# A detached piece of a part smaller than this (in torso lengths, squared) joins the nearest
# other part (_islands_join_their_neighbour): 0.1 of a torso on a side, 15 px for a 150 px torso.
ISLAND_SIZE = 0.1
# How much of the filled-in texture behind an arm or hand is kept (the model paints the
# rest); 0: the model paints it all (the fill is skipped). 1 (was 0.8): with the mirrored
# fill, the held-out and validation reconstructions scored best trusting it whole (person-box
# SSIM 0.7224 -> 0.7230, L1 17.02 -> 16.99, perceptual 0.293 -> 0.291 over 124 frames),
# and the model's grey no longer showed through the shorts where a hand had rested.
HIDDEN_TRUST = 1.0
# An uncertain mask pixel (below 0.995) within this distance (torso lengths) of the background
# keeps its mask value only as far as its colour differs from the background's beside it, by
# BACKGROUND_COLOUR_GAP (RGB distance, 0-255) for all of it (_rim_keeps_only_person_colour).
BACKGROUND_REACH, BACKGROUND_COLOUR_GAP = 0.1, 24.0
# Within this much of the background's colour such a pixel is background outright: the colour
# beside it is the nearest background pixel's, a few levels off over a gradient backdrop, and
# kept at a few percent those pixels were a faint pale patch in the crotch.
BACKGROUND_COLOUR_FLOOR = 8.0
# Half a thigh's width near the hip, in torso lengths (~8 cm of ~50; anthropometric tables):
# between the thighs and farther than this from both, the mask's pixels are eligible for that
# fade however certain the segmentation is (it fills a crotch's gap with certainty).
THIGH_RADIUS = 0.15
# Only this share of it around a thigh's bone is the thigh's whatever its colour: beyond, between
# the thighs, the fade applies (BodyMesh._between_legs). At the whole THIGH_RADIUS a thin leg
# (the quick start's) kept a strip of the gap's backdrop along its inner side, and the strips
# moved with the legs: a pale patch in the crotch over a colour or alpha background (over the
# photo's own plate they are nearly its colour). The legs' backdrop pixels: 446 -> 117.
THIGH_SURE = 0.5
# Between the shins the fade keeps this far (torso lengths) from their bones: a shin's edge
# lies farther out than THIGH_SURE of a thigh's radius, and trousers of the lawn's own olive
# lost their edge to it (the taichi frame of test_layers_meet_without_a_seam_and_keep_their_edge_colour).
SHIN_CLEAR = 0.1
# The shoulder's cap: above the shoulder joint, on the side away from the neck, within this many
# upper-arm radii of its bone and coloured like the sleeve (within SLEEVE_COLOUR, CIE Lab, of one
# of its colours), a pixel is the arm's (BodyMesh._sleeves_beside_torso). Left to the torso, the
# cap's rim stayed behind as a thin arc over the shoulder whenever the arm rose (the quick start).
# The colour test keeps a helmet's ring and hair on the shoulder off the arm; without it the
# astronaut's limb error rose 34.0 -> 35.7 degrees.
SHOULDER_CAP, SLEEVE_COLOUR = 1.5, 25.0
# How near a hand's colour is to the face's skin: distance in 8-bit CIE Lab with the
# lightness weighted by a quarter (skin against dark cloth or a pale wall: 20-50 apart).
HAND_COLOUR = 18.0
HAND_COLOUR_WEIGHT = np.float32([0.25, 1.0, 1.0])  # (L*, a*, b*)
# How far beyond an arm's bone, in arm radii, a sleeve beside the torso is the arm's whatever
# its colour (BodyMesh._sleeves_beside_torso): the astronaut's suit sleeve reaches about 2 upper-arm
# radii from its bone; limb error over the dev clips was level from 1.8 to 3.5.
SLEEVE_REACH = 2.5
# How far beyond an arm's bone, in arm radii, its edge may be claimed by colour
# (BodyMesh._arm_edges_by_colour).
EDGE_REACH = 2.0
# A limb whose part holds less than this share of its band's area (2 radii across its bone's
# length, hand or foot included) is one the photo does not show: behind a helmet, folded
# out of sight, beyond the photo's edge. The model draws it (BodyMesh.unseen_limbs).
UNSEEN_LIMB_SHARE = 0.3
# A hand's pixels (a forearm's beyond HAND_STARTS of the elbow-to-wrist length: the wrist
# joint is placed a little inside the hand) within HAND_REACH torso lengths of the body hide
# the body behind them (BodyMesh._body_behind_hands): a finger is ~2 cm across, 0.04 of a
# ~50 cm torso, so fingers spread over the shorts are all within reach of the cloth between them.
HAND_STARTS, HAND_REACH = 0.9, 0.05
# Where the legs overlap in the photo, pixels within this many torso lengths of a bone of
# each leg go to both legs' layers (BodyMesh._legs_overlap): the bones of legs standing side
# by side lie about 0.2 apart, so none do there.
LEG_OVERLAP = 0.08
# A hand in a pocket or behind the hip (BodyMesh._hidden_hands) has its wrist no higher than
# this many torso lengths above the hip joints' line (a waist's pocket lies about there).
HIDDEN_HAND_DROP = 0.25
# How far (torso lengths, at least FOREIGN_RIM_MIN px) a layer's pixels beside another part's
# count as mixed with that part's colour and take the layer's own (_own_colour_at_rim): the
# photo's anti-aliasing and JPEG's colour at half resolution reach 2-3 px at ~250 px a torso.
FOREIGN_RIM, FOREIGN_RIM_MIN = 0.01, 2.0
# How far (torso lengths, on average over its vertices) a limb must move from where the
# torso's own move would take it before its rim is all its own colour (BodyMesh._texture_for).
AWAY_SHIFT = 0.05

# Layers, back to front: (name, bones a vertex may follow, the joint where a limb meets the core).
LAYERS = (
    ("core", (TORSO, HEAD), None),
    ("left_leg", (BONE["left_thigh"], BONE["left_shin"]), "left_hip"),
    ("right_leg", (BONE["right_thigh"], BONE["right_shin"]), "right_hip"),
    ("left_arm", (BONE["left_upper_arm"], BONE["left_forearm"]), "left_shoulder"),
    ("right_arm", (BONE["right_upper_arm"], BONE["right_forearm"]), "right_shoulder"),
)
# A limb's texture reaches this far (torso lengths) into the core around its root (the
# shoulder or hip, within ROOT_RADIUS), so the layers overlap where they meet and the
# joint shows no seam.
LAYER_OVERLAP, ROOT_RADIUS = 0.02, 0.3
# A dress or gown: the person's mask, halfway down from the hips to the lowest person pixel,
# runs unbroken across the body's middle for more than SKIRT_WIDTH torso lengths (two legs
# side by side, trousers or bare, span about 0.5; 52 e-commerce photos of dresses, where their
# legs were found, 0.9-2.1 at mid-shin). Then the legs are no layers of their own: a thigh
# took a wedge of the skirt along with it (a gown split into shards as the dancer stepped).
# The skirt stays in the core and follows the legs more the lower it hangs: not at the
# hips, wholly at the hem, shared between the legs by a soft minimum of the distances to
# their bones over SKIRT_SOFTNESS torso lengths.
SKIRT_WIDTH, SKIRT_SOFTNESS = 0.8, 0.15
# ... and only where the person reaches at least this far below the hips (torso lengths): a
# half-body photo ends at its waist, and its suit or coat is wide there too.
SKIRT_LENGTH = 1.0
# A dress, skirt or tunic to the knees (BodyMesh._dress_hem) is as narrow as two legs side
# by side, and the width rule above misses it: in e-commerce photos a dress or kurta to the
# knees is the most common dress of all, and it split between the legs into two trouser legs
# with the backdrop between. Its hem is found walking down the body's middle from the hips:
# the first run of DRESS_RUN torso lengths of pixels that are no longer the person's, or are
# the colour of their shins (within CLOTH_GAP). A dress when that hem lies at least
# DRESS_DROP torso lengths below the hips and the person narrows there: a tenth of a torso
# below the hem the mask covers at most DRESS_NARROWING of the dress's width just above it.
# Shorts end higher; trousers with the knees together, tucked into boots or ending at the
# shoes, do not narrow. On 149 street photos (every 14th of ccp_photos) and 51 e-commerce
# photos: 13 and 10 dresses, skirts, kilts and kurtas found beside the wide ones, none of
# them shorts or trousers (by eye); their drop 0.71-1.16 and narrowing 0.41-0.81; shorts
# ended 0.51-0.67 below the hips, trousers narrowed to 0.88-0.96.
DRESS_DROP, DRESS_NARROWING, DRESS_RUN = 0.7, 0.85, 0.05
# The core's underlay below the hips reaches twice this (torso lengths) from the line between
# the hip joints: about the crotch of shorts or a skirt's top.
PELVIS_UNDERLAY = 0.15
# How near (CIE Lab distance, 8-bit) a pixel's colour must be to the cloth at the hips to be
# part of that underlay: 25, as the arms' trim by colour (about 10 just noticeable differences).
CLOTH_GAP = 25.0

# A half-body photo's missing hips: the torso (shoulder centre to hip centre) is about 1.3
# shoulder widths long and the hips about 0.7 as wide as the shoulders, measured between
# the COCO joints (adult averages: biacromial breadth ~39 cm, shoulder to hip joint ~51 cm;
# NASA-STD-3000 vol. I, sec. 3).
TORSO_PER_SHOULDER_WIDTH, HIP_PER_SHOULDER_WIDTH = 1.3, 0.7

# Bumped whenever the moved pixels change: the tune cache keys tunes on mesh warps by it
# (3, 0.3.2: layers keep their edge colour and overlap the ones below them, arm edges
# found by colour; 4: the mask's soft rim goes with the nearest part; 5: small detached pieces
# of a part join their neighbour; 6: uncertain mask pixels of the background's colour fade;
# 7: so do those between the thighs; 8: a layer's mesh keeps only the cells its texture shows;
# 9: arms across the torso keep their width, sleeves beside it are the arm's; 10: the body behind a
# resting hand is filled, and hidden parts are filled by mirroring, not nearest-pixel streaks;
# 11: the underlay below the hips is the hips' cloth only, solid; 12: a layer's rim beside another part takes
# the layer's own colour; 13: where the mesh folds, the map is exact, not interpolated
# across the fold, and a layer's solid triangles are drawn over its soft rim's, a forearm's
# over its upper arm's, a thigh's over its shin's; 14: a forearm the photo does not show is
# drawn with its upper arm's pixels, borrowed; 15: the shoulder's cap goes with the arm, and the
# backdrop between thin thighs fades; 16: and between the shins, and pixels within
# BACKGROUND_COLOUR_FLOOR of the backdrop's colour fade entirely; 17: a limb's outline takes
# its own colour, not the backdrop's; 18: a bare elbow's skin against the body goes with the
# forearm; 19: a dress or skirt joining the legs stays in the core; 20: so does one to the
# knees, down to its hem; 21: the cloth past a hidden hand's wrist stays with the body; 22:
# legs that overlap in the photo both take the pixels they share). (The join's edge trust,
# 0.3.21, changes no warp: the model's input is the same.)
MESH_VERSION = 22
CELLS_PER_HEIGHT = 40  # grid cells over the person's height: ~4 cm cells on an adult
# How softly a vertex's skinning weights fall off with its distance to each bone, in torso lengths.
SKIN_SOFTNESS = 0.05
# How far a layer reaches under the layers drawn before it (3x3: one pixel), so their seam is opaque.
SEAM_GROW = np.ones((3, 3), np.uint8)
TEXTURE_PAD = 2  # pixels around each layer's texture (see BodyMesh._texture)
# A limb layer's outline (alpha under RIM_FIRM within RIM_BAND torso lengths of where it is
# transparent) takes the colour of its nearest firm pixel (_rim_takes_firm_colour); 0: off.
# Limbs only: on the core as well (the hair's outline, flattened) limb error rose 9.62 -> 9.76;
# on the limbs alone it fell to 9.44 (the A/B of the model card's 0.3.21).
RIM_FIRM, RIM_BAND = 0.9, 0.02


def _segment(pose: Pose, a: str, b: str, extend: float = 0.0, min_score: float = MIN_SCORE):
    ok = pose.visible(min_score)
    if not (ok[J[a]] and ok[J[b]]):
        return None
    p, q = pose.xy[J[a]].astype(np.float64), pose.xy[J[b]].astype(np.float64)
    return p, q + extend * (q - p)


def _torso_corners(pose: Pose, min_score: float = MIN_SCORE):
    idx = [J["left_shoulder"], J["right_shoulder"], J["right_hip"], J["left_hip"]]
    ok = pose.visible(min_score)[idx]
    return pose.xy[idx].astype(np.float64), ok


def _torso_axis(pose: Pose, min_score: float = MIN_SCORE):
    """(shoulder centre, hip centre) or None."""
    corners, ok = _torso_corners(pose, min_score)
    if not (ok[0] or ok[1]) or not (ok[2] or ok[3]):
        return None
    return corners[:2][ok[:2]].mean(0), corners[2:][ok[2:]].mean(0)


def torso_length(pose: Pose, min_score: float = MIN_SCORE) -> float:
    """Shoulder centre to hip centre, or a guess from the joints' extent."""
    axis = _torso_axis(pose, min_score)
    if axis is not None and np.hypot(*(axis[1] - axis[0])) > 1:
        return float(np.hypot(*(axis[1] - axis[0])))
    bb = pose.bbox(min_score)
    return max(8.0, 0.33 * (bb[3] - bb[1])) if bb else 8.0


def facing(pose: Pose, min_score: float = MIN_SCORE) -> float | None:
    """How much the person faces the camera: about -0.6 facing it, +0.6 facing away, 0 in
    profile (shoulder width across the torso axis, over the torso length); None unknown.
    Facing the camera, the person's right shoulder is on the image's left."""
    corners, ok = _torso_corners(pose, min_score)
    axis = _torso_axis(pose, min_score)
    if not (ok[0] and ok[1]) or axis is None:
        return None
    across = corners[1] - corners[0]  # left shoulder -> right shoulder
    down = axis[1] - axis[0]
    length2 = float(down @ down)
    if length2 < 1:
        return None
    return float(across[0] * down[1] - across[1] * down[0]) / length2


def _head_segment(pose: Pose, min_score: float = MIN_SCORE):
    """Neck (shoulder centre) to the top of the head (twice the neck-to-nose vector, as
    model/parts.py frames the head), or None."""
    ok = pose.visible(min_score)
    if not (ok[J["left_shoulder"]] and ok[J["right_shoulder"]] and ok[J["nose"]]):
        return None
    neck = 0.5 * (pose.xy[J["left_shoulder"]] + pose.xy[J["right_shoulder"]]).astype(np.float64)
    return neck, neck + 2.0 * (pose.xy[J["nose"]] - neck)


def _bone_segments(pose: Pose, min_score: float = MIN_SCORE) -> list:
    """Per bone (BONE_NAMES order): its (start, end) segment, None where missing; the
    torso's is the shoulder-centre to hip-centre axis."""
    segs = [_torso_axis(pose, min_score), _head_segment(pose, min_score)]
    for name, (a, b) in LIMBS.items():
        extend = HAND_EXTENSION if name.endswith("forearm") else FOOT_EXTENSION if name.endswith("shin") else 0.0
        segs.append(_segment(pose, a, b, extend, min_score))
    return segs


def distance_maps(pose: Pose, shape, min_score: float = MIN_SCORE) -> list[np.ndarray | None]:
    """Per bone (BONE_NAMES order), each pixel's distance to it (the torso: to its
    four-corner polygon); None where the bone is missing."""
    h, w = shape
    maps: list[np.ndarray | None] = []
    corners, ok = _torso_corners(pose, min_score)
    for i, seg in enumerate(_bone_segments(pose, min_score)):
        canvas = np.full((h, w), 255, np.uint8)
        if i == TORSO and ok.sum() >= 3:
            cv2.fillPoly(canvas, [np.round(corners[ok]).astype(np.int32)], 0)
        elif seg is not None:
            p, q = (tuple(int(v) for v in np.round(x)) for x in seg)
            cv2.line(canvas, p, q, 0, 1)
        else:
            maps.append(None)
            continue
        maps.append(cv2.distanceTransform(canvas, cv2.DIST_L2, 3))
    return maps


# ----------------------------------------------------------------------------- bone transforms

def _similarity_along(src, dst, across_scale: float) -> np.ndarray:
    """2x3 map taking segment src onto dst: rotation, the length ratio along the bone and
    `across_scale` across it."""
    (p, q), (p2, q2) = src, dst
    u, u2 = q - p, q2 - p2
    l1, l2 = np.hypot(*u), np.hypot(*u2)
    if l1 < 1e-6 or l2 < 1e-6:
        return _translation(p2 - p)
    e1, e2 = u / l1, u2 / l2
    n1, n2 = np.array([-e1[1], e1[0]]), np.array([-e2[1], e2[0]])
    # x -> p2 + e2 * (l2/l1) <x-p, e1> + n2 * across <x-p, n1>
    a = np.outer(e2, e1) * (l2 / l1) + np.outer(n2, n1) * across_scale
    return np.hstack([a, (p2 - a @ p)[:, None]])


def _translation(t) -> np.ndarray:
    return np.array([[1.0, 0.0, t[0]], [0.0, 1.0, t[1]]])


def bone_transforms(source: Pose, target: Pose, min_score: float = MIN_SCORE) -> np.ndarray:
    """(bones, 2, 3) affine maps from photo pixels to target pixels, one per bone. A bone
    missing in either pose follows its parent (limb -> torso, head -> torso)."""
    scale = body_scale(source, target, min_score)
    src_segs, dst_segs = _bone_segments(source, min_score), _bone_segments(target, min_score)
    out = np.empty((len(BONE_NAMES), 2, 3))
    out[TORSO] = _torso_transform(source, target, scale, min_score)
    out[HEAD] = out[TORSO] if src_segs[HEAD] is None or dst_segs[HEAD] is None \
        else _head_transform(src_segs[HEAD], dst_segs[HEAD], scale)
    for i in range(2, len(BONE_NAMES)):
        if src_segs[i] is None or dst_segs[i] is None:
            parent = i - 1 if BONE_NAMES[i].endswith(("forearm", "shin")) else TORSO
            out[i] = out[parent]
        else:
            out[i] = _similarity_along(src_segs[i], dst_segs[i], scale)
    return out


def body_scale(source: Pose, target: Pose, min_score: float = MIN_SCORE) -> float:
    """How much bigger the target's body is than the source's: the ratio of their torso
    lengths, or where either lacks its hips or shoulders, of their shoulder widths, hip
    widths or eye-to-ear spans, whichever both have; 1 when none."""
    if _torso_axis(source, min_score) is not None and _torso_axis(target, min_score) is not None:
        return torso_length(target, min_score) / torso_length(source, min_score)
    ok = source.visible(min_score) & target.visible(min_score)
    for a, b in (("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"), ("left_eye", "left_ear"),
                 ("right_eye", "right_ear")):
        if ok[J[a]] and ok[J[b]]:
            d_src = np.hypot(*(source.xy[J[a]] - source.xy[J[b]]))
            d_dst = np.hypot(*(target.xy[J[a]] - target.xy[J[b]]))
            if d_src > 1 and d_dst > 1:
                return float(np.clip(d_dst / d_src, 0.2, 5.0))
    return 1.0


def _head_transform(src, dst, scale: float) -> np.ndarray:
    """Rotation about the neck and the body's scale: the head keeps its shape when the
    neck-to-nose distance shortens (a nod) instead of being squashed."""
    (p, q), (p2, q2) = src, dst
    u, u2 = q - p, q2 - p2
    if np.hypot(*u) < 1e-6 or np.hypot(*u2) < 1e-6:
        return _translation(p2 - p)
    angle = np.arctan2(u2[1], u2[0]) - np.arctan2(u[1], u[0])
    c, s = np.cos(angle), np.sin(angle)
    a = scale * np.array([[c, -s], [s, c]])
    return np.hstack([a, (p2 - a @ p)[:, None]])


def _torso_transform(source: Pose, target: Pose, scale: float, min_score: float) -> np.ndarray:
    """Least-squares affine map of the torso corners both poses have (3 or 4); with fewer,
    the similarity of the torso axis; failing that, a translation of the common joints."""
    src, ok_s = _torso_corners(source, min_score)
    dst, ok_d = _torso_corners(target, min_score)
    both = ok_s & ok_d
    if both.sum() >= 3:
        a = np.hstack([src[both], np.ones((both.sum(), 1))])
        m, *_ = np.linalg.lstsq(a, dst[both], rcond=None)
        m = m.T
        # A nearly collinear torso (seen edge-on) gives a wild affine: fall back below.
        det = np.linalg.det(m[:, :2])
        if 0.1 * scale ** 2 < det < 10 * scale ** 2:
            return m
    axis_s, axis_d = _torso_axis(source, min_score), _torso_axis(target, min_score)
    if axis_s is not None and axis_d is not None:
        return _similarity_along(axis_s, axis_d, scale)
    if both[0] and both[1]:  # the shoulders alone (a half-body target): their line turns the torso
        return _similarity_along((src[0], src[1]), (dst[0], dst[1]), scale)
    common = source.visible(min_score) & target.visible(min_score)
    if common.any():
        return _translation((target.xy[common] - source.xy[common]).mean(0))
    return _translation((0.0, 0.0))


# ----------------------------------------------------------------------------- the mesh

@dataclass
class Layer:
    name: str
    bones: tuple[int, ...]
    vertices: np.ndarray       # (V, 2) float64, photo pixels
    weights: np.ndarray        # (V, len(bones) [+ 1 for a limb's root]) skinning weights, rows sum to 1
    triangles: np.ndarray      # (T, 3) int32 vertex indices
    texture: np.ndarray        # (h, w, 4) uint8: the photo and this layer's soft mask, cut at `origin`
    alpha: np.ndarray          # (h, w) float32: texture's 4th channel (sampled alone for the trust)
    origin: tuple[int, int]    # photo pixel (x, y) of texture[0, 0]
    hidden: np.ndarray | None  # (h, w) uint8, 255 where the photo never showed this layer (behind an arm or hand)
    # A limb's texture for when it has moved away from the parts beside it in the photo: its
    # rim there in its own colour (BodyMesh._texture); None for the core.
    texture_away: np.ndarray | None = None
    # A skirt's (the core's, BodyMesh.skirt): per triangle, the trust its stretch keeps at
    # least, as far as it follows the legs (its hem wholly); None otherwise.
    cloth: np.ndarray | None = None


@dataclass
class Deformed:
    """A deformed mesh rasterised into a rectangle of the canvas, (x0, y0) its top-left
    corner: the part of the requested region the person covers (empty if none)."""

    x0: int
    y0: int
    rgb: np.ndarray       # (h, w, 3) uint8, the photo's pixels (straight colour)
    coverage: np.ndarray  # (h, w) float32 in [0, 1]
    trust: np.ndarray     # (h, w) float32 in [0, 1]
    edge_trust: np.ndarray | None = None  # the same, kept up at the edges: for the join (BodyMesh._trust)

    @property
    def join_trust(self) -> np.ndarray:
        """The trust the join mixes colour by (edge_trust, or trust without one)."""
        return self.trust if self.edge_trust is None else self.edge_trust

    @cached_property
    def trusted(self) -> np.ndarray:
        """coverage x trust, (h, w) float32: how much of each pixel the moved photo supplies
        (made once: the model's warp input and the join's matte both need it)."""
        return cv2.multiply(self.coverage, self.trust)


class BodyMesh:
    """The person of a photo as a layered, skinned triangle mesh (see the module docstring).

    image: the photo (RGB uint8) at the output's scale; pose: their pose in its pixels;
    mask: their soft person mask (H, W) in [0, 1], or None (the hull of the joints is used).
    """

    def __init__(self, image: np.ndarray, pose: Pose, mask: np.ndarray | None = None,
                 min_score: float = MIN_SCORE):
        self.image = np.ascontiguousarray(image[..., :3])
        self.min_score = min_score
        self.notes: list[str] = []
        self.pose = self._with_hips(pose)
        pose = self.pose
        h, w = image.shape[:2]
        self.torso = torso_length(pose, min_score)
        self.facing = facing(pose, min_score)
        soft = self._person_mask(mask, (h, w))
        dist = self._distance_maps((h, w))
        soft = _rim_keeps_only_person_colour(self.image, soft, BACKGROUND_REACH * self.torso,
                                            self._between_legs(dist, (h, w)))
        lab = cv2.cvtColor(self.image, cv2.COLOR_RGB2LAB).astype(np.float32)  # (the colour tests' space)
        labels, under = self._label_parts(soft > 0.02, dist, lab)
        self.skirt = self._skirt_hem(soft > 0.5)
        if self.skirt is None:  # (a dress to the knees: the legs below its hem stay layers of their own)
            self.skirt = self._dress_hem(soft > 0.5, lab)
        if self.skirt is not None:  # (the legs' pixels down to the hem are the core's: see SKIRT_WIDTH)
            above = (np.arange(h) <= self.skirt)[:, None]
            labels[np.isin(labels, LEGS) & above] = TORSO
            under[np.isin(under, LEGS) & above] = TORSO
            self.notes.append("a dress or skirt covers the legs: it moves with the body as one piece")
        labels = _rim_follows_nearest_part(labels, soft > RIM_SOFTNESS)
        labels = _islands_join_their_neighbour(labels, (ISLAND_SIZE * self.torso) ** 2)
        self._both_legs = self._legs_overlap(labels, dist)
        self._note_poor_mask(soft > 0.5, under >= 0)
        self.unseen_limbs = self._unseen_limbs(labels)
        self.layers = self._build_layers(labels, under, dist, soft, lab)
        self.borrowed = self._borrowed_forearms()

    # -- building (once per subject)

    def _skirt_hem(self, firm: np.ndarray) -> float | None:
        """The y of the lowest person pixel when a dress or skirt joins the legs (SKIRT_WIDTH),
        else None. Needs both hips (or their estimate, _with_hips)."""
        ok = self.pose.visible(self.min_score)
        lh, rh = J["left_hip"], J["right_hip"]
        rows = np.nonzero(firm.any(axis=1))[0]
        if not (ok[lh] and ok[rh]) or len(rows) == 0:
            return None
        hips = (self.pose.xy[lh] + self.pose.xy[rh]) / 2
        hem = float(rows[-1])
        # A whole body, or one cut at the shins: a half-body photo's mask runs off the
        # picture's bottom edge within 1.5 torso lengths of the hips (the astronaut's suit).
        if hem - hips[1] < SKIRT_LENGTH * self.torso or (rows[-1] >= firm.shape[0] - 2 and
                                                         hem - hips[1] < 1.5 * self.torso):
            return None
        y = int(round((hips[1] + hem) / 2))
        # The body's middle at that height: between the knees where both are found, else
        # below the hips' centre.
        lk, rk = J["left_knee"], J["right_knee"]
        x = (self.pose.xy[lk, 0] + self.pose.xy[rk, 0]) / 2 if ok[lk] and ok[rk] else hips[0]
        x = int(np.clip(round(x), 0, firm.shape[1] - 1))
        row = firm[y]
        if not row[x]:
            return None  # a gap between the legs
        left, right = _run_around(row, x)
        return hem if right - left > SKIRT_WIDTH * self.torso else None

    def _dress_hem(self, firm: np.ndarray, lab: np.ndarray) -> float | None:
        """The y of a dress's hem above the shins (DRESS_DROP), else None. Needs the hips and
        knees; the ankles may lie beyond the photo's edge. lab: the photo in CIE Lab (float32)."""
        ok, xy, t = self.pose.visible(self.min_score), self.pose.xy, self.torso
        if not all(ok[J[n]] for n in ("left_hip", "right_hip", "left_knee", "right_knee")) \
                or not np.isfinite(xy[[J["left_ankle"], J["right_ankle"]]]).all():
            return None
        hip, knee, ankle = ((xy[J[f"left_{n}"]] + xy[J[f"right_{n}"]]) / 2 for n in ("hip", "knee", "ankle"))
        if knee[1] - hip[1] < 0.4 * t or ankle[1] - knee[1] < 0.4 * t:
            return None  # (not standing: sitting, kneeling, lying)
        h, w = firm.shape
        shins = []  # each shin's colour: the person's pixels along its middle
        for side in ("left", "right"):
            k, a = xy[J[f"{side}_knee"]], xy[J[f"{side}_ankle"]]
            px = np.round([k + f * (a - k) for f in np.linspace(0.3, 0.7, 15)]).astype(int)
            px = px[(px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)]
            px = px[firm[px[:, 1], px[:, 0]]]
            if len(px) < 5:
                return None
            shins.append(np.median(lab[px[:, 1], px[:, 0]], axis=0))
        r, run = max(1, int(0.02 * t)), max(2, int(DRESS_RUN * t))
        streak = 0
        for y in range(int(hip[1] + 0.1 * t), int(min(ankle[1], h))):
            # The body's middle: between the hips' and knees' centres, then the knees' and ankles'.
            p, q = (hip, knee) if y < knee[1] else (knee, ankle)
            x = int(round(p[0] + (y - p[1]) / (q[1] - p[1]) * (q[0] - p[0])))
            if x - r < 0 or x + r >= w:
                return None
            leg = not firm[y, x - r:x + r + 1].all() or \
                min(np.linalg.norm(np.median(lab[y, x - r:x + r + 1], axis=0) - s) for s in shins) < CLOTH_GAP
            streak = streak + 1 if leg else 0
            if streak < run:
                continue
            hem = y - run + 1
            if hem - hip[1] < DRESS_DROP * t:
                return None
            # The dress's width just above the hem, and the person's pixels below it within it.
            above, below = int(hem - 0.05 * t), int(hem + 0.1 * t)
            if below >= h:
                return None
            left, right = _run_around(firm[above], x)
            pad = int(0.1 * t)
            narrowed = firm[below, max(0, left - pad):right + pad].sum() / max(1, right - left)
            return float(hem) if narrowed <= DRESS_NARROWING else None
        return None

    def _skirt_weights(self, vertices: np.ndarray, dist: list) -> np.ndarray:
        """(V, 2 + len(LEGS)) skinning weights of the core's vertices on (TORSO, HEAD, *LEGS)
        for a skirt (SKIRT_WIDTH): the torso and head as _skin_weights gives them, handed
        over to the legs in proportion to how far down from the hips to the hem a vertex
        lies, and shared among the legs' bones the pose has by a soft minimum of the
        distances (SKIRT_SOFTNESS)."""
        base = self._skin_weights(vertices, (TORSO, HEAD), dist, None)
        h, w = self.image.shape[:2]
        xi = np.clip(np.round(vertices[:, 0]).astype(int), 0, w - 1)
        yi = np.clip(np.round(vertices[:, 1]).astype(int), 0, h - 1)
        found = [b for b in LEGS if dist[b] is not None]
        legs = np.zeros((len(vertices), len(LEGS)))
        if not found:
            return np.concatenate([base, legs], 1)
        d = np.stack([dist[b][yi, xi] for b in found], 1).astype(np.float64)
        soft = np.exp(-(d - d.min(1, keepdims=True)) / (SKIRT_SOFTNESS * self.torso))
        legs[:, [LEGS.index(b) for b in found]] = soft / soft.sum(1, keepdims=True)
        hips = (self.pose.xy[J["left_hip"], 1] + self.pose.xy[J["right_hip"], 1]) / 2
        down = np.clip((vertices[:, 1] - hips) / max(1.0, self.skirt - hips), 0.0, 1.0)[:, None]
        return np.concatenate([base * (1.0 - down), legs * down], 1)

    def _unseen_limbs(self, labels: np.ndarray) -> list[tuple[int, int]]:
        """The (start, end) joint indices of the limbs (LIMBS) the photo does not show:
        their bone is missing from its pose, or their part holds under UNSEEN_LIMB_SHARE of
        a band of their radius along the bone. The mesh has no pixels to move there, so the
        full-resolution render keeps the model's own drawing of them: the astronaut's left
        forearm, hidden by her helmet, came out cut off at the elbow.
        A forearm folded across the body (its wrist on the torso) counts as unseen too: the
        photo shows it end-on and of the body's own cloth, and its few pixels, raised, came
        out as torn strips (the bus photo's crossed arms: limb error 16.3 -> 13.9 degrees
        over the dev clips, with the solid matte of full_resolution._limb_strokes)."""
        segments = _bone_segments(self.pose, self.min_score)
        folded = self._wrists_on_torso()
        unseen = []
        for name, (a, b) in LIMBS.items():
            if self.skirt is not None and BONE[name] in LEGS:
                continue  # (in the skirt: it moves them, and the model draws no legs of its own)
            seg = segments[BONE[name]]
            radius = ARM_RADIUS.get(name, THIGH_RADIUS) * self.torso
            band = 0.0 if seg is None else 2.0 * radius * float(np.hypot(*(seg[1] - seg[0])))
            if seg is None or (labels == BONE[name]).sum() < UNSEEN_LIMB_SHARE * band \
                    or (name.endswith("forearm") and name.split("_")[0] in folded):
                unseen.append((J[a], J[b]))
        return unseen

    def _borrowed_forearms(self) -> dict[str, Layer]:
        """Per side ("left", "right") whose forearm the photo does not show (unseen_limbs)
        but whose upper arm it does: a layer of the upper arm's own pixels that deform()
        lays along the target's forearm (its one bone, past BONE_NAMES' end, takes the
        photo's upper arm onto the target's forearm: _borrowed_transforms). A sleeve of the
        arm's own cloth then continues past the elbow, where the model alone drew a soft
        smear in about its colour, which the pose reader often did not take for an arm (the
        bus photo's folded arms, the astronaut's forearm behind her helmet)."""
        borrowed, self._borrowed_from = {}, {}
        for side in ("left", "right"):
            fore, upper = LIMBS[f"{side}_forearm"], LIMBS[f"{side}_upper_arm"]
            if (J[fore[0]], J[fore[1]]) not in self.unseen_limbs or (J[upper[0]], J[upper[1]]) in self.unseen_limbs:
                continue
            arm = next((lay for lay in self.layers if lay.name == f"{side}_arm"), None)
            if arm is None:
                continue
            # The triangles whose every vertex follows mostly the upper arm.
            on_upper = arm.weights[:, arm.bones.index(BONE[f"{side}_upper_arm"])] >= 0.5
            triangles = arm.triangles[on_upper[arm.triangles].all(1)]
            if len(triangles) < 4:
                continue
            used = np.unique(triangles)
            index = np.full(len(arm.vertices), -1, np.int64)
            index[used] = np.arange(len(used))
            texture = arm.texture if arm.texture_away is None else arm.texture_away  # (always moved away)
            borrowed[side] = Layer(f"{side}_forearm_borrowed", (len(BONE_NAMES) + len(borrowed),),
                                   arm.vertices[used], np.ones((len(used), 1)), index[triangles].astype(np.int32),
                                   texture, texture[..., 3].astype(np.float32), arm.origin, None)
            # (The photo's upper arm, which every frame's transform starts from.)
            self._borrowed_from[side] = _segment(self.pose, upper[0], upper[1], 0.0, self.min_score)
        return borrowed

    def _with_hips(self, pose: Pose) -> Pose:
        """A half-body photo (shoulders, no hips) gets hips where a torso of average
        proportions puts them: without a torso every body pixel would be the head's."""
        ok = pose.visible(self.min_score)
        ls, rs, lh, rh = (J[n] for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip"))
        if not (ok[ls] and ok[rs]) or ok[lh] or ok[rh]:
            return pose
        a, b = pose.xy[ls].astype(np.float64), pose.xy[rs].astype(np.float64)
        width = float(np.hypot(*(b - a)))
        if width < 1:
            return pose
        across = (b - a) / width
        down = np.array([-across[1], across[0]])
        if ok[J["nose"]] and (pose.xy[J["nose"]] - 0.5 * (a + b)) @ down > 0:
            down = -down  # away from the face
        xy, score = pose.xy.copy(), pose.score.copy()
        inward = 0.5 * (1 - HIP_PER_SHOULDER_WIDTH) * width
        xy[lh] = a + TORSO_PER_SHOULDER_WIDTH * width * down + inward * across
        xy[rh] = b + TORSO_PER_SHOULDER_WIDTH * width * down - inward * across
        score[[lh, rh]] = min(score[ls], score[rs])
        self.notes.append("no hips in the photo (a half body): the torso's length is guessed from the shoulders")
        return Pose(xy, score, pose.mask)

    def _person_mask(self, mask, shape) -> np.ndarray:
        h, w = shape
        if mask is not None:
            soft = np.clip(np.nan_to_num(np.asarray(mask, np.float32)), 0, 1)
            if soft.shape != (h, w):
                soft = cv2.resize(soft, (w, h), interpolation=cv2.INTER_LINEAR)
            if (soft > 0.5).sum() >= 64:
                return soft
            self.notes.append("the person mask is nearly empty; the joints' outline stands in for it")
        else:
            self.notes.append("no person mask; the joints' outline stands in for it")
        soft = np.zeros((h, w), np.float32)
        segs = [s for s in _bone_segments(self.pose, self.min_score) if s is not None]
        thickness = max(2, int(0.3 * self.torso))
        for p, q in segs:
            cv2.line(soft, tuple(int(v) for v in np.round(p)), tuple(int(v) for v in np.round(q)), 1.0, thickness)
        return cv2.GaussianBlur(soft, (0, 0), 0.05 * self.torso)

    def _note_poor_mask(self, inside: np.ndarray, hidden: np.ndarray) -> None:
        """Notes on what the photo cannot supply (the model paints it; the render goes on)."""
        area = max(int(inside.sum()), 1)
        # Holes: background inside the person's outline (a mask torn by print or shadow).
        outline = inside.astype(np.uint8)
        contours, _ = cv2.findContours(outline, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        filled = cv2.drawContours(np.zeros_like(outline), contours, -1, 1, cv2.FILLED)
        holes = int(filled.sum()) - area
        if holes > 0.02 * area:
            self.notes.append(f"the person mask has holes ({100 * holes / area:.0f}% of the body); "
                              "the model paints them")
        edge = np.concatenate([inside[0], inside[-1], inside[:, 0], inside[:, -1]])
        if edge.sum() > 0.1 * np.sqrt(area):
            self.notes.append("the person is cut by the photo's edge; what lies beyond it is painted by the model")
        if hidden.sum() > 0.03 * area or self._wrists_on_torso():
            self.notes.append("an arm lies across the body in the photo; the body behind it is painted by the model "
                              "when the arm moves")

    def _wrists_on_torso(self) -> list[str]:
        """The sides ("left", "right") whose wrist lies well inside the torso (its four
        corners shrunk by a fifth about their centre): folded arms, a hand on the chest. A
        forearm of the clothes' colour across the chest is then cut from the body by
        distance alone, and part of it stays on the torso when the arm moves (the bus
        photo's crossed arms: no hidden pixels were found, so that test alone said nothing)."""
        corners, ok = _torso_corners(self.pose, self.min_score)
        visible = self.pose.visible(self.min_score)
        if not ok.all():
            return []
        centre = corners.mean(0)
        shrunk = np.round(centre + 0.8 * (corners - centre)).astype(np.float32)
        return [side for side in ("left", "right") if visible[J[f"{side}_wrist"]] and cv2.pointPolygonTest(
            shrunk, tuple(float(v) for v in self.pose.xy[J[f"{side}_wrist"]]), False) > 0]

    def _between_legs(self, dist: list, shape) -> np.ndarray | None:
        """(H, W) bool: pixels between the legs and off all four of their bones (farther
        than THIGH_SURE of THIGH_RADIUS from each), where only the background, or clothes
        spanning the gap, or a leg's inner edge can be: the fade keeps what differs from the
        backdrop. Between the thighs (hips to knees), and on down between the shins where
        both ankles are seen (the segmentation fills the gap between the knees too, and a
        leg carried a spike of the backdrop from there). None without both hips and knees."""
        ok = self.pose.visible(self.min_score)
        names = ["left_hip", "left_knee", "right_knee", "right_hip"]
        if ok[J["left_ankle"]] and ok[J["right_ankle"]]:
            names = ["left_hip", "left_knee", "left_ankle", "right_ankle", "right_knee", "right_hip"]
        corners = [J[n] for n in names]
        thighs = [dist[BONE[f"{side}_thigh"]] for side in ("left", "right")]
        shins = [dist[BONE[f"{side}_shin"]] for side in ("left", "right")]
        if not ok[corners].all() or thighs[0] is None or thighs[1] is None:
            return None
        gap = np.zeros(shape, np.uint8)
        cv2.fillPoly(gap, [np.round(self.pose.xy[corners]).astype(np.int32)], 1)
        out = gap > 0
        for d in thighs:
            out &= d > THIGH_SURE * THIGH_RADIUS * self.torso
        for d in shins:
            if d is not None:
                out &= d > SHIN_CLEAR * self.torso
        return out

    def _distance_maps(self, shape) -> list[np.ndarray | None]:
        return distance_maps(self.pose, shape, self.min_score)

    def _label_parts(self, inside: np.ndarray, dist: list, lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(labels (H, W) int8 bone index per pixel, -1 outside the person;
        under (H, W) int8: where an arm lies over the body (over the torso, or a hand resting
        on it), the bone of the body part behind it, which the photo never showed; -1 elsewhere)."""
        big = np.float32(1e9)
        d = np.stack([m if m is not None else np.full(inside.shape, big, np.float32) for m in dist])
        t = self.torso
        # Arms first, within their radius and nearer their bone than the torso's polygon.
        arm_score = np.stack([d[i] / (ARM_RADIUS[BONE_NAMES[i]] * t) for i in ARMS])
        best_arm = np.argmin(arm_score, axis=0)
        # Nearer than the thighs too: a hand hanging by the shorts must not take them along.
        d_arm = np.take_along_axis(d[ARMS], best_arm[None], 0)[0]
        in_band = (np.min(arm_score, axis=0) < 1.0) \
            & (d_arm < np.minimum(d[BONE["left_thigh"]], d[BONE["right_thigh"]]))
        arm_ok = in_band & (d_arm < d[TORSO] + 0.02 * t)
        arm_ok |= in_band & self._across_torso(best_arm, d.shape[1:])
        arm_ok &= inside
        self._sleeves_beside_torso(arm_ok, best_arm, d, inside, lab)
        self._trim_arms_by_colour(arm_ok, best_arm, d, inside, lab)
        self._arm_edges_by_colour(arm_ok, best_arm, d, inside, lab)
        hands = self._hands_by_colour(arm_ok, best_arm, d, inside, lab)
        arm_ok |= hands
        self._hidden_hands(arm_ok, best_arm, inside, lab)
        near_head = self._near_head(inside.shape)
        if near_head is not None:
            # Never the face's middle: a hand raised to the temple took the face beside it along
            # by its skin colour (and the forearm's band reaches past the wrist), and lifted off,
            # carried a cheek and an eye with it. Fingertips on the face stay with the head.
            arm_ok &= ~near_head
            hands &= ~near_head
        rest = [TORSO, HEAD, *LEGS]
        best_rest = np.asarray(rest)[np.argmin(d[rest], axis=0)]
        labels = np.where(arm_ok, np.asarray(ARMS)[best_arm], best_rest).astype(np.int8)
        labels[~inside] = -1
        # An arm over the torso polygon hides the torso behind it; a hand resting on the
        # body hides what it rests on, but only where the body is behind it.
        hidden = (arm_ok & inside & (d[TORSO] <= 0.02 * t)) | self._body_behind_hands(arm_ok, best_arm, inside, hands, d)
        under = np.where(hidden, best_rest, -1).astype(np.int8)
        if not inside.any():
            self.notes.append("no person pixels to move")
        return labels, under

    def _legs_overlap(self, labels: np.ndarray, dist: list) -> np.ndarray | None:
        """(H, W) bool: leg pixels within LEG_OVERLAP torso lengths of a bone of each leg,
        which both legs' layers take; None when there are none. Where the legs overlap in
        the photo (one foot before the other, a knee over the other), the nearest bone cut
        the one leg seen into strips, half to each layer, and the legs came apart in strips."""
        sides = [[dist[BONE[f"{side}_{b}"]] for b in ("thigh", "shin")] for side in ("left", "right")]
        if any(m is None for maps in sides for m in maps):
            return None
        r = LEG_OVERLAP * self.torso
        both = np.isin(labels, LEGS) & (np.minimum(*sides[0]) < r) & (np.minimum(*sides[1]) < r)
        return both if both.any() else None

    def _near_head(self, shape) -> np.ndarray | None:
        """(H, W) bool: the face, within HEAD_CLEAR torso lengths of the centre of the nose
        and eyes; None without them."""
        ok = self.pose.visible(self.min_score)
        face = [J[n] for n in ("nose", "left_eye", "right_eye") if ok[J[n]]]
        if not face:
            return None
        out = np.zeros(shape, np.uint8)
        centre = tuple(int(v) for v in np.round(self.pose.xy[face].mean(0)))
        cv2.circle(out, centre, max(1, int(round(HEAD_CLEAR * self.torso))), 1, -1)
        return out > 0

    def _hidden_hands(self, arm_ok: np.ndarray, best_arm: np.ndarray, inside: np.ndarray, lab: np.ndarray) -> None:
        """Give back to the body a forearm's pixels past its wrist that are no hand: unlike the
        face's skin and like the body's cloth within a forearm's length of the wrist. A hand
        in a pocket or behind the hip has its wrist joint placed on the cloth, and past it the
        band took a patch of the dress along: the raised arm ended in a blot of the dress's
        print instead of a hand (the model draws what of the hand the photo hides). Only for
        wrists at the hips or below (HIDDEN_HAND_DROP): a hand tucked under the other arm of
        folded arms is left as it was (unseen_limbs draws folded forearms). In place on arm_ok."""
        ok = self.pose.visible(self.min_score)
        skin = self._skin_colour(lab, inside)
        if skin is None or not (ok[J["left_hip"]] and ok[J["right_hip"]]):
            return
        waist = (self.pose.xy[J["left_hip"], 1] + self.pose.xy[J["right_hip"], 1]) / 2 - HIDDEN_HAND_DROP * self.torso
        h, w = inside.shape
        for j, wrist, fore, beyond in self._past_wrists((h, w)):
            if wrist[1] < waist:
                continue
            past = arm_ok & (best_arm == j) & beyond
            near = np.zeros((h, w), np.uint8)
            cv2.circle(near, tuple(int(v) for v in np.round(wrist)), int(fore), 1, -1)
            body = inside & ~arm_ok & (near > 0)
            if past.sum() < 20 or body.sum() < 20:
                continue
            colours = lab[past]
            cloth = _colour_clusters(lab[body])
            like_cloth = np.linalg.norm(colours[:, None] - cloth[None], axis=2).min(1) < CLOTH_GAP
            like_skin = np.linalg.norm((colours - skin) * HAND_COLOUR_WEIGHT, axis=1) < HAND_COLOUR
            give_back = np.zeros_like(arm_ok)
            give_back[past] = like_cloth & ~like_skin
            # Not single pixels: a hand's soft rim, a mix of skin and what is beside it, can
            # look like some cloth too, and left behind it outlined the hand on the body (the
            # quick start's hands, 95 pixels; none after the 3x3 opening).
            give_back = cv2.morphologyEx(give_back.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
            arm_ok &= ~give_back

    def _past_wrists(self, shape):
        """Per forearm the pose has (4 px long or more): (its index in ARMS, the wrist (x, y),
        the forearm's length, (H, W) bool: the pixels beyond HAND_STARTS of it from the elbow,
        the hand's side)."""
        ok = self.pose.visible(self.min_score)
        ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
        for j, bone in enumerate(ARMS):
            side = BONE_NAMES[bone].split("_")[0]
            e, wr = J[f"{side}_elbow"], J[f"{side}_wrist"]
            if not BONE_NAMES[bone].endswith("forearm") or not (ok[e] and ok[wr]):
                continue
            elbow, wrist = self.pose.xy[e].astype(np.float32), self.pose.xy[wr].astype(np.float32)
            v = wrist - elbow
            if float(v @ v) < 16:
                continue
            along = ((xs - elbow[0]) * v[0] + (ys - elbow[1]) * v[1]) / float(v @ v)
            yield j, wrist, float(np.sqrt(v @ v)), along > HAND_STARTS

    def _body_behind_hands(self, arm_ok: np.ndarray, best_arm: np.ndarray, inside: np.ndarray,
                           hands: np.ndarray, d: np.ndarray) -> np.ndarray:
        """(H, W) bool: hand pixels (a forearm's past its wrist, or found by colour) within
        HAND_REACH of the body (the person's non-arm pixels, thin rims dropped): a hand
        resting on the hip or thigh, off the torso's polygon. The fingers lie over the
        shorts; unmarked, the body behind them had no pixels, and when the arm rose a hole
        in the fingers' shape opened in the shorts (the deepfashion photo). The back of a
        hand hanging past the body's outline stays unmarked: only background is behind it."""
        hand = hands.copy()
        for j, _, _, beyond in self._past_wrists(inside.shape):
            hand |= arm_ok & (best_arm == j) & beyond
        if not hand.any():
            return hand
        body = cv2.morphologyEx((inside & ~arm_ok).astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
        near = cv2.distanceTransform(np.where(body > 0, 0, 255).astype(np.uint8), cv2.DIST_L2, 3) \
            < HAND_REACH * self.torso
        # Only where a body is to be expected: on the torso's polygon or a thigh's width from
        # its bone (the flanks at the hips lie outside the hip joints). A hand hanging beside
        # the shorts is near the body too, but beyond that: marked, it left a dark blot
        # beside the thigh when the arm rose.
        r = THIGH_RADIUS * self.torso
        expected = (d[TORSO] < r) | (d[BONE["left_thigh"]] < r) | (d[BONE["right_thigh"]] < r)
        return hand & inside & near & expected

    def _across_torso(self, best_arm: np.ndarray, shape) -> np.ndarray:
        """(H, W) bool: pixels within an arm's radius of the stretch of its bone that runs
        over the torso's polygon, that arm being the nearest (by arm_score's best_arm).
        Folded arms, a hand on the chest: the bone itself lies on the torso, so "nearer the
        arm than the torso" leaves the arm a strip a few pixels wide, and the rest of the
        forearm stayed on the chest when the arm rose (the bus photo's crossed arms: limb
        error 28 -> 19 degrees over the dev clips). What the arm hides is filled and less
        trusted like any arm over the torso; a bare forearm on a shirt is still given its
        shirt back by colour (_trim_arms_by_colour)."""
        corners, ok = _torso_corners(self.pose, self.min_score)
        out = np.zeros(shape, bool)
        if ok.sum() < 3:
            return out
        polygon = np.zeros(shape, np.uint8)
        cv2.fillPoly(polygon, [np.round(corners[ok]).astype(np.int32)], 1)
        segments = _bone_segments(self.pose, self.min_score)
        for j, bone in enumerate(ARMS):
            if segments[bone] is None:
                continue
            radius = ARM_RADIUS[BONE_NAMES[bone]] * self.torso
            line = np.zeros(shape, np.uint8)
            cv2.line(line, *(tuple(int(v) for v in np.round(x)) for x in segments[bone]), 1, 1)
            over = line & polygon
            # A bone only touching the polygon at its corner (an arm hanging at the side) is not across it.
            if over.sum() < max(3, radius):
                continue
            near = cv2.distanceTransform(np.where(over > 0, 0, 255).astype(np.uint8), cv2.DIST_L2, 3) < radius
            out |= near & (best_arm == j)
        return out

    def _sleeves_beside_torso(self, arm_ok: np.ndarray, best_arm: np.ndarray, d: np.ndarray,
                              inside: np.ndarray, lab: np.ndarray) -> None:
        """Beyond the torso's sides, the pixels nearer an arm than the head and legs, within
        SLEEVE_REACH of its radius and joined to its band, are the arm's, whatever their colour.
        A sleeve of the body's own cloth (a puffy suit, a coat) is wider than ARM_RADIUS and no
        colour edge tells it from the body (_arm_edges_by_colour cannot); left on the core, the
        outer half of the sleeve stayed where the arm hung, and the raised arm came out a thin
        strip. The torso's polygon is widened at the hips by THIGH_RADIUS (the flanks lie
        outside the hip joints); nothing below the hips' line is taken, nor anything above the
        shoulder (along the upper arm before its start: the collar, hair) but its cap
        (SHOULDER_CAP). lab: the photo in CIE Lab (float32).
        In place on arm_ok and best_arm."""
        corners, ok = _torso_corners(self.pose, self.min_score)
        if not ok.all():
            return
        t = self.torso
        hips = corners[3] - corners[2]  # right hip -> left hip
        if np.hypot(*hips) > 1:
            out = THIGH_RADIUS * t * hips / np.hypot(*hips)
            corners = corners + np.array([[0, 0], [0, 0], -out, out])
        body = np.full(inside.shape, 255, np.uint8)
        cv2.fillPoly(body, [np.round(corners).astype(np.int32)], 0)
        beside = cv2.distanceTransform(body, cv2.DIST_L2, 3) > 0.02 * t
        nearest = np.argmin(d[ARMS], axis=0)
        d_arm = np.min(d[ARMS], axis=0)
        radius = np.float32([ARM_RADIUS[BONE_NAMES[i]] * t for i in ARMS])[nearest]
        candidates = inside & ~arm_ok & beside & (d_arm < SLEEVE_REACH * radius) \
            & (d_arm < np.min(d[[HEAD, *LEGS]], axis=0))
        segments = _bone_segments(self.pose, self.min_score)
        ys, xs = np.nonzero(candidates)
        # Only beside the torso: below the hips' line a pixel is the thigh's or the shorts'
        # (a hand hanging there took a patch of the shorts along).
        neck, pelvis = segments[TORSO]
        axis = pelvis - neck
        below = (xs - neck[0]) * axis[0] + (ys - neck[1]) * axis[1] > float(axis @ axis)
        candidates[ys[below], xs[below]] = False
        for j, bone in enumerate(ARMS):
            if segments[bone] is not None and BONE_NAMES[bone].endswith("upper_arm"):
                p, q = segments[bone]
                above = ((xs - p[0]) * (q - p)[0] + (ys - p[1]) * (q - p)[1] < 0) & (nearest[ys, xs] == j)
                # ... but the shoulder's cap is the arm's (SHOULDER_CAP).
                neck_side = (corners[1] if BONE_NAMES[bone].startswith("left") else corners[0]) - p
                cap = above & ((xs - p[0]) * neck_side[0] + (ys - p[1]) * neck_side[1] <= 0) \
                    & (d_arm[ys, xs] < SHOULDER_CAP * radius[ys, xs])
                on_bone = arm_ok & (best_arm == j) & (d[bone] < 0.35 * ARM_RADIUS[BONE_NAMES[bone]] * t)
                if cap.any() and on_bone.sum() >= 20:
                    sleeve = _colour_clusters(lab[on_bone])
                    colours = lab[ys[cap], xs[cap]]
                    cap[cap] = np.linalg.norm(colours[:, None] - sleeve[None], axis=2).min(1) < SLEEVE_COLOUR
                    above &= ~cap
                candidates[ys[above], xs[above]] = False
        for j in range(len(ARMS)):
            band = arm_ok & (best_arm == j)
            found = candidates & (nearest == j)
            if not found.any() or not band.any():
                continue
            found = _joined_to(found, band)
            arm_ok |= found
            best_arm[found] = j

    def _trim_arms_by_colour(self, arm_ok: np.ndarray, best_arm: np.ndarray, d: np.ndarray,
                             inside: np.ndarray, lab: np.ndarray) -> None:
        """Give back to the body the pixels of an arm's band that look like the body beside
        it rather than like the arm (a bare forearm resting on dark shorts: the band reaches
        into the shorts). The arm's colour is taken on its bone, the body's near the band;
        where the two are alike (a sleeve of the shirt's cloth), the band stays as it is.
        In place on arm_ok. lab: the photo in CIE Lab (float32)."""
        for j, bone in enumerate(ARMS):
            radius = ARM_RADIUS[BONE_NAMES[bone]] * self.torso
            band = arm_ok & (best_arm == j)
            on_bone = band & (d[bone] < 0.35 * radius)
            beside = inside & ~arm_ok & (d[bone] < 2.0 * radius)
            if on_bone.sum() < 20 or beside.sum() < 20:
                continue
            arm_colour = np.median(lab[on_bone], axis=0)
            body = _colour_clusters(lab[beside])
            # Only the body's colours unlike the arm's can tell them apart (skin beside skin cannot).
            body = body[np.linalg.norm(body - arm_colour, axis=1) > 25]  # ~ 10 just noticeable differences in Lab
            if not len(body):
                continue
            edge = band & ~on_bone
            colours = lab[edge]
            to_body = np.linalg.norm(colours[:, None] - body[None], axis=2).min(1)
            body_like = to_body < 0.5 * np.linalg.norm(colours - arm_colour, axis=1)
            give_back = np.zeros_like(arm_ok)
            give_back[edge] = body_like
            # Speckle (print, shadows) is not a boundary: only solid areas go back.
            give_back = cv2.morphologyEx(give_back.astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8)) > 0
            arm_ok &= ~give_back

    def _arm_edges_by_colour(self, arm_ok: np.ndarray, best_arm: np.ndarray, d: np.ndarray,
                             inside: np.ndarray, lab: np.ndarray) -> None:
        """The converse of _trim_arms_by_colour: off the torso, the pixels just beyond an
        arm's band that look like the arm and not like the body beside it are the arm's.
        A thick arm, or joints placed off its middle, leaves the arm's outer edge outside
        its band; left to the core, that strip stays behind as a ghost stroke where the arm
        hung when the arm moves. Only where the arm's and the body's colours differ (bare
        arms beside a shirt): a sleeve of the shirt's cloth cannot be told from the shirt.
        In place on arm_ok and best_arm."""
        off_torso = d[TORSO] > 0.02 * self.torso
        thighs = np.minimum(d[BONE["left_thigh"]], d[BONE["right_thigh"]])
        nearest_arm = np.argmin(d[ARMS], axis=0)
        for j, bone in enumerate(ARMS):
            radius = ARM_RADIUS[BONE_NAMES[bone]] * self.torso
            band = arm_ok & (best_arm == j)
            on_bone = band & (d[bone] < 0.35 * radius)
            # A forearm's reach includes the elbow's pixels nearer the upper arm's bone: the
            # skin at a bare elbow against the body lay nearer the torso than the forearm's
            # band, and the upper arm's sleeve, of the shirt's colour, could not claim it; it
            # stayed on the torso as a pin of skin at elbow height whenever the arm moved (the
            # quick start). (ARMS lists each side's upper arm right before its forearm.)
            mine = nearest_arm == j
            if BONE_NAMES[bone].endswith("forearm"):
                mine |= nearest_arm == j - 1
            reach = inside & ~arm_ok & off_torso & (d[bone] < EDGE_REACH * radius) & (d[bone] < thighs) & mine
            body = inside & ~arm_ok & ~off_torso & (d[bone] < 3.0 * radius)  # the torso beside the arm
            if on_bone.sum() < 20 or reach.sum() < 5 or body.sum() < 20:
                continue
            arm_colour = np.median(lab[on_bone], axis=0)
            clusters = _colour_clusters(lab[body])
            # Every colour of the torso there must be unlike the arm's (25: as in the trim);
            # one alike (an orange sleeve on an orange suit) and the edge cannot be told.
            if np.linalg.norm(clusters - arm_colour, axis=1).min() <= 25:
                continue
            colours = lab[reach]
            to_body = np.linalg.norm(colours[:, None] - clusters[None], axis=2).min(1)
            found = np.zeros_like(arm_ok)
            found[reach] = np.linalg.norm(colours - arm_colour, axis=1) < 0.5 * to_body
            # Only what joins the band: the arm's own edge, not a patch of like colour nearby.
            found = _joined_to(found, band)
            # And its soft rim, a mix of the arm's and the background's colours.
            found = cv2.dilate(found.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=2) > 0
            found &= reach
            arm_ok |= found
            best_arm[found] = j

    def _hands_by_colour(self, arm_ok: np.ndarray, best_arm: np.ndarray, d: np.ndarray, inside: np.ndarray,
                         lab: np.ndarray) -> np.ndarray:
        """(H, W) bool: hand pixels beyond a forearm's band, found by colour. A hand resting
        on the hip bends away from the forearm's line, over the shorts, where the band
        (nearer the thigh than the forearm) does not reach: left there, it stays glued to the
        hip while the arm moves. Taken: pixels within a hand's reach of the wrist coloured
        like the face's skin, joined to the forearm's band. Nothing is taken where most of
        the reach looks like skin (a hand on a bare thigh: skin beside skin cannot be told
        apart) or where what would be taken is larger than a hand. Sets best_arm where it
        takes pixels."""
        hands = np.zeros_like(arm_ok)
        ok = self.pose.visible(self.min_score)
        skin = self._skin_colour(lab, inside)
        if skin is None:
            return hands
        for j, bone in enumerate(ARMS):
            name = BONE_NAMES[bone]
            side = name.split("_")[0]
            e, w = J[f"{side}_elbow"], J[f"{side}_wrist"]
            if not name.endswith("forearm") or not (ok[e] and ok[w]):
                continue
            elbow, wrist = self.pose.xy[e].astype(np.float64), self.pose.xy[w].astype(np.float64)
            fore = float(np.hypot(*(wrist - elbow)))
            band = arm_ok & (best_arm == j)
            if fore < 4 or band.sum() < 20:
                continue
            # A hand is about 0.7 of the forearm's length (anthropometric tables, as for
            # HAND_EXTENSION): its centre lies ~0.35 forearms past the wrist, its fingertips
            # within ~0.7 of it, whichever way the wrist bends.
            reach = np.zeros(arm_ok.shape, np.uint8)
            cv2.circle(reach, tuple(int(v) for v in np.round(wrist)), int(0.7 * fore), 1, -1)
            candidates = (reach > 0) & inside & ~arm_ok
            if candidates.sum() < 20:
                continue
            # Hands are skin: their hue is the face's, whatever the sleeve (lightness
            # counts a quarter: a hand and a face differ in shading more than in hue).
            like_skin = np.linalg.norm((lab[candidates] - skin) * HAND_COLOUR_WEIGHT, axis=1) < HAND_COLOUR
            if like_skin.mean() > 0.5:
                continue
            found = np.zeros_like(arm_ok)
            found[candidates] = like_skin
            found = cv2.morphologyEx(found.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
            # Only what joins the forearm's band (a hand hangs from its wrist).
            found = _joined_to(found, band, band & (reach > 0))
            if found.sum() > (0.7 * fore) * (0.45 * fore):  # bigger than a hand: it ran into the body
                continue
            hands |= found
            best_arm[found] = j
        return hands

    def _skin_colour(self, lab: np.ndarray, inside: np.ndarray) -> np.ndarray | None:
        """Median CIE Lab colour of the face's skin: the person's pixels within 0.8 of the
        nose-to-eye distance of the nose (nose and cheeks, not hair; sunglasses take a
        share, the median keeps to the skin); None without a nose."""
        ok = self.pose.visible(self.min_score)
        nose = J["nose"]
        if not ok[nose]:
            return None
        eyes = [J[n] for n in ("left_eye", "right_eye") if ok[J[n]]]
        size = np.mean([np.hypot(*(self.pose.xy[e] - self.pose.xy[nose])) for e in eyes]) if eyes \
            else 0.1 * self.torso
        disc = np.zeros(inside.shape, np.uint8)
        cv2.circle(disc, tuple(int(v) for v in np.round(self.pose.xy[nose])), max(2, int(0.8 * size)), 1, -1)
        pixels = lab[(disc > 0) & inside]
        return np.median(pixels, axis=0) if len(pixels) >= 20 else None

    def _build_layers(self, labels: np.ndarray, under: np.ndarray, dist: list, soft: np.ndarray,
                      lab: np.ndarray) -> list[Layer]:
        ys, xs = np.nonzero(labels >= 0)
        if len(xs) == 0:
            return []
        x0, y0, y1 = xs.min(), ys.min(), ys.max() + 1
        step = max(3.0, (y1 - y0) / CELLS_PER_HEIGHT)
        nx, ny = int((xs.max() - x0) // step) + 1, int((y1 - 1 - y0) // step) + 1
        gx = x0 + step * np.arange(nx + 1)
        gy = y0 + step * np.arange(ny + 1)
        cell_x = ((xs - x0) // step).astype(int)
        cell_y = ((ys - y0) // step).astype(int)
        part = labels[ys, xs]
        layers = []
        grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(LAYER_OVERLAP * self.torso) + 1,) * 2)
        # The segmentation is unsure inside thin limbs too (0.6-0.8 on a forearm beside the
        # body): harmless where the person stays on their own pixels, but a limb moved over
        # the body would let it show through. Above one half the mask is made steeper
        # (solid from 0.75); the soft edge below one half stays as it is.
        solid = np.where(soft <= 0.5, soft, np.minimum(1.0, 2.0 * soft - 0.5))
        grow_hidden = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * max(2, int(0.03 * self.torso)) + 1,) * 2)
        below: list[int] = []  # the bones of the layers drawn before this one
        for name, bones, anchor in LAYERS:
            parts = bones  # (the parts whose pixels it takes)
            if name == "core" and self.skirt is not None:
                bones = (TORSO, HEAD, *LEGS)  # (the skirt follows the legs: _skirt_weights)
            own = np.isin(part, parts)
            if name.endswith("_leg") and self._both_legs is not None:
                own |= self._both_legs[ys, xs]  # (the pixels where the legs overlap: both take them)
            # What lies behind an arm or a hand is this layer's too, marked unseen (untrusted).
            hidden = np.isin(under, parts)
            own |= hidden[ys, xs]
            pelvis = None
            if name == "core":
                # The core also reaches under the legs' roots (behind them: it is drawn
                # first), so a thigh swung out uncovers the shorts' own cloth, not the
                # background through a wedge at the hip.
                pelvis = self._pelvis_underlay(labels, lab)
                if pelvis is not None:
                    own |= (pelvis[ys, xs] > 0) & np.isin(part, LEGS)
            if not own.any():
                continue
            # A cell belongs to the layer if any of its pixels does; then one cell more, so
            # the texture's grown edge is inside.
            cells = np.zeros((ny, nx), np.uint8)
            cells[cell_y[own], cell_x[own]] = 1
            cells = cv2.dilate(cells, np.ones((3, 3), np.uint8)) > 0
            mask = np.zeros(labels.shape, np.uint8)
            mask[ys[own], xs[own]] = 1
            # One pixel more into the parts of the layers drawn before it: two layers that
            # meet edge to edge would each be half transparent along the seam once
            # resampled, so the background would show through as a thin line (between the
            # legs, at the hips). Only the upper layer grows: when it moves away, its strip
            # goes with it; a strip left on the layer below would stay as a line where the
            # limb was.
            seam = cv2.dilate(mask, SEAM_GROW) & np.isin(labels, below) & (mask == 0)
            below += list(parts)
            if anchor is not None and self.pose.visible(self.min_score)[J[anchor]]:
                # Grown only around the limb's root: along its sides the grown rim would be
                # the body beside it (a strip of shorts carried off with a forearm).
                root = np.zeros_like(mask)
                cv2.circle(root, tuple(int(v) for v in np.round(self.pose.xy[J[anchor]])),
                           int(ROOT_RADIUS * self.torso), 1, -1)
                mask = np.maximum(mask, cv2.dilate(mask, grow) & root)
            alpha = solid * np.maximum(mask, seam)
            if pelvis is not None:  # (the underlay: the hips' cloth only, its last pixels anti-aliased)
                alpha = np.where(np.isin(labels, LEGS), alpha * pelvis, alpha)
            # Of those cells, only the ones the texture shows anything in, or within 5 px of
            # it (a quarter-resolution map pixel and the bilinear sampling's reach): the rest
            # is transparent, yet every frame it was rasterised and sampled at full
            # resolution (a third of the triangles; the mesh 20% faster on musepose_dance).
            ay, ax = np.nonzero(cv2.dilate((alpha > 0).astype(np.uint8), np.ones((11, 11), np.uint8)))
            shows = np.zeros_like(cells)
            shows[np.clip((ay - y0) // step, 0, ny - 1).astype(int), np.clip((ax - x0) // step, 0, nx - 1).astype(int)] = True
            vertices, triangles = self._grid_mesh(cells & shows, gx, gy)
            if hidden.any():  # grown a little: the trust is made at a quarter of the resolution,
                # where a thin hidden finger would be averaged away and shown half-trusted
                hidden = cv2.dilate(hidden.astype(np.uint8), grow_hidden) > 0
            # A limb's pixels of the other parts (its seam's overlap included): its texture
            # for when it has moved away from them has its rim beside them in its own colour.
            foreign = None
            if anchor is not None:
                foreign = (labels >= 0) & (mask == 0)
                if hidden.any():
                    foreign &= ~hidden
            texture, origin, cut, away = self._texture(alpha, hidden, seam, foreign)
            weights = self._skirt_weights(vertices, dist) if name == "core" and self.skirt is not None \
                else self._skin_weights(vertices, bones, dist, anchor)
            triangles = _draw_order(triangles, vertices, texture[..., 3], origin, _front_weight(name, weights))
            cloth = None
            if name == "core" and self.skirt is not None:  # (once per subject: see Layer.cloth)
                cloth = weights[:, 2:].sum(1)[triangles].mean(1)
            layers.append(Layer(name, bones, vertices, weights, triangles,
                                texture, texture[..., 3].astype(np.float32), origin, cut, away, cloth))
        return layers

    def _pelvis_underlay(self, labels: np.ndarray, lab: np.ndarray) -> np.ndarray | None:
        """(H, W) float32 weight of the core's underlay below the hips: 1 within twice
        PELVIS_UNDERLAY torso lengths of the hip joints' segment, and only on pixels of the
        cloth at the hips (the torso's own pixels within
        PELVIS_UNDERLAY of that segment; CIE Lab distance under CLOTH_GAP from their median):
        the underlay stands for the crotch of shorts or a skirt's top, and a thigh's bare skin
        below a short hem, fading, showed between legs spread wide as a grey smear. None
        without both hips."""
        ok = self.pose.visible(self.min_score)
        lh, rh = J["left_hip"], J["right_hip"]
        if not (ok[lh] and ok[rh]):
            return None
        canvas = np.full(labels.shape, 255, np.uint8)
        cv2.line(canvas, *(tuple(int(v) for v in np.round(self.pose.xy[j])) for j in (lh, rh)), 0, 1)
        d = cv2.distanceTransform(canvas, cv2.DIST_L2, 3)
        r = PELVIS_UNDERLAY * self.torso
        # Solid out to twice PELVIS_UNDERLAY, its last pixels anti-aliased: fading over the
        # whole second half, the cloth turned to a grey smear between legs spread wide.
        weight = np.clip((2.0 * r - d) / max(2.0, 0.1 * r), 0.0, 1.0).astype(np.float32)
        at_hips = (labels == TORSO) & (d < r)
        if at_hips.sum() >= 20:
            cloth = np.median(lab[at_hips], axis=0)
            near = weight > 0
            like = np.zeros_like(near)
            like[near] = np.linalg.norm(lab[near] - cloth, axis=1) < CLOTH_GAP
            like = cv2.morphologyEx(like.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
            weight = np.where(like, weight, 0.0).astype(np.float32)
        return weight

    def _texture(self, alpha: np.ndarray, hidden: np.ndarray | None, seam: np.ndarray,
                 foreign: np.ndarray | None = None):
        """The photo with `alpha` as its 4th channel, cut to where alpha is non-zero. What
        `hidden` marks is filled from the layer's own pixels (not its `seam` overlap, which
        is the neighbour's: the rim of a hand would fill what the hand hid with skin).
        With `foreign` (the other parts' pixels) also the texture for the layer moved away
        from them: within FOREIGN_RIM of them its colour is the layer's own, taken from its
        nearest pixel beyond that rim (`_own_colour_at_rim`); else None.
        Returns (texture, origin, the cut-out `hidden`, that second texture)."""
        ys, xs = np.nonzero(alpha > 0)
        # A margin of TEXTURE_PAD transparent pixels of the photo's own colour: sampling
        # just past a layer's edge then blends toward that colour, not toward the black
        # outside the texture (a dark line along every straight cut, e.g. a leg's top).
        p = TEXTURE_PAD
        x0, y0, x1, y1 = xs.min() - p, ys.min() - p, xs.max() + 1 + p, ys.max() + 1 + p

        def cut_out(image, border):
            h, w = image.shape[:2]
            a0, b0, a1, b1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
            return cv2.copyMakeBorder(np.ascontiguousarray(image[b0:b1, a0:a1]), b0 - y0, y1 - b1, a0 - x0, x1 - a1,
                                      border, value=0)

        rgb = cut_out(self.image, cv2.BORDER_REPLICATE)
        alpha = cut_out(alpha.astype(np.float32), cv2.BORDER_CONSTANT)
        if RIM_FIRM and foreign is not None:  # (a limb's layer: see RIM_FIRM)
            rgb = _rim_takes_firm_colour(rgb, alpha, max(2.0, RIM_BAND * self.torso))
        seam = cut_out(seam, cv2.BORDER_CONSTANT)
        cut = None if hidden is None or not hidden.any() else cut_out((hidden * 255).astype(np.uint8),
                                                                      cv2.BORDER_CONSTANT)
        away = None if foreign is None else _own_colour_at_rim(
            rgb, alpha, cut_out(foreign.astype(np.uint8), cv2.BORDER_CONSTANT) > 0,
            max(FOREIGN_RIM_MIN, FOREIGN_RIM * self.torso))
        if away is rgb:
            away = None
        if cut is not None and HIDDEN_TRUST > 0:
            # What the photo never showed (behind an arm or a hand) is filled from this
            # layer's own visible pixels around it: the shorts behind a hand become shorts.
            seen = (alpha > 0.5) & (cut == 0) & (seam == 0)
            if seen.any():
                rgb = np.where(cut[..., None] > 0, _mirror_fill(rgb, seen), rgb)
                if away is not None:
                    away = np.where(cut[..., None] > 0, _mirror_fill(away, seen), away)
        a = np.round(alpha * 255).astype(np.uint8)
        return (np.dstack([rgb, a]), (int(x0), int(y0)), cut,
                None if away is None else np.dstack([away, a]))

    @staticmethod
    def _grid_mesh(cells: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vertices (V, 2) and triangles (T, 3) of the grid cells marked in `cells` (two
        triangles each), with the cells' corners at (gx, gy)."""
        cy, cx = np.nonzero(cells)
        nx1 = len(gx)
        # Vertex ids of the grid corners the cells use, renumbered compactly.
        corners = np.stack([cy * nx1 + cx, cy * nx1 + cx + 1, (cy + 1) * nx1 + cx + 1, (cy + 1) * nx1 + cx], 1)
        used, inverse = np.unique(corners, return_inverse=True)
        inverse = inverse.reshape(corners.shape)
        vertices = np.stack([gx[used % nx1], gy[used // nx1]], 1)
        triangles = np.concatenate([inverse[:, [0, 1, 2]], inverse[:, [0, 2, 3]]]).astype(np.int32)
        return vertices, triangles

    def _skin_weights(self, vertices, bones, dist, anchor) -> np.ndarray:
        """Soft minimum of the distances to the layer's bones (and, for a limb, to the joint
        where it meets the core, which follows the torso): weight exp(-(d - d_min) / s)."""
        h, w = self.image.shape[:2]
        xi = np.clip(np.round(vertices[:, 0]).astype(int), 0, w - 1)
        yi = np.clip(np.round(vertices[:, 1]).astype(int), 0, h - 1)
        cols = []
        for b in bones:
            cols.append(dist[b][yi, xi] if dist[b] is not None else np.full(len(vertices), 1e9, np.float32))
        if anchor is not None and self.pose.visible(self.min_score)[J[anchor]]:
            # Distance to the joint where the limb meets the core, along the limb's own
            # direction: the limb's root bends with the torso, its rest does not.
            cols.append(np.hypot(vertices[:, 0] - self.pose.xy[J[anchor], 0],
                                 vertices[:, 1] - self.pose.xy[J[anchor], 1]) + 0.08 * self.torso)
        d = np.stack(cols, 1).astype(np.float64)
        soft = SKIN_SOFTNESS * self.torso
        wts = np.exp(-(d - d.min(1, keepdims=True)) / soft)
        return wts / wts.sum(1, keepdims=True)

    # -- every frame

    def deform(self, target: Pose, region: tuple[int, int, int, int], scale: float = 0.25) -> Deformed:
        """The mesh moved onto `target` (canvas pixels), rasterised inside region (x0, y0,
        x1, y1). The triangle map is computed at `scale` of the region's resolution and
        interpolated: the map is smooth inside a triangle, and the photo is still sampled at
        full resolution."""
        x0, y0, x1, y1 = region
        w, h = x1 - x0, y1 - y0
        transforms = bone_transforms(self.pose, target, self.min_score)
        scale_to_target = body_scale(self.pose, target, self.min_score)
        # Seen from behind, the photo's face and chest must not be pasted on the person's
        # back: the core is untrusted and the model paints it. Arms and legs look much the
        # same from either side and keep their pixels.
        view = self._view_trust(target)
        transforms = np.concatenate([transforms, self._borrowed_transforms(target, scale_to_target)])
        rasters, textures = [], []
        for lay in self._in_depth_order(target):
            moved = self._skinned(lay, transforms)
            if lay.name.endswith("_borrowed") and not np.isfinite(moved).all():
                continue  # (a borrowed forearm the target has none for: _borrowed_transforms)
            got = self._rasterise(lay, moved, scale_to_target, (x0, y0, w, h), scale)
            if got is not None:
                rasters.append((lay, *got))
                textures.append(self._texture_for(lay, moved, transforms, scale_to_target))
        if not rasters:
            return Deformed(x0, y0, np.zeros((0, 0, 3), np.uint8), np.zeros((0, 0), np.float32),
                            np.zeros((0, 0), np.float32))
        # Only the rectangle the layers drew is filled in (Deformed.x0, y0 give its corner).
        u0, v0 = min(r[1][0] for r in rasters), min(r[1][1] for r in rasters)
        u1, v1 = max(r[1][2] for r in rasters), max(r[1][3] for r in rasters)
        rgb = np.zeros((v1 - v0, u1 - u0, 3), np.uint8)
        cov = np.zeros((v1 - v0, u1 - u0), np.float32)
        # (_: the small maps, for the trust)
        for k, ((lay, (sx0, sy0, sx1, sy1), maps, _), texture) in enumerate(zip(rasters, textures)):
            texel = cv2.remap(texture, *maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            c = texel[..., 3].astype(np.float32) * (1 / 255)
            # Each layer over the ones drawn before it. Colour is blended as a straight
            # value (an 8-bit blend: several times faster than premultiplied numpy); the first
            # layer's colour is straight under its soft edge too, so an edge pixel does
            # not fade to black.
            sub = np.s_[sy0 - v0:sy1 - v0, sx0 - u0:sx1 - u0]
            colour = cv2.cvtColor(texel, cv2.COLOR_RGBA2RGB)
            if k == 0:  # nothing below yet
                rgb[sub], cov[sub] = colour, c
                continue
            # Straight-colour "over": the layer's share of the new coverage. Over pixels no
            # layer drew yet (cov 0) that share is 1, so a limb's soft edge keeps its own
            # colour instead of fading to the empty canvas's black (a dark outline).
            below = cov[sub]
            both = cv2.add(c, cv2.multiply(1.0 - c, below))
            share = cv2.divide(c, np.maximum(both, 1e-6))
            rgb[sub] = mix(colour, rgb[sub], share)
            cov[sub] = both
        trust, edge_trust = self._trust((u0, v0, u1, v1), rasters, view)
        # Where no layer drew, the colour is black (or a texture's transparent margin): the
        # trust there, scaled up from the small maps (and kept up at the edges for the join),
        # mixed it into the person's colour wherever the matte comes from the model, a dark
        # fringe along a limb the model's matte or stroke reaches past (the bus photo's
        # borrowed forearms: 585 black pixels inside the matte in one frame).
        # (In OpenCV's arithmetic: numpy's putmask took 1.5 ms a frame at 1280 px, this 0.5.)
        edge_trust = cv2.multiply(edge_trust, cv2.threshold(cov, 0.0, 1.0, cv2.THRESH_BINARY)[1])
        return Deformed(x0 + u0, y0 + v0, rgb, cov, trust, edge_trust)

    def _borrowed_transforms(self, target: Pose, scale: float) -> np.ndarray:
        """(len(self.borrowed), 2, 3): per borrowed forearm, the map of the photo's upper arm
        (shoulder to elbow) onto the target's forearm (elbow to wrist); NaN where the target
        has no forearm, or one under a pixel long (the layer is not drawn then: the map of a
        zero-length bone is a bare translation, which would hang a copy of the upper arm from
        the elbow)."""
        out = np.full((len(self.borrowed), 2, 3), np.nan)
        for k, side in enumerate(self.borrowed):
            src = self._borrowed_from[side]
            dst = _segment(target, f"{side}_elbow", f"{side}_wrist", 0.0, self.min_score)
            if src is not None and dst is not None and np.hypot(*(dst[1] - dst[0])) >= 1.0:
                out[k] = _similarity_along(src, dst, scale)
        return out

    def _in_depth_order(self, target: Pose) -> list[Layer]:
        """The layers back to front for this target: LAYERS' order, except that of the two
        arms the one reaching further across the torso is drawn last. An arm across the
        body is in front of it, and so in front of the other arm hanging at the side, which,
        drawn last, cut the crossing forearm off from its hand (the deepfashion photo's
        right upper arm over her left forearm, swung across her waist). A borrowed forearm
        (_borrowed_forearms) comes right after its arm, where the target has a forearm."""
        order = list(self.layers)
        arms = [k for k, lay in enumerate(order) if lay.name in ("left_arm", "right_arm")]
        if len(arms) == 2:
            across = [_share_across_torso(target, order[k].name.split("_")[0], self.min_score) for k in arms]
            if across[0] > across[1]:
                order[arms[0]], order[arms[1]] = order[arms[1]], order[arms[0]]
        if not self.borrowed:
            return order
        ok = target.visible(self.min_score)
        out = []
        for lay in order:
            out.append(lay)
            side = lay.name.split("_")[0]
            if lay.name.endswith("_arm") and side in self.borrowed and ok[J[f"{side}_elbow"]] and ok[J[f"{side}_wrist"]]:
                out.append(self.borrowed[side])
        return out

    @staticmethod
    def _skinned(lay: Layer, transforms) -> np.ndarray:
        """The layer's vertices (V, 2) moved by their bones' transforms, blended by their
        skinning weights (a limb's root follows the torso too)."""
        m = transforms[list(lay.bones)]                                          # (B, 2, 3)
        if lay.weights.shape[1] > len(lay.bones):
            m = np.concatenate([m, transforms[[TORSO]]], 0)
        blended = np.einsum("vb,bij->vij", lay.weights, m)                      # per-vertex affine
        return np.einsum("vij,vj->vi", blended[:, :, :2], lay.vertices) + blended[:, :, 2]

    def _texture_for(self, lay: Layer, moved: np.ndarray, transforms, scale_to_target: float) -> np.ndarray:
        """The limb's photo texture where it stays beside the parts it touched in the photo,
        its texture_away once it has moved AWAY_SHIFT from where the torso's move would
        put it, mixed in between. Its rim beside another part mixes the two parts' colours:
        right while the parts stay together (the photo's own pose gives back the photo),
        but carried away with the limb it showed as an outline of the other part's colour
        (a forearm raised from beside dark shorts kept a dark outline)."""
        if lay.texture_away is None:
            return lay.texture
        with_torso = lay.vertices @ transforms[TORSO][:, :2].T + transforms[TORSO][:, 2]
        away = AWAY_SHIFT * self.torso * scale_to_target
        shift = float(np.mean(np.hypot(*(moved - with_torso).T))) / max(away, 1.0)
        if shift <= 0.02:
            return lay.texture
        if shift >= 0.98:
            return lay.texture_away
        return cv2.addWeighted(lay.texture, 1.0 - shift, lay.texture_away, shift, 0.0)

    def _trust(self, rect, rasters, view: float) -> tuple[np.ndarray, np.ndarray]:
        """Trust over rect (region pixels), composited like the colour but on the layers'
        small maps: it is smooth (stretch per triangle, what the photo hid, the view), so a
        quarter of the resolution, scaled up once, does. Returns (the trust, the join's
        trust: Deformed.edge_trust)."""
        g0, h0 = min(r[3][0] for r in rasters), min(r[3][1] for r in rasters)
        g1, h1 = max(r[3][2] for r in rasters), max(r[3][3] for r in rasters)
        trust = np.zeros((h1 - h0, g1 - g0), np.float32)
        cov = np.zeros_like(trust)
        for lay, _, _, (a0, b0, a1, b1, map_x, map_y, conf, fx, fy) in rasters:
            c = cv2.remap(lay.alpha, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT) * (1 / 255)
            t = conf * view if lay.name == "core" else conf
            if lay.hidden is not None and HIDDEN_TRUST < 1:
                t = t * (1.0 - cv2.remap(lay.hidden, map_x, map_y, cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_CONSTANT) * ((1 - HIDDEN_TRUST) / 255))
            sub = np.s_[b0 - h0:b1 - h0, a0 - g0:a1 - g0]
            trust[sub] = t * c + trust[sub] * (1 - c)
            cov[sub] = c + cov[sub] * (1 - c)
        trust = np.clip(trust / np.maximum(cov, 1e-3), 0, 1)
        u0, v0, u1, v1 = rect
        # Small pixel (i, j) lies at region ((g0 + i + 0.5) / fx - 0.5, ...): the map onto the rect's pixels.
        m = np.float32([[fx, 0, (u0 + 0.5) * fx - 0.5 - g0], [0, fy, (v0 + 0.5) * fy - 0.5 - h0]])

        def full(small):
            return cv2.warpAffine(small, m, (u1 - u0, v1 - v0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_REPLICATE)

        # For the join only, a small pixel the layers barely reach takes the trust of its
        # solidly covered neighbours: the full-size coverage reaches a pixel or two past the
        # last solidly covered small pixel, and there the trust, scaled up toward the 0
        # outside, gave covered edge pixels the model's grey (faint notches along the quick
        # start's arms and neck: 161 edge pixels a frame -> 0). The model's warp input keeps
        # the plain trust: changed there too, the int8 decoder's calibration moved, and with
        # it the bus photo's reading by a degree (model card, 0.3.20).
        solid = cov >= 0.5
        grown = cv2.dilate(np.where(solid, trust, 0), np.ones((3, 3), np.uint8))
        return full(trust), full(np.where(solid, trust, np.maximum(trust, grown)))

    def _view_trust(self, target: Pose) -> float:
        """1 when the target faces the camera the way the photo does, falling to 0 as it
        turns to profile and beyond (the photo's front would land on the person's back)."""
        f_src, f_dst = self.facing, facing(target, self.min_score)
        if f_src is None or f_dst is None or abs(f_src) < 0.15:
            return 1.0
        ratio = f_dst / f_src  # 1: same view; 0: profile; < 0: turned around
        return float(np.clip((ratio - 0.15) / 0.35, 0.0, 1.0))

    def _rasterise(self, lay: Layer, moved: np.ndarray, scale_to_target: float, region, scale):
        """The layer's backward map (canvas region -> texture pixels) over the rectangle it
        covers, given its vertices `moved` (_skinned), and the same map with a per-pixel
        stretch confidence at `scale` (for the trust); None when it covers nothing."""
        x0, y0, w, h = region
        sw, sh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
        fx, fy = sw / w, sh / h
        src, dst = lay.vertices[lay.triangles] - lay.origin, moved[lay.triangles]  # (T, 3, 2)
        back, ok, conf = _triangle_maps(dst, src, scale_to_target)
        if lay.cloth is not None:
            # A skirt stretches between legs that part, as cloth does: trusted as far as it
            # follows them, or the model's grey filled the stretch between them.
            conf = np.maximum(conf, lay.cloth)
        order = np.nonzero(ok)[0]
        if len(order) == 0:
            return None
        pts = np.round((dst[order] - [x0, y0]) * [fx, fy] * 16).astype(np.int32)
        # The ID map only over the layer's own box (plus the dilation's pixel and one for
        # rounding), within the region: an arm covers a small part of the canvas.
        lo, hi = pts.reshape(-1, 2).min(0) // 16 - 2, pts.reshape(-1, 2).max(0) // 16 + 3
        bx0, by0 = max(0, int(lo[0])), max(0, int(lo[1]))
        bx1, by1 = min(sw, int(hi[0])), min(sh, int(hi[1]))
        if bx1 <= bx0 or by1 <= by0:
            return None
        ids = np.full((by1 - by0, bx1 - bx0), -1, np.int32)
        pts -= np.int32([bx0 * 16, by0 * 16])
        fill = cv2.fillConvexPoly  # (positional arguments and plain ints: the loop runs ~1,000 times a frame)
        for k, tri in zip(order.tolist(), pts):
            fill(ids, tri, k, cv2.LINE_8, 4)
        conf = conf.astype(np.float32)
        if (ids < 0).all():
            return None
        # Pixels just outside the drawn triangles extend their neighbour's map, so
        # interpolating the map up to full size does not mix in the "nothing" value.
        grown = cv2.dilate(ids.astype(np.float32), np.ones((3, 3), np.uint8)).astype(np.int32)
        ids = np.where(ids >= 0, ids, grown)
        # Only the drawn rectangle is mapped and sampled.
        ys, xs = np.nonzero(ids >= 0)
        a0, a1, b0, b1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
        ids = ids[b0:b1, a0:a1]
        a0, a1, b0, b1 = a0 + bx0, a1 + bx0, b0 + by0, b1 + by0  # (in the region's small grid)
        sx0, sx1 = int(np.floor(a0 / fx)), min(w, int(np.ceil(a1 / fx)))
        sy0, sy1 = int(np.floor(b0 / fy)), min(h, int(np.ceil(b1 / fy)))
        valid = ids >= 0
        safe = np.maximum(ids, 0)
        cx = ((np.arange(a0, a1, dtype=np.float32) + 0.5) / fx - 0.5 + x0)[None]  # canvas coordinates
        cy = ((np.arange(b0, b1, dtype=np.float32) + 0.5) / fy - 0.5 + y0)[:, None]
        back = back.astype(np.float32)
        b = back[safe]
        far = np.float32(-1e5)
        map_x = np.where(valid, b[..., 0, 0] * cx + b[..., 0, 1] * cy + b[..., 0, 2], far)
        map_y = np.where(valid, b[..., 1, 0] * cx + b[..., 1, 1] * cy + b[..., 1, 2], far)
        c = np.where(valid, conf[safe], 0).astype(np.float32)
        map_x, map_y = map_x.astype(np.float32), map_y.astype(np.float32)
        # The small map's pixel grid, placed on the full-size sub-rectangle's pixels.
        m = np.float32([[fx, 0, (sx0 + 0.5) * fx - 0.5 - a0], [0, fy, (sy0 + 0.5) * fy - 0.5 - b0]])
        size = (sx1 - sx0, sy1 - sy0)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        full_x, full_y = (cv2.warpAffine(v, m, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
                          for v in (map_x, map_y))
        fold = _folds(map_x, map_y, b, valid, fx, fy)
        if fold.any():
            # Where the mesh folds over itself (an arm bent hard against its pose in the
            # photo), neighbouring map pixels belong to different sheets of the fold, and
            # the interpolated map fell between them: off the limb (holes showing the
            # background) or onto other parts of it (speckle). There each full-size pixel
            # takes the exact map of its nearest map pixel's triangle instead. (Only over
            # the folds' box: they are a few map pixels at a bent joint.)
            rows, cols = np.nonzero(fold)
            fx0 = max(0, int(np.floor((cols.min() - 1 + a0 + 0.5) / fx - 0.5)) - sx0)
            fx1 = min(sx1 - sx0, int(np.ceil((cols.max() + 1 + a0 + 0.5) / fx - 0.5)) + 1 - sx0)
            fy0 = max(0, int(np.floor((rows.min() - 1 + b0 + 0.5) / fy - 0.5)) - sy0)
            fy1 = min(sy1 - sy0, int(np.ceil((rows.max() + 1 + b0 + 0.5) / fy - 0.5)) + 1 - sy0)
            if fx1 > fx0 and fy1 > fy0:
                mf = m + np.float32([[0, 0, fx * fx0], [0, 0, fy * fy0]])  # the box's own pixel grid
                box = (fx1 - fx0, fy1 - fy0)
                ys, xs = np.nonzero(cv2.warpAffine(fold.astype(np.float32), mf, box, flags=flags,
                                                   borderMode=cv2.BORDER_CONSTANT) > 0)
                nearest = cv2.warpAffine(ids.astype(np.float32), mf, box, borderMode=cv2.BORDER_REPLICATE,
                                         flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)[ys, xs].astype(np.int64)
                tri = back[np.maximum(nearest, 0)]
                px = (xs + (x0 + sx0 + fx0)).astype(np.float32)
                py = (ys + (y0 + sy0 + fy0)).astype(np.float32)
                drawn = nearest >= 0
                ys, xs = ys + fy0, xs + fx0
                full_x[ys, xs] = np.where(drawn, tri[:, 0, 0] * px + tri[:, 0, 1] * py + tri[:, 0, 2], far)
                full_y[ys, xs] = np.where(drawn, tri[:, 1, 0] * px + tri[:, 1, 1] * py + tri[:, 1, 2], far)
        small = (a0, b0, a1, b1, map_x, map_y, c, fx, fy)
        # (Float maps, not cv2.convertMaps' fixed-point ones: OpenCV 5.1's remap ran 2x faster
        # on float maps (4.8 -> 2.4 ms for 500x1100 RGBA), and they need no conversion: the
        # deform 23.7-24.1 -> 19.5-20.9 ms of CPU per frame at 872x1280 on the Zen 3; colour
        # 0.2 levels apart on average where covered, from the finer sub-pixel positions.)
        return (sx0, sy0, sx1, sy1), (full_x, full_y), small


# Texture pixels by which a map pixel's neighbour may differ from what its own triangle's
# map predicts there before the two count as sheets of a fold (_folds). Across an edge of a
# mesh that does not fold the two agree to within the triangles' difference in stretch over
# one map pixel (a few pixels); across a fold they differ by the fold's width, tens of
# pixels (the deepfashion photo on a dev clip: median 0, 99th percentile 12, 99.9th 53).
FOLD_GAP = 8.0


def _folds(map_x: np.ndarray, map_y: np.ndarray, b: np.ndarray, valid: np.ndarray, fx: float, fy: float
           ) -> np.ndarray:
    """The map pixels (bool, the small map's shape) beside which the map jumps: a neighbour
    (right or below, both drawn) lies more than FOLD_GAP texture pixels from where this
    pixel's own triangle map `b` (rows, cols, 2, 3) puts it; both of the pair are marked."""
    fold = np.zeros(valid.shape, bool)
    for axis, step in ((1, np.float32(1.0 / fx)), (0, np.float32(1.0 / fy))):
        col = 0 if axis == 1 else 1  # the map's change per canvas x (axis 1) or y (axis 0)
        here = np.s_[:, :-1] if axis == 1 else np.s_[:-1, :]
        there = np.s_[:, 1:] if axis == 1 else np.s_[1:, :]
        # (The larger of the x and y gaps: within a factor 1.4 of their length, at half the cost.)
        gap = np.maximum(np.abs(map_x[there] - map_x[here] - b[here][..., 0, col] * step),
                         np.abs(map_y[there] - map_y[here] - b[here][..., 1, col] * step))
        jump = (gap > FOLD_GAP) & valid[here] & valid[there]
        fold[here] |= jump
        fold[there] |= jump
    return fold


def _draw_order(triangles: np.ndarray, vertices: np.ndarray, alpha: np.ndarray, origin,
                front: np.ndarray | None = None) -> np.ndarray:
    """The triangles in the order they are drawn, which decides what shows where the mesh
    folds and its triangles overlap (the last drawn shows): those of the layer's soft rim
    first (by the texture's alpha at their centre: a rim triangle on top left a hole in the
    limb), then by `front` (per vertex: _front_weight; an arm folded back to the face came
    out a patchwork of sleeve and forearm), then by alpha."""
    if len(triangles) == 0:
        return triangles
    a, ahead = _order_keys(triangles, vertices, alpha, origin, front)
    return triangles[np.lexsort((a, ahead, a >= 128))]


def _order_keys(triangles, vertices, alpha, origin, front):
    """Per triangle: the texture's alpha at its centre, and its mean `front` weight (to a tenth)."""
    centre = vertices[triangles].mean(1) - np.asarray(origin, np.float64)
    h, w = alpha.shape
    cx = np.clip(np.round(centre[:, 0]).astype(int), 0, w - 1)
    cy = np.clip(np.round(centre[:, 1]).astype(int), 0, h - 1)
    ahead = np.zeros(len(triangles)) if front is None else np.round(front[triangles].mean(1), 1)
    return alpha[cy, cx], ahead


def _front_weight(layer: str, weights: np.ndarray) -> np.ndarray | None:
    """Per vertex, the skinning weight of the bone of a limb drawn in front where the limb
    folds: a forearm over its upper arm (a bent elbow brings the hand forward: to the face,
    across the chest), a thigh over its shin (a raised or kneeling knee comes forward).
    None for the core (its order is by alpha alone)."""
    if layer == "core":
        return None
    return weights[:, 1] if layer.endswith("arm") else weights[:, 0]


def draw_order_keys(lay: Layer) -> tuple[np.ndarray, np.ndarray]:
    """A layer's triangles, in their drawing order: whether each is solid (not the soft rim),
    and the weight of its bone drawn in front (see _draw_order)."""
    a, ahead = _order_keys(lay.triangles, lay.vertices, lay.texture[..., 3], lay.origin,
                           _front_weight(lay.name, lay.weights))
    return a >= 128, ahead


def _rim_follows_nearest_part(labels: np.ndarray, firm: np.ndarray) -> np.ndarray:
    """labels with each pixel of the mask's soft rim (in the person, not firm) given the
    part of the nearest firm person pixel. By distance to the bones alone, the rim outside
    a hanging arm is nearer the torso than the arm's bone, so it stayed with the torso: a
    faint outline of the arm where it had hung."""
    rim = (labels >= 0) & ~firm
    anchor = firm & (labels >= 0)
    if not rim.any() or not anchor.any():
        return labels
    out = labels.copy()
    out[rim] = _from_nearest(labels, anchor)[rim]
    return out


def _joined_to(found: np.ndarray, band: np.ndarray, anchor: np.ndarray | None = None) -> np.ndarray:
    """The pixels of `found` in the 8-connected pieces of found | band that reach `anchor`
    (default: the band): what joins a limb's band, not a patch of like colour nearby."""
    _, pieces = cv2.connectedComponents((found | band).astype(np.uint8), connectivity=8)
    joined = np.unique(pieces[band if anchor is None else anchor])
    return found & np.isin(pieces, joined[joined > 0])


def _islands_join_their_neighbour(labels: np.ndarray, max_area: float) -> np.ndarray:
    """labels with each part's small pieces (under max_area pixels) apart from its largest
    given to the nearest other part. A bit of the torso cut off by an arm's band (at an
    elbow against the body) stayed behind, floating where the elbow was, once the arm moved.
    Larger pieces keep their part: a thigh cut in two by a resting hand must not leave with
    the hand."""
    stray = np.zeros(labels.shape, bool)
    for part in np.unique(labels[labels >= 0]):
        n, comp, stats, _ = cv2.connectedComponentsWithStats((labels == part).astype(np.uint8), connectivity=8)
        if n > 2:
            largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < max_area)
            small = small[(small > 0) & (small != largest)]
            stray |= np.isin(comp, small)
    if not stray.any():
        return labels
    out = labels.copy()
    out[stray] = _from_nearest(labels, (labels >= 0) & ~stray)[stray]
    return out


def _rim_keeps_only_person_colour(image: np.ndarray, soft: np.ndarray, reach: float,
                                  also: np.ndarray | None = None) -> np.ndarray:
    """soft with its uncertain pixels near the background faded where the photo there has
    the background's own colour. A segmentation's soft values spill into narrow gaps (between
    the legs, under an arm); the mesh carried those background pixels along with the limb,
    and they showed as pale strokes wherever the limb moved. `also`: pixels eligible however
    certain the mask is and however far from the background (between the thighs)."""
    background = soft < 0.05
    if not background.any() or background.all():
        return soft
    near = cv2.distanceTransform((~background).astype(np.uint8), cv2.DIST_L2, 3) < reach
    uncertain = near & (soft < 0.995) & ~background
    if also is not None:
        uncertain |= also & ~background
    if not uncertain.any():
        return soft
    beside = cv2.GaussianBlur(_from_nearest(image, background).astype(np.float32), (0, 0), 2.0)
    gap = np.linalg.norm(image.astype(np.float32) - beside, axis=2)
    out = soft.copy()
    out[uncertain] *= np.clip((gap[uncertain] - BACKGROUND_COLOUR_FLOOR)
                              / (BACKGROUND_COLOUR_GAP - BACKGROUND_COLOUR_FLOOR), 0.0, 1.0)
    return out


def _share_across_torso(pose: Pose, side: str, min_score: float = MIN_SCORE) -> float:
    """The share of points along an arm (the outer half of the upper arm and the forearm)
    that lie on the torso's quadrilateral (shoulders and hips); 0 without one."""
    corners, ok = _torso_corners(pose, min_score)
    s, e, w = (J[f"{side}_{n}"] for n in ("shoulder", "elbow", "wrist"))
    seen = pose.visible(min_score)
    if not ok.all() or not (seen[s] and seen[e]):
        return 0.0
    xy = pose.xy.astype(np.float64)
    points = [xy[s] + t * (xy[e] - xy[s]) for t in (0.5, 0.75, 1.0)]
    if seen[w]:
        points += [xy[e] + t * (xy[w] - xy[e]) for t in (0.25, 0.5, 0.75, 1.0)]
    quad = corners.astype(np.float32).reshape(-1, 1, 2)
    return float(np.mean([cv2.pointPolygonTest(quad, (float(x), float(y)), False) >= 0 for x, y in points]))


def _own_colour_at_rim(rgb: np.ndarray, alpha: np.ndarray, foreign: np.ndarray, rim: float) -> np.ndarray:
    """rgb with every pixel within `rim` px of `foreign` given the colour of the nearest
    pixel of the layer (alpha > 0.5) beyond that rim. A photo's pixels where two parts meet
    mix both colours (anti-aliasing, JPEG's halved colour resolution); the layer carried
    them along, and a forearm that hung beside dark shorts kept a dark outline wherever it
    was raised (the deepfashion photo), a hand beside a blue shirt a blue fringe. The same
    for the margin past the layer's edge, which bilinear sampling blends in."""
    near = cv2.distanceTransform((~foreign).astype(np.uint8), cv2.DIST_L2, 3) <= rim
    inside = alpha > 0.5
    clean = inside & ~near
    if not near.any() or not clean.any():
        return rgb
    # Not from the layer's outline either, whose pixels mix in the background (a thin arm's
    # nearest pixels beyond the rim were its outer edge, greened by the grass behind it).
    deep = clean & (cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, 3) > rim)
    return np.where(near[..., None], _from_nearest(rgb, deep if deep.any() else clean), rgb)


def _rim_takes_firm_colour(rgb: np.ndarray, alpha: np.ndarray, band: float) -> np.ndarray:
    """rgb with the soft outline of a layer (alpha under RIM_FIRM, within `band` pixels of
    where it is transparent) and the transparent margin around it in the colour of the
    nearest firm pixel (alpha at least RIM_FIRM). An outline pixel of the photo is part
    person, part backdrop; drawn with its mask as alpha over another part of the body it
    added the backdrop's colour a second time: a raised arm's outline at the shoulder
    showed as a pale arc over the shirt. Over the photo's own plate the outline still
    gives back about the photo (alpha x person + (1 - alpha) x backdrop). The backdrop's
    side of what _own_colour_at_rim does where a limb met another part; only the doubtful
    pixels change, so a firm edge keeps its own detail."""
    firm = alpha >= RIM_FIRM
    if not firm.any() or firm.all():
        return rgb
    seen = (alpha > 0).astype(np.uint8)
    outline = (alpha > 0) & ~firm & (cv2.distanceTransform(seen, cv2.DIST_L2, 3) <= band)
    # (and the transparent pixels bilinear sampling reaches from the outline)
    margin = (alpha == 0) & (cv2.distanceTransform(1 - seen, cv2.DIST_L2, 3) <= TEXTURE_PAD)
    rim = outline | margin
    if not rim.any():
        return rgb
    out = rgb.copy()
    out[rim] = _from_nearest(rgb, firm)[rim]
    return out


def _from_nearest(values: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """values (H, W[, C]) at every pixel taken from the nearest `anchor` pixel (a Voronoi
    partition by distance transform); anchor must not be empty."""
    src = np.where(anchor, 0, 255).astype(np.uint8)
    _, nearest = cv2.distanceTransformWithLabels(src, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
    table = np.zeros((int(nearest.max()) + 1, *values.shape[2:]), values.dtype)
    table[nearest[anchor]] = values[anchor]
    return table[nearest]


def _mirror_fill(rgb: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """rgb with every unseen pixel given the colour of its mirror image across the nearest
    `seen` pixel (p -> 2q - p), where that is seen too, else of q itself. The shorts beside
    a hand give the shorts, the shirt beside an arm its own print. A plain nearest-pixel
    fill drew each seen edge pixel out into a streak, and a plaid torso's side, uncovered
    when the arm rose, showed a band of smeared stripes. The result is blurred lightly
    everywhere: callers take its unseen pixels only."""
    h, w = seen.shape
    src = np.where(seen, 0, 255).astype(np.uint8)
    _, nearest = cv2.distanceTransformWithLabels(src, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(seen)
    table = np.zeros((int(nearest.max()) + 1, 2), np.int32)
    table[nearest[ys, xs]] = np.stack([ys, xs], 1)
    qy, qx = table[nearest, 0], table[nearest, 1]
    py, px = np.mgrid[0:h, 0:w]
    ry, rx = np.clip(2 * qy - py, 0, h - 1), np.clip(2 * qx - px, 0, w - 1)
    mirrored = seen[ry, rx]
    out = np.where(mirrored[..., None], rgb[ry, rx], rgb[qy, qx])
    # (A light blur: the mirror's seams and the fallback's cells should not show.)
    return cv2.GaussianBlur(out, (0, 0), 1.0)


def _triangle_maps(dst: np.ndarray, src: np.ndarray, body_scale: float):
    """Per triangle the affine map dst -> src (T, 2, 3), whether it is drawable, and a
    confidence from its stretch: 1 at the body's own area ratio, falling as the triangle
    is squashed or stretched (a moved pixel smeared over 4x its area is not detail)."""
    # The map's linear part is S D^-1, with D and S the triangles' edge vectors from their
    # first corner (columns); D^-1 in closed form (a 2x2 inverse: 10x numpy's batched inv).
    d1, d2 = dst[:, 1] - dst[:, 0], dst[:, 2] - dst[:, 0]
    s1, s2 = src[:, 1] - src[:, 0], src[:, 2] - src[:, 0]
    det = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]  # twice the signed area of dst
    ok = np.abs(det) > 1e-6
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    back = np.empty((len(dst), 2, 3))
    for row in (0, 1):  # x, then y of the source
        a = (s1[:, row] * d2[:, 1] - s2[:, row] * d1[:, 1]) * inv
        b = (s2[:, row] * d1[:, 0] - s1[:, row] * d2[:, 0]) * inv
        back[:, row, 0], back[:, row, 1] = a, b
        back[:, row, 2] = src[:, 0, row] - a * dst[:, 0, 0] - b * dst[:, 0, 1]
    area_src, area_dst = np.abs(_cross(src)), np.abs(det)
    ratio = np.log(np.maximum(area_dst, 1e-6) / np.maximum(area_src, 1e-6))
    ratio -= 2 * np.log(body_scale)  # the body's overall scale is not stretch
    conf = np.exp(-np.maximum(np.abs(ratio) - np.log(1.5), 0) * 2.0)
    return back, ok & (area_dst > 1e-3), conf


def _cross(tri: np.ndarray) -> np.ndarray:
    """Twice the signed area of triangles (T, 3, 2)."""
    u, v = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    return u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]


def _run_around(row: np.ndarray, x: int) -> tuple[int, int]:
    """(left, right): the run of True in a bool row that holds column x, right exclusive."""
    gaps = np.nonzero(~row)[0]
    left = gaps[gaps < x].max() + 1 if (gaps < x).any() else 0
    right = gaps[gaps > x].min() if (gaps > x).any() else len(row)
    return int(left), int(right)


def _colour_clusters(colours: np.ndarray, k: int = 3, samples: int = 2000) -> np.ndarray:
    """(k, 3) main colours of a set of pixel colours (k-means on a sample)."""
    rng = np.random.default_rng(0)
    pick = colours[rng.choice(len(colours), min(samples, len(colours)), replace=False)].astype(np.float32)
    k = min(k, len(pick))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    cv2.setRNGSeed(0)
    _, _, centres = cv2.kmeans(pick, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    return centres
