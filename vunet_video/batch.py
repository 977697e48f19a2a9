"""Batch runs: `animate` over many (subject photo, driving clip) pairs.

    results = batch_folder("out/", subjects="photos/", driving="dances/", jobs=2)  # all of it

or step by step:

    pairs = pairs_from_folders("photos/", "dances/", "out/")     # every photo x every clip
    pairs = pairs_from_csv("pairs.csv", "out/")                   # or a list of pairs
    results = run_batch(pairs, preset="fast", jobs=2)
    print(format_summary(results))
    write_summary(results, "out/batch_summary.csv")

Behaviour:
* Resumable, and only on what it can trust. Each output gets a small record beside it,
  `.<output name>.vunet`, written atomically: 'rendering' before the pair starts,
  'done' (with the inputs, a hash of the settings and weights, the frame count and a
  SHA-256 of the output) once the output is published and flushed to disk. On a rerun an
  existing output is
  - skipped (status 'skipped') when its record is 'done' for this pair, these settings,
    and the file is byte for byte the one recorded;
  - rendered again when it is our own unfinished or stale work: its record says
    'rendering' (the run was killed between publishing and recording) or 'done' for other
    inputs or settings;
  - refused (status 'failed', the file left alone) when it has no record (made by hand,
    by another program, by `animate`) or was changed after it was recorded; `overwrite`
    replaces it.
  The writers are atomic (a temp file renamed at the end), so a pair cut off mid-way, even
  by SIGKILL or a power cut, leaves no output under the final name and a rerun redoes it.
* A pair that fails (unreadable video, nobody in the photo, ...) is recorded with its
  one-line error and the batch goes on. Only a problem that would fail every pair (the
  model cannot be loaded, a bad preset) stops the batch, as a VunetError.
* `jobs` > 1 renders that many pairs at once in worker processes. Each worker loads the
  model once and keeps its last few encoded subjects, and pairs are handed out subject by
  subject, so a photo is encoded about once per worker instead of once per clip.
* A worker process that dies (a crash in a native library, out of memory) takes the
  pairs in flight with it; those are run again one at a time in a fresh worker, so only
  a pair that kills a worker on its own is reported failed, and the batch goes on.

Output names are `<subject-stem>_<driving-stem>` plus the export's suffix (.mp4, .mov,
.json; no suffix for a PNG-sequence folder), as `vunet-video animate` names them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import signal
import sys
import time
import traceback
from collections import OrderedDict, deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .errors import VunetError
from .files import IMAGE_SUFFIXES, POSE_SUFFIXES, VIDEO_SUFFIXES, atomic_output, remove_quietly
from .video.formats import EXPORTS, ExportFormat

SUMMARY_NAME = "batch_summary.csv"
SUMMARY_COLUMNS = ("subject", "driving", "output", "status", "frames", "seconds", "error", "notes")
# Encoded subjects a worker keeps: pairs arrive grouped by subject, so the current one and
# the one before (still finishing on another worker's schedule) cover the reuse.
SUBJECT_CACHE = 2


@dataclass(frozen=True)
class Pair:
    """One render: this subject photo performing this driving input, written to `output`."""

    subject: Path
    driving: Path
    output: Path

    @property
    def name(self) -> str:
        return f"{self.subject.name} + {self.driving.name}"


@dataclass
class PairResult:
    """How one pair went. status: 'ok', 'skipped' (output existed) or 'failed'."""

    pair: Pair
    status: str
    frames: int | None = None
    seconds: float = 0.0
    error: str = ""
    notes: list[str] = field(default_factory=list)
    trace: str = ""        # traceback of an unexpected (non-VunetError) failure: a bug to report
    fatal: bool = False    # the failure would repeat for every pair (model cannot be loaded)


# ----------------------------------------------------------------------------- the pairs

def _export(export: str) -> ExportFormat:
    if export not in EXPORTS:
        raise VunetError(None, f"unknown export {export!r} (use one of {', '.join(EXPORTS)})")
    return EXPORTS[export]


def output_name(subject: str | Path, driving: str | Path, export: str = "video") -> str:
    """`<subject-stem>_<driving-stem>` + the export's suffix."""
    return f"{Path(subject).stem}_{Path(driving).stem}{_export(export).suffix}"


def _listing(folder: Path, what: str) -> list[Path]:
    if not folder.exists():
        raise VunetError(folder, f"no such {what} folder")
    if not folder.is_dir():
        raise VunetError(folder, f"not a folder (--{what} takes a folder)")
    try:
        return sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError as e:
        raise VunetError(folder, f"cannot list folder ({e.strerror or e})") from None


def subject_photos(folder: str | Path) -> list[Path]:
    """The photos in a folder (by suffix, sorted, hidden files left out)."""
    folder = Path(folder).expanduser()
    photos = [p for p in _listing(folder, "subjects") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not photos:
        raise VunetError(folder, f"no subject photos in the folder ({', '.join(IMAGE_SUFFIXES)})")
    return photos


def driving_inputs(folder: str | Path) -> list[Path]:
    """The driving inputs in a folder: videos, pose JSON files, and subfolders of OpenPose
    .json files (sorted, hidden files left out)."""
    folder = Path(folder).expanduser()
    found = []
    for p in _listing(folder, "driving"):
        if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES + POSE_SUFFIXES:
            found.append(p)
        elif p.is_dir() and any(q.suffix.lower() == ".json" for q in p.iterdir()):
            found.append(p)
    if not found:
        raise VunetError(folder, "no driving videos or pose files in the folder "
                         f"({', '.join(VIDEO_SUFFIXES[:5])}, ..., .json)")
    return found


def _check_outputs(pairs: list[Pair], where: str | Path | None) -> list[Pair]:
    seen: dict[Path, Pair] = {}
    for pair in pairs:
        key = Path(os.path.abspath(pair.output))
        if key in seen:
            raise VunetError(where, f"{seen[key].name} and {pair.name} would both write {pair.output}")
        seen[key] = pair
    return pairs


def inside_folder(output: Path, folder: Path) -> bool:
    """Whether `output` lies inside `folder` once `..` and symlinks are resolved (those of
    the output's folder: the output itself is replaced, never written through). An
    absolute path, `../x` or a subfolder linked to elsewhere is outside."""
    if output.name in ("", ".", ".."):
        return False  # the folder itself or one above it
    try:
        where, top = output.parent.resolve(), folder.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return False
    return where.is_relative_to(top)


def pairs_from_folders(subjects: str | Path, driving: str | Path, outdir: str | Path,
                       export: str = "video") -> list[Pair]:
    """Every photo in `subjects` with every driving input in `driving`, subject by subject."""
    photos, clips = subject_photos(subjects), driving_inputs(driving)
    outdir = Path(outdir).expanduser()
    pairs = [Pair(s, d, outdir / output_name(s, d, export)) for s in photos for d in clips]
    for pair in pairs:  # names are stems, so this only fails for names like '..'
        if not inside_folder(pair.output, outdir):
            raise VunetError(pair.output, f"output of {pair.name} is outside the output folder {outdir}")
    return _check_outputs(pairs, None)


def pairs_from_csv(path: str | Path, outdir: str | Path, export: str = "video") -> list[Pair]:
    """Pairs listed in a CSV file with a header row: columns subject, driving and optionally
    output. Relative subject/driving paths are taken from the CSV's folder, relative outputs
    from `outdir`; an empty output cell gets the default name. Every output must lie inside
    `outdir` (no absolute path, no `..` out of it, no subfolder linked to outside it)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise VunetError(path, "no such pairs file")
    if not path.is_file():
        raise VunetError(path, "not a file (--pairs takes a CSV file)")
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: spreadsheet programs write a BOM
    except (OSError, UnicodeDecodeError) as e:
        raise VunetError(path, f"cannot read pairs file ({getattr(e, 'strerror', None) or e})") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
        rows = list(reader)
    except csv.Error as e:
        raise VunetError(path, f"not a valid CSV file ({e})") from None
    if header is None:
        raise VunetError(path, "empty pairs file (expected a header row: subject,driving[,output])")
    columns = [c.strip().lower() for c in header]
    missing = [c for c in ("subject", "driving") if c not in columns]
    if missing:
        raise VunetError(path, f"missing column(s) {', '.join(missing)} in the header row "
                         f"(has: {', '.join(c for c in columns if c) or 'nothing'}; expected subject,driving[,output])")
    col = {name: columns.index(name) for name in ("subject", "driving", "output") if name in columns}
    base, outdir = path.parent, Path(outdir).expanduser()
    pairs = []
    for line, row in enumerate(rows, start=2):
        cells = {name: (row[i].strip() if i < len(row) else "") for name, i in col.items()}
        if not any(c.strip() for c in row):
            continue  # blank line
        for name in ("subject", "driving"):
            if not cells[name]:
                raise VunetError(path, f"line {line}: empty {name} cell")
        subject = base / Path(cells["subject"]).expanduser()
        driving = base / Path(cells["driving"]).expanduser()
        output = outdir / Path(cells["output"]).expanduser() if cells.get("output") else \
            outdir / output_name(subject, driving, export)
        if not inside_folder(output, outdir):
            raise VunetError(path, f"line {line}: output {cells.get('output') or output.name!r} is outside the "
                             f"output folder {outdir} (outputs are relative to it and stay in it)")
        pairs.append(Pair(subject, driving, output))
    if not pairs:
        raise VunetError(path, "no pairs listed (only a header row)")
    return _check_outputs(pairs, path)


def output_exists(output: Path, export: str = "video") -> bool:
    """Whether a finished output is there (a folder export: a non-empty folder)."""
    return _export(export).exists(output)


# ----------------------------------------------------------------------------- resume records

RECORD_VERSION = 1
NO_RECORD = ("exists but no batch record says it is a finished output of this pair (made by hand, by another "
             "program or by `animate`?); left alone: use --overwrite to replace it")
CHANGED = "was changed after the batch wrote it; left alone: use --overwrite to replace it"


def record_path(output: Path) -> Path:
    """The resume record of an output: hidden, beside it (`.<name>.vunet`). Its name is no
    longer than the output's temporary `.<stem>.partial<suffix>`, so every output name
    the file system takes (files.check_name_length) has room for its record."""
    return output.with_name(f".{output.name}.vunet")


def run_key(settings, weights: str | Path | None, fps: float | None) -> str:
    """A hash of everything besides the two inputs that decides what a pair renders: the
    settings, the checkpoint file (by path, size and time) and the fallback frame rate."""
    import dataclasses

    from .model.io import resolve_weights

    path = resolve_weights(weights or settings.model.weights or None)
    described = {"settings": dataclasses.asdict(settings), "weights": _file_id(path), "fps": fps}
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()


def _file_id(path: Path) -> dict:
    """A file or folder as the record names it: resolved path, size and modification time
    (an input edited in place after the render makes the output stale)."""
    try:
        st = path.stat()
    except OSError:
        return {"path": str(path), "missing": True}
    return {"path": str(path.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def _digest(output: Path) -> str:
    """SHA-256 of an output file, or of a folder export's files (names and contents)."""
    h = hashlib.sha256()
    files = sorted(p for p in output.iterdir() if p.is_file()) if output.is_dir() else [output]
    for f in files:
        if output.is_dir():
            h.update(f.name.encode() + b"\0")
        with open(f, "rb") as data:
            for block in iter(lambda: data.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _fsync(path: Path, flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _flush(output: Path) -> None:
    """Make the published output durable, data and name, before the record that vouches
    for it (after a power cut a 'done' record must not point at data still in the page
    cache)."""
    for f in (sorted(output.iterdir()) if output.is_dir() else [output]):
        _fsync(f)
    if output.is_dir():
        _fsync(output)
    _fsync(output.parent)


def _pair_ids(pair: Pair, key: str) -> dict:
    return {"subject": _file_id(pair.subject), "driving": _file_id(pair.driving), "run": key}


def _write_record(pair: Pair, key: str, state: str, frames: int | None = None) -> None:
    """Write the output's record all or nothing: a short temporary name (the record's own
    name may be as long as the file system allows), flushed, renamed over the record."""
    record = {"vunet_video_batch": RECORD_VERSION, "state": state, "output": pair.output.name, **_pair_ids(pair, key)}
    if state == "done":
        _flush(pair.output)
        record.update(frames=frames, sha256=_digest(pair.output))
    target = record_path(pair.output)
    tmp = target.with_name(f".vunet-record-{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        _fsync(target.parent)
    except OSError as e:
        raise VunetError(target, f"cannot write the batch record ({e.strerror or e})") from None
    finally:
        remove_quietly(tmp)


def read_record(output: Path) -> dict | None:
    """The resume record of `output`, or None when there is none or it is not one of ours."""
    try:
        record = json.loads(record_path(output).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("vunet_video_batch") != RECORD_VERSION:
        return None
    return record


@dataclass(frozen=True)
class Existing:
    """What to do with a pair given what lies at its output: 'render' (nothing there),
    'skip' (finished, with `frames`), 'redo' (our own unfinished or stale work) or 'refuse'
    (not known to be ours: `problem` says why)."""

    action: str
    frames: int | None = None
    problem: str = ""


def classify_output(pair: Pair, key: str, export: str = "video") -> Existing:
    """Whether `pair`'s existing output is a finished one for these settings (see the
    module docstring for the rules)."""
    if not output_exists(pair.output, export):
        return Existing("render")
    record = read_record(pair.output)
    if record is None or record.get("output") != pair.output.name:
        return Existing("refuse", problem=NO_RECORD)
    if record.get("state") != "done":
        return Existing("redo")  # killed after publishing, before recording: not known to be whole
    try:
        same_file = _digest(pair.output) == record.get("sha256")
    except OSError:
        same_file = False
    if not same_file:
        return Existing("refuse", problem=CHANGED)
    if {k: record.get(k) for k in ("subject", "driving", "run")} != _pair_ids(pair, key):
        return Existing("redo")  # ours, but for other inputs or settings
    frames = record.get("frames")
    return Existing("skip", frames if isinstance(frames, int) else None)


# ----------------------------------------------------------------------------- one worker

class BatchWorker:
    """Renders pairs with one loaded model, keeping the last few encoded subjects."""

    def __init__(self, weights: str | Path | None = None, preset: str | Path = "default",
                 overrides: dict | None = None, fps: float | None = None):
        from .pipeline import Animator

        self.animator = Animator(weights, preset, **(overrides or {}))
        self.fps = fps
        self._subjects: OrderedDict[Path, object] = OrderedDict()  # path -> EncodedSubject or VunetError

    def subject(self, path: Path):
        """The encoded subject of a photo, from the cache when this worker has seen it."""
        if path in self._subjects:
            self._subjects.move_to_end(path)
            found = self._subjects[path]
        else:
            try:
                found = self.animator.encode_subject(path)
            except VunetError as e:
                found = e  # a photo with nobody in it fails all of its pairs: say so each time, fast
            self._subjects[path] = found
            while len(self._subjects) > SUBJECT_CACHE:
                self._subjects.popitem(last=False)
        if isinstance(found, VunetError):
            raise found.with_traceback(None)  # the cached error, without the last raise's frames
        return found

    def run(self, pair: Pair, overwrite: bool = False) -> PairResult:
        """Render one pair; any failure is caught and returned as a 'failed' result."""
        t0 = time.perf_counter()
        try:
            result = self.animator.animate(self.subject(pair.subject), pair.driving, pair.output,
                                           fps=self.fps, overwrite=overwrite, quiet=True)
            return PairResult(pair, "ok", result.frames, time.perf_counter() - t0, notes=list(result.notes))
        except VunetError as e:
            return PairResult(pair, "failed", None, time.perf_counter() - t0, error=_one_line(str(e)))
        except Exception as e:  # a bug: keep going, but keep its traceback for the report
            return PairResult(pair, "failed", None, time.perf_counter() - t0,
                              error=_one_line(f"internal error: {type(e).__name__}: {e}"),
                              trace=traceback.format_exc())


def _one_line(text: str) -> str:
    return " ".join(text.split())


# Worker-process state: each process builds its BatchWorker at its first pair (not in the
# pool initializer, where an exception would break the whole pool without a message).
_worker_args: tuple | None = None
_worker: BatchWorker | None = None
_rendering = False  # a pair is being rendered in this worker process


def _worker_sigterm(signum, frame) -> None:
    """A worker's SIGTERM (from the batch stopping it, or sent to the whole process group):
    mid-pair, unwind the render like Ctrl-C so the writer deletes its partial file, then
    exit (in _run_in_process); between pairs, exit at once, there is nothing to clean."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second one must not cut the cleanup
    if _rendering:
        raise KeyboardInterrupt
    _exit_worker()


def _exit_worker() -> None:
    """End this worker process now. Not through an exception: the pool's worker loop would
    catch it and wait for the next pair. The exit handlers multiprocessing would run at a
    normal exit run first (they release this process's semaphores, e.g. tqdm's lock)."""
    from multiprocessing import util

    try:
        util._exit_function()
    finally:
        os._exit(143)


def _init_process(args: tuple, threads: int) -> None:
    global _worker_args
    _worker_args = args
    # Ctrl-C reaches every process of the terminal's process group: the batch (the parent)
    # handles it and stops the workers with SIGTERM, which they handle as above.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _worker_sigterm)
    # N workers share the cores: without a cap each would start one thread per core.
    import cv2
    import torch

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)


def _run_in_process(pair: Pair, overwrite: bool) -> PairResult:
    global _worker, _rendering
    _rendering = True
    try:
        if _worker is None:
            try:
                _worker = BatchWorker(*_worker_args)
            except VunetError as e:
                return PairResult(pair, "failed", error=_one_line(str(e)), fatal=True)
        return _worker.run(pair, overwrite)
    except KeyboardInterrupt:  # stopped by SIGTERM: the render has unwound, its partial file is gone
        _exit_worker()
    finally:
        _rendering = False


# ----------------------------------------------------------------------------- the batch

def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_run(weights: str | Path | None = None, preset: str | Path = "default",
              overrides: dict | None = None) -> dict:
    """The run's settings; VunetError, before any work, for what would fail every pair
    (bad preset or option, alpha background on H.264, no checkpoint file)."""
    from .model.io import resolve_weights
    from .presets import load_settings

    settings = load_settings(preset, overrides)
    if settings.output.compare != "off" or settings.output.timeline:  # second files, not in the resume records
        raise VunetError(settings.preset_path or None, "output.compare and output.timeline are for animate; batch "
                                                       "writes no comparisons or timelines")
    path = resolve_weights(weights or settings.model.weights or None)
    if not path.is_file():
        raise VunetError(path, "no such checkpoint")
    return settings


def _grouped(pairs: list[Pair], indices: list[int]) -> list[int]:
    """`indices` with the pairs of one subject next to each other (subjects in first-seen
    order, each subject's clips in their order), so workers can reuse the encoded subject."""
    first: dict[Path, int] = {}
    for i in indices:
        first.setdefault(pairs[i].subject, len(first))
    return sorted(indices, key=lambda i: first[pairs[i].subject])


def run_batch(pairs: Iterable[Pair], *, weights: str | Path | None = None, preset: str | Path = "default",
              overrides: dict | None = None, jobs: int = 1, overwrite: bool = False, fps: float | None = None,
              on_result: Callable[[PairResult, int, int], None] | None = None,
              on_start: Callable[[Pair], None] | None = None) -> list[PairResult]:
    """Render every pair; returns one PairResult per pair, in the pairs' order.

    overrides: setting overrides as for Animator (size=512, background="color", ...).
    jobs:      pairs rendered at once (worker processes when > 1).
    overwrite: render every pair, replacing existing outputs; without it an existing output
               is skipped, rendered again or refused by its resume record (module docstring).
    fps:       frame rate for driving pose files that carry none (OpenPose folders).
    on_result: called as on_result(result, done, total) as each pair finishes (skips too).
    on_start:  called as on_start(pair) as a pair starts rendering (its subject's fine-tune
               may come first: a long step is not silent).
    Raises VunetError only for what would fail every pair (bad preset, missing model).
    """
    pairs = list(pairs)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if jobs < 1:
        raise VunetError(None, f"jobs must be at least 1, not {jobs}")
    settings = check_run(weights, preset, overrides)
    export, key = settings.output.export, run_key(settings, weights, fps)
    results: dict[int, PairResult] = {}
    total = len(pairs)

    def finish(i: int, result: PairResult) -> None:
        results[i] = result
        if on_result is not None:
            on_result(result, len(results), total)

    todo, replace, ours = [], {}, set()
    for i, pair in enumerate(pairs):
        found = classify_output(pair, key, export)
        if found.action == "redo":
            ours.add(i)
        if overwrite or found.action in ("render", "redo"):
            todo.append(i)
            replace[i] = overwrite or found.action == "redo"
        elif found.action == "skip":
            finish(i, PairResult(pair, "skipped", found.frames))
        else:
            finish(i, PairResult(pair, "failed", error=f"{pair.output}: {found.problem}"))
    for i in todo:  # CSV outputs may name subfolders of the output folder
        try:
            pairs[i].output.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise VunetError(pairs[i].output.parent, f"cannot create output folder ({e.strerror or e})") from None

    started: set[int] = set()  # 'rendering' records written, pair not yet finished

    def start(i: int) -> bool:
        """Record that pair i is being rendered (before it is); its overwrite flag."""
        _write_record(pairs[i], key, "rendering")
        started.add(i)
        if on_start is not None:
            on_start(pairs[i])
        return replace[i]

    def recorded(i: int, result: PairResult) -> None:
        """Record a finished pair as done (or forget a failed one), then report it."""
        if result.status == "ok":
            try:
                _write_record(pairs[i], key, "done", result.frames)
            except (VunetError, OSError) as e:
                result = PairResult(pairs[i], "failed", result.frames, result.seconds,
                                    error=_one_line(f"{pairs[i].output}: rendered, but its batch record could not "
                                                    f"be written ({e})"))
        elif i not in ours:  # the output, if any, is not ours: no record may vouch for it
            remove_quietly(record_path(pairs[i].output))
        started.discard(i)
        finish(i, result)

    order = _grouped(pairs, todo)
    if not order:
        return [results[i] for i in range(total)]
    try:
        if jobs == 1 or len(order) == 1:
            worker = BatchWorker(weights, preset, overrides, fps)  # VunetError here stops the batch
            for i in order:
                recorded(i, worker.run(pairs[i], start(i)))
        else:
            _run_parallel(pairs, order, (weights, preset, overrides, fps), min(jobs, len(order)), start, recorded)
    except BaseException:
        # Stopped (Ctrl-C, SIGTERM, an error): a pair cut off before its output was
        # published leaves nothing behind, its record included. (A record beside an
        # output of ours stays: it says the output must be rendered again.)
        for i in started:
            if not pairs[i].output.exists():
                remove_quietly(record_path(pairs[i].output))
        raise
    return [results[i] for i in range(total)]


def batch_folder(outdir: str | Path, *, subjects: str | Path | None = None, driving: str | Path | None = None,
                 pairs_csv: str | Path | None = None, weights: str | Path | None = None,
                 preset: str | Path = "default", overrides: dict | None = None, jobs: int = 1,
                 overwrite: bool = False, fps: float | None = None,
                 on_result: Callable[[PairResult, int, int], None] | None = None,
                 on_start: Callable[[Pair], None] | None = None) -> list[PairResult]:
    """The `batch` command: the pairs of two folders (every photo in `subjects` x every
    driving input in `driving`) or of a CSV file, rendered into `outdir`, with the
    summary written to outdir/batch_summary.csv. Everything that would fail every pair
    is checked before the output folder is made. Other arguments as for `run_batch`."""
    from .presets import load_settings

    if pairs_csv is not None and (subjects is not None or driving is not None):
        raise VunetError(None, "give either --pairs CSV or --subjects and --driving folders, not both")
    if pairs_csv is None and (subjects is None or driving is None):
        raise VunetError(None, "give --subjects and --driving folders, or a --pairs CSV")
    export = load_settings(preset, overrides).output.export
    todo = pairs_from_csv(pairs_csv, outdir, export) if pairs_csv is not None else \
        pairs_from_folders(subjects, driving, outdir, export)
    check_run(weights, preset, overrides)
    outdir = prepare_outdir(outdir)
    results = run_batch(todo, weights=weights, preset=preset, overrides=overrides, jobs=jobs, overwrite=overwrite,
                        fps=fps, on_result=on_result, on_start=on_start)
    write_summary(results, outdir / SUMMARY_NAME)
    return results


_DIED = "worker process died while rendering it (crash or out of memory)"


def _run_parallel(pairs: list[Pair], order: list[int], args: tuple, jobs: int, start: Callable[[int], bool],
                  finish: Callable[[int, PairResult], None]) -> None:
    """Render `order` in worker processes. When a worker dies, the pool fails every pair in
    flight; those are run again one at a time, so only the pair that kills a worker on
    its own is reported as failed."""
    queue, suspects = deque(order), deque()
    while queue or suspects:
        alone = bool(suspects)
        lost = _run_pool(pairs, suspects if alone else queue, args, 1 if alone else jobs, start, finish)
        if alone or len(lost) == 1:
            for i in lost:
                finish(i, PairResult(pairs[i], "failed", error=_DIED))
        else:
            suspects.extend(lost)


def _run_pool(pairs: list[Pair], source: deque, args: tuple, jobs: int, start: Callable[[int], bool],
              finish: Callable[[int, PairResult], None]) -> list[int]:
    """Take pairs from `source` into a pool of `jobs` workers until it is empty or a worker
    dies; returns the pairs that were in flight when one died. start(i) is called as pair
    i is handed out and gives its overwrite flag."""
    import multiprocessing

    # spawn, not fork: torch, OpenCV and MediaPipe start thread pools that a forked child
    # inherits in a broken state.
    context = multiprocessing.get_context("spawn")
    threads = max(1, _usable_cores() // jobs)
    pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_process, initargs=(args, threads))
    running: dict = {}
    lost: list[int] = []
    try:
        while source or running:
            # Only `jobs` pairs in flight: the next pair goes to whichever worker frees up
            # first, and a dying worker takes only the pairs in flight with it.
            while source and len(running) < jobs and not lost:
                i = source.popleft()
                running[pool.submit(_run_in_process, pairs[i], start(i))] = i
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                i = running.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:
                    lost.append(i)
                    continue
                if result.fatal:
                    raise VunetError(None, result.error)
                finish(i, result)
            if lost and not running:
                break
    except BaseException:
        # Ctrl-C, SIGTERM, a fatal error: stop the workers too, mid-pair (SIGTERM makes them
        # delete their partial files, see _worker_sigterm), and wait until they have.
        workers = list((getattr(pool, "_processes", None) or {}).values())
        for process in workers:
            if process.is_alive():
                process.terminate()
        for process in workers:
            process.join(timeout=60)
        pool.shutdown(wait=True, cancel_futures=True)  # also releases the pool's queues and locks
        raise
    pool.shutdown(wait=True)
    return sorted(lost)


# ----------------------------------------------------------------------------- the summary

def counts(results: list[PairResult]) -> dict[str, int]:
    out = {"ok": 0, "skipped": 0, "failed": 0}
    for r in results:
        out[r.status] += 1
    return out


def format_summary(results: list[PairResult]) -> str:
    """A plain-text table: pair, status, frames, seconds, output (or the error)."""
    rows = [("pair", "status", "frames", "seconds", "output / error")]
    for r in results:
        rows.append((r.pair.name, r.status, "" if r.frames is None else str(r.frames),
                     f"{r.seconds:.1f}" if r.status != "skipped" else "",
                     r.error if r.status == "failed" else str(r.pair.output)))
    widths = [max(len(row[c]) for row in rows) for c in range(4)]
    lines = []
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].rjust(widths[2]),
                 row[3].rjust(widths[3]), row[4]]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * len(row[4]))
    c = counts(results)
    lines.append(f"{len(results)} pair(s): {c['ok']} ok, {c['skipped']} skipped, {c['failed']} failed")
    return "\n".join(lines)


def write_summary(results: list[PairResult], path: str | Path) -> Path:
    """Write the results as CSV (SUMMARY_COLUMNS), atomically; replaces an earlier summary."""
    path = Path(path)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SUMMARY_COLUMNS)
    for r in results:
        w.writerow([r.pair.subject, r.pair.driving, r.pair.output, r.status,
                    "" if r.frames is None else r.frames, f"{r.seconds:.2f}", r.error, "; ".join(r.notes)])
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8", newline="")
    return path


def prepare_outdir(outdir: str | Path) -> Path:
    """The output folder, created when missing."""
    outdir = Path(outdir).expanduser()
    if outdir.exists() and not outdir.is_dir():
        raise VunetError(outdir, "output folder is a file")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise VunetError(outdir, f"cannot create output folder ({e.strerror or e})") from None
    if not os.access(outdir, os.W_OK | os.X_OK):
        raise VunetError(outdir, "output folder is not writable")
    return outdir


def progress_line(result: PairResult, done: int, total: int) -> str:
    """One line per finished pair, for the progress printed while a batch runs."""
    width = len(str(total))
    head = f"[{done:>{width}}/{total}] {result.status:<7} {result.pair.name}"
    if result.status == "failed":
        return f"{head}: {result.error}"
    if result.status == "skipped":
        return f"{head}: {result.pair.output} exists"
    return f"{head}: {result.frames} frames in {result.seconds:.1f} s -> {result.pair.output}"


def print_trace(result: PairResult) -> None:
    """Print the traceback of an unexpected failure (a bug) to stderr."""
    if result.trace:
        print(f"internal error in {result.pair.name}:\n{result.trace}", file=sys.stderr)
