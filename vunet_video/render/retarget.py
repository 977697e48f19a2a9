"""Retargeting: the driving person's motion on the subject's body, in the subject's photo.

The driving dancer and the subject differ in build (bone lengths) and in where they stand
and how large they appear in their own frames. Feeding the driving joints to the model as
they are would render the subject with the dancer's limbs, at the dancer's size and place.
`Retargeter` does what Everybody Dance Now (Chan et al. 2019, global pose normalisation)
and MusePose's pose alignment (per-bone length ratios measured once, from the first
frames) do, combined:

* Reference. The driving clip's first confident frames (both shoulders seen) give the
  reference: per-bone lengths, the hip-centre position and the torso length (shoulder
  centre to hip centre), medians over the frames given.
* Global map. A point of the driving frame maps to the subject's photo by
  G(x) = subject_root + k * (x - reference_root), with k = subject torso / reference
  torso and root the hip centre. A dancer twice as far from the camera has a reference
  torso half as long, so k doubles and the subject comes out the same size; moving three
  torso lengths to the left moves the subject three of its own torso lengths.
* Bones. The skeleton is walked from the root outwards (hip centre -> shoulder centre
  -> shoulders -> arms, hip centre -> hips -> legs, shoulder centre -> nose -> eyes ->
  ears). Every bone keeps the driving frame's direction and its length is the driving
  frame's length times subject_length / reference_length: in the reference frames the
  subject's own bone lengths come out (for bones the dancer shows at full length; one
  foreshortened in the reference stays as foreshortened), and later foreshortening or
  the dancer coming closer to the camera scales them as it scaled the dancer's.
* Left and right bones share a length, the longer of the two, in the subject and in the
  reference alike: a photo shows a bone foreshortened, never lengthened.
* Rest. When the clip starts as the photo stands, bone for bone (the reference's bones,
  mapped as above, end within REST_MATCH torso lengths of the photo's, turned by at most
  REST_TURN degrees, for REST_SHARE of the bones), each such bone maps onto the photo's
  own: turned by the small angle between the two and scaled by their own length ratio.
  Two readings of a person standing alike differ by the reader's noise, and the subject
  would otherwise move by it (the tai chi clip driving its own first frame). A dancer who
  starts otherwise is mapped as above.
* A bone the subject photo lacks (a half-body photo has no legs) uses the global ratio k,
  i.e. the dancer's length relative to the torso. Per-bone ratios are clipped to
  [k/2, 2k] so one badly detected joint cannot stretch a limb across the frame.
* A driving joint that is missing stays missing; a joint whose parent is missing is
  placed by the global map G.
* Fallbacks when the torso is incomplete: without hips on either side the root is the
  shoulder centre and k the ratio of shoulder widths; without shoulders, the centres and
  heights of the boxes around the joints.
* In frame (`frame_size` given). The photo's canvas is framed tightly around the subject,
  while a dancer small in a wide frame can travel many of their own torso lengths: on the
  dev rooftop dance the subject left the canvas in a fifth to a third of the frames, and
  the half-body astronaut for most of the clip, while the dancer never left theirs. So
  the root's sideways travel dx (photo pixels, from the subject's own place) is eased
  before the canvas' side: the room L on that side is the distance from the subject's
  root to the side less IN_FRAME_MARGIN shoulder widths; travel up to a knee a is kept as
  it is, and beyond it dx' = a + (L - a) tanh((|dx| - a) / (L - a)), which never reaches
  L. The knee depends on how far the dancer can go: their reach R is the same room in
  their own frame (`driving_size`), times k. a = L clip(2 - R / L, 0.5, 0.9): a dancer
  who cannot take the subject past the side (R <= L, as when a clip drives its own first
  frame) is eased only in the last tenth of the room, one who can is eased from half
  of it on. The whole pose shifts with the root (the limbs keep their shape). Up and down
  are left alone: a subject's feet are near the canvas' bottom already, and easing a
  crouch would lift them off the ground.

`FrameFit` is the no-retargeting alternative (`--no-retarget`): the driving frame is
scaled to fit inside the photo (largest uniform scale, centred), so the dancer keeps
their own proportions, size and place relative to the frame; same-sized frames map
one to one.
"""

from __future__ import annotations

import warnings
from collections import deque
from typing import Sequence

import numpy as np

from ..errors import VunetError
from ..pose.keypoints import BONES, FLIP_PERM, MIN_SCORE, NUM_JOINTS, Pose

# Virtual joints appended to the 17 COCO joints: shoulder centre and hip centre.
NECK, HIPS = NUM_JOINTS, NUM_JOINTS + 1
_N = NUM_JOINTS + 2
_FLIP = np.concatenate([FLIP_PERM, [NECK, HIPS]])
_L_SHO, _R_SHO, _L_HIP, _R_HIP = 5, 6, 11, 12

# The skeleton as a tree through the two centres. BONES' torso sides, shoulder and hip
# lines are replaced by centre-to-joint edges so every joint has exactly one parent.
_TORSO = {(5, 6), (11, 12), (5, 11), (6, 12)}
EDGES = ((HIPS, NECK), (NECK, _L_SHO), (NECK, _R_SHO), (HIPS, _L_HIP), (HIPS, _R_HIP), (NECK, 0)) + \
    tuple(b for b in BONES if b not in _TORSO)
_EDGE_INDEX = {e: i for i, e in enumerate(EDGES)}
# Each edge's left/right mirror (itself for centre-line edges).
_MIRROR = np.array([_EDGE_INDEX.get((int(_FLIP[a]), int(_FLIP[b])), i) for i, (a, b) in enumerate(EDGES)])
_NEIGHBOURS: dict[int, list[tuple[int, int]]] = {j: [] for j in range(_N)}
for _i, (_a, _b) in enumerate(EDGES):
    _NEIGHBOURS[_a].append((_b, _i))
    _NEIGHBOURS[_b].append((_a, _i))
# Order in which joints left unreached by the walk start a new walk: torso first.
_SEED_ORDER = (HIPS, NECK, _L_SHO, _R_SHO, _L_HIP, _R_HIP, 0, 7, 8, 13, 14, 1, 2, 9, 10, 15, 16, 3, 4)

# Per-bone ratios stay within this factor of the global scale k.
MAX_BONE_RATIO_SPREAD = 2.0
# A bone of the reference that already lies as the subject's own (its end within this many
# subject torso lengths of the photo's, once mapped; wholly so, fading out at twice that) maps
# onto the photo's bone exactly: turned by the small angle between the two and scaled by
# their own length ratio, not the left/right one. Two readings of a person standing alike
# differ by a pose reader's noise, and rendering that difference moved the photo's pixels
# more than a slow-moving person moves (the tai chi clip driving its own first frame).
REST_MATCH, REST_TURN, REST_SHARE = 0.05, 10.0, 0.8
# Bones shorter than this (px) in the reference are too foreshortened to measure a ratio.
_MIN_BONE_PX = 1.0
# The root stays at least this many of the subject's shoulder widths inside the canvas'
# sides (the module docstring's "In frame"): both shoulders stay in (at 0.75 one was out in up
# to 19% of the rooftop dance's frames, at 1.0 up to 7%).
IN_FRAME_MARGIN = 1.0


def extended(pose: Pose, min_score: float = MIN_SCORE) -> np.ndarray:
    """(19, 2) joint positions with the shoulder and hip centres appended; NaN = missing."""
    xy = np.full((_N, 2), np.nan, np.float64)
    seen = pose.visible(min_score)
    xy[:NUM_JOINTS][seen] = pose.xy[seen]
    if seen[_L_SHO] and seen[_R_SHO]:
        xy[NECK] = 0.5 * (xy[_L_SHO] + xy[_R_SHO])
    if seen[_L_HIP] and seen[_R_HIP]:
        xy[HIPS] = 0.5 * (xy[_L_HIP] + xy[_R_HIP])
    return xy


def bone_lengths(xy: np.ndarray) -> np.ndarray:
    """Length of every edge of EDGES (NaN where a joint is missing)."""
    a, b = np.array(EDGES).T
    return np.linalg.norm(xy[b] - xy[a], axis=1)


def _symmetric(lengths: np.ndarray) -> np.ndarray:
    """Left and right share the longer length (fmax ignores a missing side)."""
    return np.fmax(lengths, lengths[_MIRROR])


def is_confident(pose: Pose, min_score: float = MIN_SCORE) -> bool:
    """Good enough to serve as a retargeting reference: both shoulders seen."""
    v = pose.visible(min_score)
    return bool(v[_L_SHO] and v[_R_SHO])


def _box_centre_height(xy: np.ndarray) -> tuple[np.ndarray, float] | None:
    pts = xy[:NUM_JOINTS][np.isfinite(xy[:NUM_JOINTS]).all(axis=1)]
    if len(pts) == 0:
        return None
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return 0.5 * (lo + hi), float(max(hi[1] - lo[1], hi[0] - lo[0], 1.0))


def _room(xy: np.ndarray, home: float, width: float) -> tuple[float, float]:
    """(left, right): how far a person whose root is at x = home may travel sideways before
    the root comes within IN_FRAME_MARGIN shoulder widths of the frame's side."""
    shoulders = np.linalg.norm(xy[_L_SHO] - xy[_R_SHO])
    margin = IN_FRAME_MARGIN * (shoulders if np.isfinite(shoulders) else 0.1 * width)
    floor = 0.02 * width  # a person at the very side may still move a little that way
    return max(home - margin, floor), max(width - home - margin, floor)


class Retargeter:
    """Maps driving poses onto the subject's body and photo (see the module docstring).

    subject_pose: the subject's pose in photo pixels.
    reference:    the driving clip's first confident pose(s) (several are medianed).
    frame_size:   the canvas (w, h): the sideways travel eases in before its sides (see
                  "In frame" above); None: not limited.
    driving_size: the driving frame (w, h), for the dancer's reach; None: unknown.
    """

    def __init__(self, subject_pose: Pose, reference: Pose | Sequence[Pose], min_score: float = MIN_SCORE,
                 frame_size: tuple[int, int] | None = None, driving_size: tuple[int, int] | None = None):
        self.min_score = min_score
        refs = [reference] if isinstance(reference, Pose) else list(reference)
        refs = [p for p in refs if not p.is_empty(min_score)]
        if not refs:
            raise VunetError(None, "no driving pose to take the retargeting reference from")
        subj = extended(subject_pose, min_score)
        if not np.isfinite(subj).any():
            raise VunetError(None, "the subject pose has no visible joints")
        ref_xy = np.stack([extended(p, min_score) for p in refs])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN medians are expected
            ref = np.nanmedian(ref_xy, axis=0)
            ref_len = _symmetric(np.nanmedian([bone_lengths(x) for x in ref_xy], axis=0))
        subj_len = _symmetric(bone_lengths(subj))

        self.root, self.scale = self._global_scale(subj, ref, subj_len, ref_len)
        if self.root is None:  # no torso in common: align the boxes around the joints
            (cs, hs), (cr, hr) = _box_centre_height(subj), _box_centre_height(ref)
            self.scale = hs / hr
            self.offset = cs - self.scale * cr
            self.home, ref_home = cs, cr
        else:
            self.offset = subj[self.root] - self.scale * ref[self.root]
            self.home, ref_home = subj[self.root], ref[self.root]
        self._subject = subj
        self.room = self.knee = None  # per side (left, right), photo pixels: see "In frame"
        if frame_size is not None:
            self.room = _room(subj, self.home[0], frame_size[0])
            if driving_size is None:  # the dancer's reach unknown: eased from half the room on
                self.knee = tuple(0.5 * room for room in self.room)
            else:
                reach = _room(ref, ref_home[0], driving_size[0])  # the dancer's room, driving pixels
                self.knee = tuple(room * float(np.clip(2 - self.scale * r / room, 0.5, 0.9))
                                  for room, r in zip(self.room, reach))

        k = self.scale
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = subj_len / ref_len
        usable = np.isfinite(ratio) & (ref_len >= _MIN_BONE_PX)
        self.bone_ratio = np.where(usable, np.clip(ratio, k / MAX_BONE_RATIO_SPREAD, k * MAX_BONE_RATIO_SPREAD), k)
        self.bone_map = self._bone_maps(subj, ref)

    def _bone_maps(self, subj: np.ndarray, ref: np.ndarray) -> np.ndarray:
        """(edges, 2, 2): per edge the map of a driving bone vector onto the subject's: its
        length ratio (bone_ratio) times the identity, blended toward the photo's own bone
        where the reference lies as the photo does (REST_MATCH)."""
        a, b = np.array(EDGES).T
        maps = self.bone_ratio[:, None, None] * np.eye(2)
        torso = float(np.linalg.norm(subj[NECK] - subj[HIPS]))
        sv, rv = subj[b] - subj[a], ref[b] - ref[a]
        with np.errstate(invalid="ignore", divide="ignore"):
            miss = np.linalg.norm(sv - self.bone_ratio[:, None] * rv, axis=1)
            share = np.clip(2.0 - miss / (REST_MATCH * torso), 0.0, 1.0)
            exact = np.linalg.norm(sv, axis=1) / np.linalg.norm(rv, axis=1)
        ok = np.isfinite(share) & np.isfinite(exact) & (np.linalg.norm(rv, axis=1) >= _MIN_BONE_PX) & (share > 0)
        if not np.isfinite(torso) or torso <= 0 or not ok.any():
            return maps
        turn = np.arctan2(rv[:, 0] * sv[:, 1] - rv[:, 1] * sv[:, 0], (rv * sv).sum(1))  # rv -> sv
        # (A short bone, foreshortened toward the camera, can lie within the reach above and
        # still point elsewhere: only a small turn and a ratio near the usual one count.)
        ok &= (np.abs(turn) <= np.radians(REST_TURN)) & (np.abs(np.log(exact / self.bone_ratio)) <= np.log(1.25))
        # Only when the clip starts as the photo stands, bone for bone (REST_SHARE of the
        # bones both have): a dancer whose forearm happened to start near the photo's got it
        # turned for the whole clip (the bus photo's limbs read 15.9 -> 17.1 degrees off).
        both = np.isfinite(sv).all(1) & np.isfinite(rv).all(1)
        if not both.any() or (ok & (share >= 0.5)).sum() < REST_SHARE * both.sum():
            return maps
        c, s = np.cos(turn), np.sin(turn)
        rotate = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2) * exact[:, None, None]
        w = np.where(ok, share, 0.0)[:, None, None]
        return np.where(ok[:, None, None], (1 - w) * maps + w * np.nan_to_num(rotate), maps)

    @staticmethod
    def _global_scale(subj, ref, subj_len, ref_len) -> tuple[int | None, float]:
        torso = _EDGE_INDEX[(HIPS, NECK)]
        if np.isfinite([subj_len[torso], ref_len[torso]]).all() and ref_len[torso] >= _MIN_BONE_PX:
            return HIPS, float(subj_len[torso] / ref_len[torso])
        half_width = _EDGE_INDEX[(NECK, _L_SHO)]
        if np.isfinite([subj_len[half_width], ref_len[half_width]]).all() and ref_len[half_width] >= _MIN_BONE_PX:
            return NECK, float(subj_len[half_width] / ref_len[half_width])
        return None, 1.0

    def map_point(self, xy: np.ndarray) -> np.ndarray:
        """The global map G: driving pixels -> subject photo pixels."""
        return self.scale * np.asarray(xy, np.float64) + self.offset

    def __call__(self, driving: Pose) -> Pose:
        d = extended(driving, self.min_score)
        seen = np.isfinite(d).all(axis=1)
        out = np.full((_N, 2), np.nan, np.float64)
        placed = np.zeros(_N, bool)
        for seed in _SEED_ORDER:
            if not seen[seed] or placed[seed]:
                continue
            out[seed] = self.map_point(d[seed])
            placed[seed] = True
            queue = deque([seed])
            while queue:  # breadth-first from the seed: parents are placed before children
                p = queue.popleft()
                for c, e in _NEIGHBOURS[p]:
                    if seen[c] and not placed[c]:
                        out[c] = out[p] + self.bone_map[e] @ (d[c] - d[p])
                        placed[c] = True
                        queue.append(c)
        if self.room is not None and placed.any():
            out[:, 0] += self._eased_shift(out, placed)
        xy = out[:NUM_JOINTS].astype(np.float32)
        score = np.where(placed[:NUM_JOINTS], driving.score, 0.0).astype(np.float32)
        xy[~placed[:NUM_JOINTS]] = np.nan
        return Pose(xy, score)

    def _eased_shift(self, out: np.ndarray, placed: np.ndarray) -> float:
        """The sideways shift that eases the root's travel before the canvas' sides."""
        if self.root is not None and placed[self.root]:
            dx = out[self.root, 0] - self.home[0]
        else:  # no root in this frame (or none in common): the joints both poses have stand in for it
            both = placed & np.isfinite(self._subject[:, 0])
            if not both.any():
                return 0.0
            dx = float(np.mean(out[both, 0]) - np.mean(self._subject[both, 0]))
        side = int(dx > 0)
        room, knee = self.room[side], self.knee[side]
        if abs(dx) <= knee:
            return 0.0
        soft = room - knee
        eased = knee + soft * np.tanh((abs(dx) - knee) / soft)
        return float(np.copysign(eased, dx) - dx)


class FrameFit:
    """No retargeting: the driving frame scaled (uniformly, centred) to fit the photo."""

    def __init__(self, driving_size: tuple[int, int] | None, subject_size: tuple[int, int]):
        """Sizes are (width, height); driving_size None (unknown) maps coordinates as they are."""
        if driving_size is None or tuple(driving_size) == tuple(subject_size):
            self.scale, self.offset = 1.0, np.zeros(2)
            return
        (dw, dh), (sw, sh) = driving_size, subject_size
        self.scale = min(sw / dw, sh / dh)
        self.offset = np.array([(sw - self.scale * dw) / 2, (sh - self.scale * dh) / 2])

    def __call__(self, driving: Pose) -> Pose:
        return driving.transformed(self.scale, tuple(self.offset))
