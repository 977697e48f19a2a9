"""Training set: label photos and video frames once, cache person crops, serve training pairs.

`build_dataset` runs the pose stage (MediaPipe, with its person mask) over photos and sampled
video frames, drops people lacking both shoulders and both hips (the torso part crop and
the stickman's torso need them), cuts the square person crop used at inference
(render/framing.py) and caches image, mask and keypoints. Training never re-runs pose
estimation.

Cache layout (DIR):
    images/<id>.jpg   person crop, `size` x `size`, RGB
    masks/<id>.png    person mask of the crop (0-255)
    index.json        {"size": S, "samples": [{"id", "source", "group", "split", "xy", "score"}],
                       "counts": {source: {"seen", "kept", ...}}}

`group` names the person: a video clip or a single photo. Frames of the same clip give
cross-frame training pairs (appearance from one frame, target another), the setting the
model meets at inference. `split` is "train", "val" (whole clips for choosing snapshots) or
"heldout" (whole clips and the last photos of each folder, for the final test); both are
chosen here, before any training. With `novelty`, a video frame is kept only when the pose
has moved since the last kept frame, so long still stretches do not outweigh motion.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import VunetError
from ..files import atomic_output
from ..pose.keypoints import INDEX, Pose
from ..render.framing import crop, person_box

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
VIDEO_EXTS = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v"}
TORSO_JOINTS = [INDEX[n] for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip")]


@dataclass
class BuildOptions:
    size: int = 256                   # cached crop side; training resizes to the model's size
    every: int = 2                    # keep every n-th video frame
    heldout_clips: tuple[str, ...] = ()   # video file stems held out whole (test)
    val_clips: tuple[str, ...] = ()       # video file stems kept whole for validation
    novelty: float = 0.0              # keep a video frame only if its pose moved at least this far from
                                      # the last kept one (mean joint shift in torso lengths); 0 = off
    heldout_photo_fraction: float = 0.05  # last fraction of each photo folder (sorted by name)
    min_score: float = 0.5            # torso joints must be at least this confident
    limit: int | None = None          # at most this many items per source (for tests)


def _sources(paths: list[Path]) -> Iterator[tuple[str, list[Path]]]:
    """(source name, files) per photo folder, and one entry per video file."""
    for p in paths:
        if p.is_dir():
            photos = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTS)
            videos = sorted(f for f in p.iterdir() if f.suffix.lower() in VIDEO_EXTS)
            if photos:
                yield p.name, photos
            for v in videos:
                yield v.stem, [v]
        elif p.suffix.lower() in VIDEO_EXTS:
            yield p.stem, [p]
        elif p.suffix.lower() in IMAGE_EXTS:
            yield p.stem, [p]
        else:
            raise VunetError(p, "not a folder, photo or video")


def _keep(pose: Pose, min_score: float) -> bool:
    return bool((pose.score[TORSO_JOINTS] >= min_score).all() and np.isfinite(pose.xy[TORSO_JOINTS]).all())


def pose_distance(a: Pose, b: Pose) -> float:
    """How different two poses are, independent of where and how large the person is: the
    mean distance of their joints after each is centred on its torso and scaled by its
    torso length (shoulder centre to hip centre). inf when a torso is missing."""
    na, nb = _normalised(a), _normalised(b)
    if na is None or nb is None:
        return float("inf")
    ok = np.isfinite(na).all(1) & np.isfinite(nb).all(1)
    return float(np.linalg.norm(na[ok] - nb[ok], axis=1).mean()) if ok.any() else float("inf")


def _normalised(pose: Pose) -> np.ndarray | None:
    xy = np.where((pose.score > 0)[:, None], pose.xy, np.nan)
    shoulders, hips = xy[[5, 6]].mean(0), xy[[11, 12]].mean(0)
    length = float(np.linalg.norm(shoulders - hips))
    if not np.isfinite(length) or length < 1e-3:
        return None
    return (xy - (shoulders + hips) / 2) / length


def build_dataset(sources: list[str | Path], out_dir: str | Path, opts: BuildOptions | None = None,
                  progress=None) -> dict:
    """Label and cache `sources` (photo folders, videos, or folders of videos) into `out_dir`.

    Returns the per-source counts, also stored in index.json.
    """
    from ..pose.mediapipe_backend import MediaPipePose
    from ..video import VideoReader, read_image

    opts = opts or BuildOptions()
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(exist_ok=True)
    paths = [Path(s) for s in sources]
    for p in paths:
        if not p.exists():
            raise VunetError(p, "no such file or folder")

    estimator = MediaPipePose(segmentation=True)
    samples, counts = [], {}

    def add(image: np.ndarray, sid: str, source: str, group: str, split: str, c: dict,
            last: list | None = None) -> None:
        c["seen"] += 1
        people = estimator(image)
        if not people:
            c["no_person"] += 1
            return
        pose = people[0]
        if not _keep(pose, opts.min_score):
            c["no_torso"] += 1
            return
        if last is not None:
            # Pose novelty: a dancer holding still for two seconds is one sample, not fifty.
            if last and pose_distance(pose, last[0]) < opts.novelty:
                c["still"] += 1
                return
            last[:] = [pose]
        box = person_box(pose)
        img = crop(image, box, opts.size)
        mask = crop((pose.mask * 255).astype(np.uint8), box, opts.size, border="constant")
        cp = box.pose_to_crop(pose, opts.size)
        cv2.imwrite(str(out / "images" / f"{sid}.jpg"), img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(str(out / "masks" / f"{sid}.png"), mask)
        xy = np.where(np.isfinite(cp.xy), cp.xy, -1.0)
        samples.append({"id": sid, "source": source, "group": group, "split": split,
                        "xy": np.round(xy, 2).tolist(), "score": np.round(cp.score, 3).tolist()})
        c["kept"] += 1

    for source, files in _sources(paths):
        c = counts.setdefault(source, {"seen": 0, "kept": 0, "no_person": 0, "no_torso": 0, "still": 0,
                                       "unreadable": 0})
        is_video = len(files) == 1 and files[0].suffix.lower() in VIDEO_EXTS
        if is_video:
            stem = files[0].stem
            split = "heldout" if stem in opts.heldout_clips else "val" if stem in opts.val_clips else "train"
            last = [] if opts.novelty > 0 else None
            with VideoReader(files[0]) as reader:
                for frame in reader:
                    if frame.index % opts.every:
                        continue
                    if opts.limit and c["seen"] >= opts.limit:
                        break
                    add(frame.image, f"{source}_{frame.index:05d}", source, source, split, c, last)
                    if progress:
                        progress(source, c)
        else:
            files = files[: opts.limit] if opts.limit else files
            n_held = int(round(len(files) * opts.heldout_photo_fraction))
            for k, f in enumerate(files):
                split = "heldout" if k >= len(files) - n_held else "train"
                try:
                    image = read_image(f)
                except VunetError:
                    c["unreadable"] += 1
                    continue
                add(image, f"{source}_{f.stem}", source, f"{source}_{f.stem}", split, c)
                if progress:
                    progress(source, c)
    estimator.close()

    index = {"size": opts.size, "samples": samples, "counts": counts}
    # Written last and all or nothing: a cache without its index is not a dataset.
    with atomic_output(out / "index.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps(index))
    return counts


class PairDataset:
    """In-memory training pairs from a cached dataset, at the model's resolution.

    Item: (target image, target mask, target keypoints, appearance image, appearance keypoints),
    all numpy, keypoints in model pixels. The appearance frame is the target itself for photos
    and, with probability `cross_prob`, another frame of the same clip for videos.

    video_share: the share of targets drawn from video frames (0: every sample equally
    likely); hard_share: the share of cross-frame pairs whose appearance frame is the most
    different pose (pose_distance, which also sees a turn as left and right swapping) of
    HARD_CANDIDATES random frames of the clip, so large pose and view changes are common.
    """

    HARD_CANDIDATES = 4

    def __init__(self, data_dir: str | Path, size: int, split: str | tuple[str, ...] = "train", cross_prob: float = 0.5,
                 video_share: float = 0.0, hard_share: float = 0.0):
        self.dir = Path(data_dir)
        index_path = self.dir / "index.json"
        if not index_path.is_file():
            raise VunetError(index_path, "no dataset index here; run `vunet-video dataset build` first")
        index = json.loads(index_path.read_text())
        splits = {split} if isinstance(split, str) else set(split)
        self.samples = [s for s in index["samples"] if s["split"] in splits]
        if not self.samples:
            raise VunetError(index_path, f"no '{split}' samples")
        self.size = size
        self.cross_prob = cross_prob
        self.video_share = video_share
        self.hard_share = hard_share
        scale = size / index["size"]
        n = len(self.samples)
        self.images = np.empty((n, size, size, 3), np.uint8)
        self.masks = np.empty((n, size, size), np.uint8)
        self.poses = []
        for i, s in enumerate(self.samples):
            img = cv2.imread(str(self.dir / "images" / f"{s['id']}.jpg"))[:, :, ::-1]
            mask = cv2.imread(str(self.dir / "masks" / f"{s['id']}.png"), cv2.IMREAD_GRAYSCALE)
            self.images[i] = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
            self.masks[i] = cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA)
            xy = np.asarray(s["xy"], np.float32)
            score = np.asarray(s["score"], np.float32)
            xy[score <= 0] = np.nan
            self.poses.append(Pose(xy * scale, score))
        groups: dict[str, list[int]] = {}
        for i, s in enumerate(self.samples):
            groups.setdefault(s["group"], []).append(i)
        self.group_members = [groups[s["group"]] for s in self.samples]
        self.video_samples = [i for i, m in enumerate(self.group_members) if len(m) > 1]
        self.photo_samples = [i for i, m in enumerate(self.group_members) if len(m) == 1]

    def __len__(self) -> int:
        return len(self.samples)

    def draw(self, rng: np.random.Generator) -> int:
        """A random target sample (see video_share)."""
        if self.video_share > 0 and self.video_samples and self.photo_samples:
            pool = self.video_samples if rng.random() < self.video_share else self.photo_samples
            return int(pool[rng.integers(len(pool))])
        return int(rng.integers(len(self)))

    def pair(self, i: int, rng: np.random.Generator) -> int:
        """The appearance sample for target i (see cross_prob and hard_share)."""
        members = self.group_members[i]
        if len(members) > 1 and rng.random() < self.cross_prob:
            if self.hard_share > 0 and rng.random() < self.hard_share:
                candidates = [int(members[k]) for k in rng.integers(len(members), size=self.HARD_CANDIDATES)]
                return max(candidates, key=lambda j: pose_distance(self.poses[i], self.poses[j]))
            return int(members[rng.integers(len(members))])
        return i
