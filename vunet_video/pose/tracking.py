"""Following one person through a video: `SubjectTracker`.

A pose backend returns every person it finds in a frame, in no particular order. The
tracker picks the main subject on the first frame where anybody is found (or the person a
`PersonChoice` names: by rank, side or a point, on the first frame where they can be
told apart), then keeps
returning the same person: in each new frame it takes the candidate nearest to the pose
it returned last. If nobody is near enough (the person left the frame or was not
detected) it returns `Pose.empty()` and waits; the person is re-acquired when a
candidate appears near where they were last seen. The allowed distance grows with the
time they have been gone, so somebody walking back in elsewhere is found again too;
with other people in the frame, that means the nearest of them is eventually taken.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import VunetError
from .keypoints import MIN_SCORE, Pose


def _box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _extent(box: tuple[float, float, float, float]) -> float:
    return max(box[2] - box[0], box[3] - box[1], 1.0)


def subject_score(pose: Pose, image_size: tuple[int, int] | None = None,
                  min_score: float = MIN_SCORE) -> float:
    """How much `pose` looks like the photo's or video's main subject (higher = more).

    Product of size (box height relative to the image, or in px without an image size),
    mean confidence of the visible joints times the fraction of joints visible, and
    centrality (1 at the image centre falling to 0.5 at the left/right edge).
    """
    box = pose.bbox(min_score)
    if box is None:
        return 0.0
    vis = pose.visible(min_score)
    confidence = float(pose.score[vis].mean()) * vis.mean()
    size = _extent(box)
    centrality = 1.0
    if image_size is not None:
        h, w = image_size
        size /= max(h, w)
        cx = 0.5 * (box[0] + box[2])
        centrality = 1.0 - 0.5 * min(abs(cx - 0.5 * w) / (0.5 * w), 1.0)
    return size * confidence * centrality


def main_subject(poses: list[Pose], image_size: tuple[int, int] | None = None,
                 min_score: float = MIN_SCORE) -> Pose:
    """The most prominent person of `poses` (see `subject_score`), or Pose.empty()."""
    best, best_score = None, 0.0
    for pose in poses:
        s = subject_score(pose, image_size, min_score)
        if s > best_score:
            best, best_score = pose, s
    return Pose.empty() if best is None else best


@dataclass(frozen=True)
class PersonChoice:
    """Which person to follow when there are several.

    kind: "rank" (the rank-th most prominent, 1 = the main subject), "left" or "right"
    (the leftmost or rightmost person), or "at" (the person at `point`, image pixels).
    Written as text (settings, the command line): "1", "2", ..., "left", "right", "X,Y".
    """

    kind: str = "rank"
    rank: int = 1
    point: tuple[float, float] | None = None

    @classmethod
    def parse(cls, text: str, where=None) -> "PersonChoice":
        t = str(text).strip().lower()
        if t in ("left", "right"):
            return cls(t)
        if t.isdigit() and 1 <= int(t) <= 1000:
            return cls("rank", int(t))
        parts = t.split(",")
        if len(parts) == 2:
            try:
                x, y = (float(v) for v in parts)
            except ValueError:
                pass
            else:
                if np.isfinite([x, y]).all():
                    return cls("at", point=(x, y))
        raise VunetError(where, f"person {text!r}: give a rank (1 = the most prominent, 2, ...), left, right, "
                                "or a point X,Y in the first frame's pixels")

    def __str__(self) -> str:
        if self.kind == "rank":
            return str(self.rank)
        if self.kind == "at":
            return f"{self.point[0]:g},{self.point[1]:g}"
        return self.kind

    @property
    def needs(self) -> int:
        """People that must be seen in a frame to tell this one apart."""
        return self.rank if self.kind == "rank" else 1


def choose_person(poses: list[Pose], choice: PersonChoice | None = None, image_size: tuple[int, int] | None = None,
                  min_score: float = MIN_SCORE) -> Pose:
    """The person `choice` names among `poses` (default: the most prominent), or
    Pose.empty() when this frame does not show them (fewer people than the rank)."""
    people = [p for p in poses if p.bbox(min_score) is not None]
    if choice is None or (choice.kind == "rank" and choice.rank == 1):
        return main_subject(people, image_size, min_score)
    if len(people) < choice.needs:
        return Pose.empty()

    def centre(p):
        x0, y0, x1, y1 = p.bbox(min_score)
        return np.array([(x0 + x1) / 2, (y0 + y1) / 2])

    if choice.kind == "rank":
        ranked = sorted(people, key=lambda p: subject_score(p, image_size, min_score), reverse=True)
        return ranked[choice.rank - 1]
    if choice.kind in ("left", "right"):
        key = (lambda p: centre(p)[0]) if choice.kind == "left" else (lambda p: -centre(p)[0])
        return min(people, key=key)
    # A point: the person whose box holds it (the smallest such box: someone in front), else
    # the person whose box centre is nearest.
    x, y = choice.point
    holding = [p for p in people if p.bbox(min_score)[0] <= x <= p.bbox(min_score)[2]
               and p.bbox(min_score)[1] <= y <= p.bbox(min_score)[3]]
    if holding:
        return min(holding, key=lambda p: _extent(p.bbox(min_score)))
    return min(people, key=lambda p: float(np.linalg.norm(centre(p) - (x, y))))


def pose_distance(a: Pose, b: Pose, min_score: float = MIN_SCORE) -> float:
    """Distance between two poses in units of `a`'s size (box extent).

    Mean distance of the joints visible in both, or of the box centres when they share
    fewer than 3 joints; inf when either has no visible joint.
    """
    box_a, box_b = a.bbox(min_score), b.bbox(min_score)
    if box_a is None or box_b is None:
        return float("inf")
    scale = _extent(box_a)
    both = a.visible(min_score) & b.visible(min_score)
    if both.sum() >= 3:
        d = np.linalg.norm(a.xy[both] - b.xy[both], axis=1).mean()
    else:
        ca = np.array([box_a[0] + box_a[2], box_a[1] + box_a[3]]) / 2
        cb = np.array([box_b[0] + box_b[2], box_b[1] + box_b[3]]) / 2
        d = np.linalg.norm(ca - cb)
    return float(d) / scale


class SubjectTracker:
    """Keeps returning the same person from per-frame lists of poses.

    max_distance: a candidate further than this (in person sizes, see `pose_distance`)
                  from the last pose is not the same person ... unless its box overlaps
                  the last box by IoU >= min_iou.
    regrow_per_frame: while the person is missing, max_distance grows by this much per
                  frame, so they are re-acquired wherever they come back.
    choice:       the person to pick on the first frame that shows them (PersonChoice);
                  from then on they are followed as above, whatever their rank later.
    """

    def __init__(self, max_distance: float = 0.5, min_iou: float = 0.3,
                 regrow_per_frame: float = 0.05, min_score: float = MIN_SCORE, choice: PersonChoice | None = None):
        self.choice = choice  # whom to pick first (default: the most prominent)
        self.max_distance = max_distance
        self.min_iou = min_iou
        self.regrow_per_frame = regrow_per_frame
        self.min_score = min_score
        self.reset()

    def reset(self) -> None:
        self._last: Pose | None = None   # last pose returned that was not empty
        self._missing = 0                # frames since then

    @property
    def missing_frames(self) -> int:
        """Frames since the subject was last seen (0 while tracked)."""
        return self._missing

    def __call__(self, poses: list[Pose], image_size: tuple[int, int] | None = None) -> Pose:
        """The subject in this frame's `poses`, or Pose.empty() when they are not there.

        image_size: (height, width) of the frame, used to judge centrality on the first
        frame.
        """
        poses = [p for p in poses if not p.is_empty(self.min_score)]
        if self._last is None:
            chosen = choose_person(poses, self.choice, image_size, self.min_score)
            if not chosen.is_empty(self.min_score):
                self._last = chosen
            return chosen
        chosen = self._nearest(poses)
        if chosen is None:
            self._missing += 1
            return Pose.empty()
        self._last, self._missing = chosen, 0
        return chosen

    def _nearest(self, poses: list[Pose]) -> Pose | None:
        last = self._last
        last_box = last.bbox(self.min_score)
        limit = self.max_distance + self.regrow_per_frame * self._missing
        best, best_d = None, float("inf")
        for pose in poses:
            d = pose_distance(last, pose, self.min_score)
            overlaps = _box_iou(last_box, pose.bbox(self.min_score)) >= self.min_iou
            if (d <= limit or overlaps) and d < best_d:
                best, best_d = pose, d
        return best
