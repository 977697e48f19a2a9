"""Pose track files: the project's pose JSON, and import of OpenPose JSON.

Project schema (version 1; also in docs/pose_json.md)::

    {
      "version": 1,
      "source": "dance.mp4",          # the video or photo the poses came from
      "backend": "mediapipe",         # pose backend that made them ("openpose" on import)
      "fps": 24.0,                    # frame rate; null for a photo
      "width": 1080, "height": 1920,  # source size in pixels; null when unknown
      "smoothed": true,               # One Euro smoothing applied
      "joints": ["nose", ...],        # the 17 COCO joint names, in keypoint order
      "frame_count": 288,             # number of entries in "frames"
      "frames": [
        {"index": 0, "time": 0.0,
         "keypoints": [[x, y], null, ...],   # 17 entries, pixels, null = missing
         "scores": [0.98, 0.0, ...]},        # 17 confidences in [0, 1], 0 = missing
        ...
      ]
    }

Coordinates are pixels of the source (x right, y down), rounded to 0.01 px; scores to
0.001. `index` is the frame's index in the source and `time` its presentation time in
seconds.

Writing streams one frame at a time into a temporary file next to the destination and
renames it into place at the end (`files.atomic_output`), so a failed run leaves no
partial file and an existing file is never replaced unless asked. Reading streams too:
the header is read first and the frames are decoded one by one as the iterator is
consumed, so memory does not grow with the length of the video. `read_pose_json` makes
one such pass over the whole input before returning (parsing only, a small cost next to
rendering), so that a damaged frame or a file cut short is an error before any work,
not in the middle of a render.
Every field is type-checked: a wrong one is a one-line VunetError naming the file, the
field and the problem.

OpenPose import: `read_pose_json` also accepts OpenPose's per-frame output
(`{"people": [{"pose_keypoints_2d": [x0, y0, c0, x1, ...]}, ...]}`), one file or a
folder of them (sorted by name = frame order), in the BODY_25 or COCO-18 layout,
converted to COCO-17. OpenPose files carry no frame rate: give `fps` for a folder. When a
frame has several people, the same person is followed through the folder
(SubjectTracker).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..errors import VunetError
from ..files import EXISTS, atomic_output
from .keypoints import NAMES, NUM_JOINTS, Pose
from .tracking import SubjectTracker

VERSION = 1
HEADER_KEYS = ("version", "source", "backend", "fps", "width", "height", "smoothed", "joints", "frame_count")

# Width reserved for the frame count, patched in once all frames are written.
_COUNT_FIELD = 20
# A single JSON value bigger than this is not a pose frame: stop reading instead of
# buffering a whole broken file.
_MAX_VALUE_CHARS = 16 << 20

# Largest magnitude a coordinate or score may have. Far beyond any frame (a coordinate is
# in pixels), and far below float32's limit: a JSON number such as 1e308 is finite as a
# Python float but overflows (with RuntimeWarnings) once made a float32 array.
MAX_MAGNITUDE = 1e7
# Header fields: a frame rate or a frame size beyond these is not a video's.
MAX_FPS = 10_000
MAX_SIDE = 1_000_000

# OpenPose joint index of each COCO-17 joint, in COCO order. Layouts from OpenPose's
# output documentation (doc/02_output.md, "Pose Output Format (BODY_25)" and "(COCO)").
OPENPOSE_BODY25_TO_COCO = np.array([0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11])
OPENPOSE_COCO18_TO_COCO = np.array([0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10])


# ----------------------------------------------------------------------------- writing

def _frame_record(index: int, time: float | None, pose: Pose) -> dict:
    vis = np.isfinite(pose.xy).all(axis=1) & (pose.score > 0)
    keypoints = [[round(float(x), 2), round(float(y), 2)] if v else None
                 for (x, y), v in zip(pose.xy, vis)]
    scores = [round(float(s), 3) if v else 0.0 for s, v in zip(pose.score, vis)]
    t = None if time is None or not math.isfinite(time) else round(float(time), 6)
    return {"index": int(index), "time": t, "keypoints": keypoints, "scores": scores}


def write_pose_json(path: str | os.PathLike, header: dict, frames: Iterable[tuple[int, float | None, Pose]],
                    overwrite: bool = False) -> int:
    """Write a pose track; returns the number of frames written.

    header: source, backend, fps, width, height, smoothed (missing keys become null),
            optionally person (a PersonChoice as text); version, joints and frame_count
            are filled in here.
    frames: (index, time in seconds, Pose) in order; consumed lazily. If iterating it
            raises, the exception propagates and nothing is left at `path` (an
            OSError, like the file's own, becomes a VunetError naming `path`).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise VunetError(path, EXISTS)
    if path.is_dir():
        raise VunetError(path, "is a folder, not a file")
    path.parent.mkdir(parents=True, exist_ok=True)
    head = {k: header.get(k) for k in ("source", "backend", "fps", "width", "height", "smoothed")}
    if header.get("person") is not None:  # whom the track follows, when the source showed several
        head["person"] = str(header["person"])
    head["source"] = None if head["source"] is None else str(head["source"])
    count = 0
    with atomic_output(path, overwrite) as tmp, open(tmp, "wb") as f:
        def put(text: str) -> None:
            f.write(text.encode("ascii"))

        put('{\n "version": %d,\n' % VERSION)
        for key, value in head.items():
            put(f" {json.dumps(key)}: {json.dumps(value)},\n")
        put(f' "joints": {json.dumps(list(NAMES))},\n "frame_count": ')
        # The count is not known until the frames (a lazy iterator) are used up: leave a
        # blank field for it and patch it in at the end instead of holding the frames.
        count_at = f.tell()
        put(" " * _COUNT_FIELD + ',\n "frames": [')
        for index, time, pose in frames:
            put(("\n  " if count == 0 else ",\n  ") + json.dumps(_frame_record(index, time, pose)))
            count += 1
        put("\n ]\n}\n")
        f.seek(count_at)
        put(str(count).ljust(_COUNT_FIELD))
    return count


# ----------------------------------------------------------------------------- reading

class _JsonStream:
    """Reads a JSON document value by value (enough to walk one top-level object and
    one array inside it without holding the whole file)."""

    def __init__(self, f, path: Path):
        self.f, self.path = f, path
        self.buf, self.pos, self.eof = "", 0, False
        self.decoder = json.JSONDecoder()

    def _fill(self) -> None:
        # Read at least as much again as is buffered: a long value is then re-scanned
        # O(log n) times, not once per 64 kB (quadratic: a 20 MB string took 30 s).
        chunk = self.f.read(max(1 << 16, len(self.buf) - self.pos))
        if not chunk:
            self.eof = True
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0

    def fail(self, what: str) -> VunetError:
        return VunetError(self.path, f"not a valid pose JSON file ({what})")

    def peek(self) -> str:
        """Next non-blank character ('' at the end), not consumed."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf) or self.eof:
                return self.buf[self.pos:self.pos + 1]
            self._fill()

    def expect(self, char: str) -> None:
        got = self.peek()
        if got != char:
            raise self.fail(f"expected {char!r}, found {got or 'end of file'!r}")
        self.pos += 1

    def value(self):
        self.peek()
        while True:
            try:
                obj, end = self.decoder.raw_decode(self.buf, self.pos)
                # A number at the very end of the buffer may continue in the next chunk.
                if end < len(self.buf) or self.eof:
                    self.pos = end
                    return obj
            except json.JSONDecodeError as e:
                if self.eof:
                    raise self.fail(e.msg.lower()) from None
            except RecursionError:  # arrays nested thousands deep: no pose frame looks like that
                raise self.fail("a value is nested far too deep") from None
            except ValueError as e:  # a number of more digits than Python converts (int_max_str_digits)
                raise self.fail(" ".join(str(e).split(";")[0].split())) from None
            if len(self.buf) - self.pos > _MAX_VALUE_CHARS:
                raise self.fail("a value is far too large")
            self._fill()


def _is_number(value) -> bool:
    """A finite JSON number (not a bool, a string or NaN/Infinity)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_value(value) -> bool:
    """A finite number of a size a coordinate or a score can have (float32 holds it)."""
    return _is_number(value) and abs(value) <= MAX_MAGNITUDE


def _pose_from_record(rec, path: Path, n: int) -> tuple[int, float | None, Pose]:
    try:
        if not isinstance(rec, dict):
            raise ValueError("not an object")
        kps, scores = rec["keypoints"], rec["scores"]
        if not isinstance(kps, list) or not isinstance(scores, list):
            raise ValueError("'keypoints' and 'scores' must be lists")
        if len(kps) != NUM_JOINTS or len(scores) != NUM_JOINTS:
            raise ValueError(f"expected {NUM_JOINTS} keypoints and scores")
        for j, k in enumerate(kps):
            if k is not None and not (isinstance(k, list) and len(k) >= 2 and all(map(_is_value, k[:2]))):
                raise ValueError(f"keypoints[{j}] = {json.dumps(k)[:40]} is not null or [x, y] finite numbers "
                                 f"within +-{MAX_MAGNITUDE:g}")
        for j, v in enumerate(scores):
            if not _is_value(v):
                raise ValueError(f"scores[{j}] = {json.dumps(v)[:40]} is not a finite number within +-{MAX_MAGNITUDE:g}")
        index, time = rec.get("index", n), rec.get("time")
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 2**31:
            raise ValueError(f"index = {json.dumps(index)[:40]} is not a whole number in 0 .. 2^31-1")
        if time is not None and not (_is_number(time) and abs(time) <= 1e9):
            raise ValueError(f"time = {json.dumps(time)[:40]} is not null or a finite number of seconds")
        xy = np.array([[np.nan, np.nan] if k is None else k[:2] for k in kps], np.float32)
        score = np.array(scores, np.float32)
        time = None if time is None else float(time)
    except (KeyError, TypeError, ValueError) as e:
        raise VunetError(path, f"frame {n} is malformed ({e})") from None
    missing = ~np.isfinite(xy).all(axis=1)
    xy[missing] = np.nan
    score[missing] = 0.0
    return index, time, Pose(xy, np.clip(score, 0.0, 1.0))


def _check_header(header: dict, path: Path) -> dict:
    if header.get("version") != VERSION:
        raise VunetError(path, f"unsupported pose file version {header.get('version')!r} (expected {VERSION})")
    for key, top in (("fps", MAX_FPS), ("width", MAX_SIDE), ("height", MAX_SIDE)):
        value = header.get(key)
        if value is not None and not (_is_number(value) and 0 < value <= top):
            raise VunetError(path, f"'{key}' is {json.dumps(value)[:40]}; it must be a positive number up to {top:g} "
                                   "(or null)")
    return {k: header.get(k) for k in HEADER_KEYS}


def _project_frames(stream: _JsonStream, path: Path) -> Iterator[tuple[int, float | None, Pose]]:
    try:
        stream.expect("[")
        n = 0
        if stream.peek() == "]":
            stream.pos += 1
        else:
            while True:
                yield _pose_from_record(stream.value(), path, n)
                n += 1
                sep = stream.peek()
                stream.expect(sep if sep in ",]" else ",")
                if sep == "]":
                    break
        # Keys after the frames are allowed and ignored; the document must still be whole.
        while stream.peek() == ",":
            stream.pos += 1
            stream.value()
            stream.expect(":")
            stream.value()
        stream.expect("}")
    except UnicodeDecodeError:
        raise VunetError(path, "not a text (JSON) file") from None
    finally:
        stream.f.close()


def _read_project(path: Path) -> tuple[dict, Iterator] | None:
    """Header and lazy frames of a project file; None if it is an OpenPose file."""
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise VunetError(path, f"cannot open ({e.strerror})") from None
    stream = _JsonStream(f, path)
    try:
        stream.expect("{")
        header: dict = {}
        while stream.peek() != "}":
            if header:
                stream.expect(",")
            key = stream.value()
            if not isinstance(key, str):
                raise stream.fail("object key is not a string")
            stream.expect(":")
            if key == "frames" and "version" in header:
                return _check_header(header, path), _project_frames(stream, path)
            header[key] = stream.value()
        stream.expect("}")
    except UnicodeDecodeError:
        f.close()
        raise VunetError(path, "not a text (JSON) file") from None
    except BaseException:
        f.close()
        raise
    f.close()
    if "people" in header:
        return None
    if "frames" in header:  # frames written before the header: already fully loaded
        frames = header["frames"]
        if not isinstance(frames, list):
            raise VunetError(path, "not a valid pose JSON file ('frames' is not a list)")
        return _check_header(header, path), (_pose_from_record(r, path, n) for n, r in enumerate(frames))
    raise VunetError(path, "not a pose file (no 'frames' or OpenPose 'people')")


def _openpose_people(path: Path) -> list[Pose]:
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, UnicodeDecodeError) as e:
        raise VunetError(path, f"cannot read ({getattr(e, 'strerror', None) or e})") from None
    except json.JSONDecodeError as e:
        raise VunetError(path, f"not valid JSON ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise VunetError(path, "not a valid OpenPose file (nested far too deep)") from None
    except ValueError as e:  # a number of more digits than Python converts
        raise VunetError(path, f"not a valid OpenPose file ({str(e).split(';')[0]})") from None
    people = doc.get("people") if isinstance(doc, dict) else None
    if not isinstance(people, list):
        raise VunetError(path, "not an OpenPose file (no 'people' list)")
    poses = []
    for n, person in enumerate(people):
        if not isinstance(person, dict):
            raise VunetError(path, f"OpenPose 'people' entry {n} is not an object")
        flat = person.get("pose_keypoints_2d", person.get("pose_keypoints"))
        if not isinstance(flat, list) or len(flat) % 3:
            raise VunetError(path, f"OpenPose 'people' entry {n}: pose_keypoints_2d is not a list of x, y, c triples")
        bad = next((v for v in flat if not _is_value(v)), None)
        if bad is not None or not all(map(_is_value, flat)):
            raise VunetError(path, f"OpenPose 'people' entry {n}: pose_keypoints_2d holds "
                                   f"{json.dumps(bad)[:40]}, not a finite number within +-{MAX_MAGNITUDE:g}")
        kp = np.asarray(flat, np.float32).reshape(-1, 3)
        if len(kp) == 25:
            kp = kp[OPENPOSE_BODY25_TO_COCO]
        elif len(kp) == 18:
            kp = kp[OPENPOSE_COCO18_TO_COCO]
        else:
            raise VunetError(path, f"OpenPose layout with {len(kp)} joints is not BODY_25 or COCO-18")
        score = np.clip(kp[:, 2], 0.0, 1.0)
        xy = kp[:, :2].copy()
        xy[score <= 0] = np.nan  # OpenPose writes 0, 0, 0 for a joint it did not find
        poses.append(Pose(xy, score.astype(np.float32)))
    return poses


def _openpose_frames(files: list[Path], fps: float | None) -> Iterator[tuple[int, float | None, Pose]]:
    tracker = SubjectTracker()
    for i, file in enumerate(files):
        pose = tracker(_openpose_people(file))
        yield i, (0.0 if fps is None else i / fps), pose


def read_pose_json(path: str | os.PathLike, fps: float | None = None, *,
                   validate: bool = True) -> tuple[dict, Iterator[tuple[int, float | None, Pose]]]:
    """(header, iterator of (index, time, Pose)) from a project pose file, an OpenPose
    per-frame file, or a folder of OpenPose files. `fps` is only used for OpenPose.

    validate: read every frame once first (streaming, nothing kept), so that any error in
    the input is raised here rather than while the iterator is used; the header's
    frame_count is then the number of frames actually there.
    """
    path = Path(path)
    if fps is not None:
        try:
            good = not isinstance(fps, bool) and math.isfinite(float(fps)) and float(fps) > 0
        except (TypeError, ValueError):
            good = False
        if not good:
            raise VunetError(path, f"fps {fps!r} is not a positive number")
    if not validate:
        return _open_pose_input(path, fps)
    header, frames = _open_pose_input(path, fps)
    count = sum(1 for _ in frames)
    header, frames = _open_pose_input(path, fps)  # the same input again, for the caller
    header["frame_count"] = count
    return header, frames


def _open_pose_input(path: Path, fps: float | None) -> tuple[dict, Iterator[tuple[int, float | None, Pose]]]:
    if not path.exists():
        raise VunetError(path, "no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".json" and p.is_file())
        if not files:
            raise VunetError(path, "folder holds no .json files")
        if len(files) > 1 and not fps:
            raise VunetError(path, "OpenPose files carry no frame rate: give fps for a folder of them")
    elif not path.is_file():  # a FIFO would block the read forever, a device never end
        raise VunetError(path, "not a regular file or folder")
    else:
        project = _read_project(path)
        if project is not None:
            return project
        files = [path]
    header = {"version": VERSION, "source": str(path), "backend": "openpose", "fps": fps,
              "width": None, "height": None, "smoothed": False, "joints": list(NAMES),
              "frame_count": len(files)}
    return header, _openpose_frames(files, fps)
