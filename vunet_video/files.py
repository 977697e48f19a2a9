"""Files in and out: what each kind of file is called, and writing outputs all or nothing.

Every output the project writes (videos, image sequences, images, pose JSON, weights,
checkpoints, summaries) goes through `atomic_output` (or, for a folder of frames,
`PngSequenceWriter`, which follows the same rules): the data goes to a hidden
`.<stem>.partial<suffix>` beside the target, in the same folder so the final rename is
atomic, and is renamed over the target only when it is complete. A failure deletes the
partial file and leaves any existing output as it was; an existing output is only
replaced when `overwrite` is asked for. Finished files get a normal file's mode
(0666 minus the umask), even where the library that wrote them made them private.

The suffix tables here are the only ones: inputs are recognised by them and outputs are
checked against the export registry (`video/formats.py`), which uses them.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import VunetError

# Inputs, by what they hold (lower-case suffixes).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts", ".m2ts", ".mpg", ".mpeg",
                  ".wmv", ".flv", ".3gp")
POSE_SUFFIXES = (".json",)

# Outputs: images and pose JSON take the input tables above; videos are narrower, being
# the containers the encoders' streams can go into.
VIDEO_OUTPUT_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv")  # H.264 (VideoWriter)
PRORES_SUFFIXES = (".mov",)  # ProRes 4444 with alpha (ProResWriter)

# The one wording for an output that is already there, so callers never match on text.
EXISTS = "already exists (use --overwrite to replace it)"
# ... and for one that turned up while ours was being written.
APPEARED = "appeared while writing; use --overwrite to replace it"


def is_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def is_pose_file(path: str | Path) -> bool:
    """A pose JSON file, or a folder (of OpenPose per-frame JSON files)."""
    path = Path(path)
    return path.is_dir() or path.suffix.lower() in POSE_SUFFIXES


def check_output_folder(folder: str | Path) -> None:
    """VunetError unless `folder` exists, is a folder, and can be written to."""
    folder = Path(folder) if str(folder) else Path(".")
    if not folder.exists():
        raise VunetError(folder, "output folder does not exist")
    if not folder.is_dir():
        raise VunetError(folder, "output folder is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise VunetError(folder, "output folder is not writable")
    # access() says yes to root anywhere, and to folders on file systems that take no files
    # (/proc, some network mounts): create a file to know before any work. A nameless one
    # (O_TMPFILE, where the file system has it), so a process killed here leaves nothing.
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".vunet-write-test-"):
            pass
    except OSError as e:
        raise VunetError(folder, f"output folder is not writable ({e.strerror or e})") from None


def name_max(folder: str | Path) -> int:
    """The longest file name (in bytes) the file system of `folder` takes; 255 when it
    does not say (or the folder is not there)."""
    try:
        limit = os.pathconf(Path(folder) if str(folder) else Path("."), "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255
    return limit if limit and limit > 0 else 255


def check_name_length(path: Path, partial_name: str) -> None:
    """VunetError when `path`'s name, or the temporary name it is written under, is longer
    than its folder's file system allows (it would fail only once the output is written)."""
    limit = name_max(path.parent)
    longest = max(len(os.fsencode(path.name)), len(os.fsencode(partial_name)))
    if longest > limit:
        raise VunetError(path, f"file name too long for the file system: {longest} bytes as the temporary "
                               f".<name>.partial it is first written under, at most {limit}; give a shorter name")


def check_output_path(path: str | Path, overwrite: bool = False, suffixes: tuple[str, ...] | None = None) -> Path:
    """An output file path that can be written: the right suffix, a name the file system
    takes, not a folder, not an existing file (unless overwrite), in a writable folder.
    VunetError otherwise, before any work is done."""
    p = Path(path)
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise VunetError(p, f"unsupported output extension {p.suffix or '(none)'}; use one of {', '.join(suffixes)}")
    if p.name:  # first: asking whether a too-long name exists is itself an OSError
        check_name_length(p, partial_path(p).name)
    if p.is_dir():
        raise VunetError(p, "is a folder; give a file name for the output")
    if p.exists() and not overwrite:
        raise VunetError(p, EXISTS)
    check_output_folder(p.parent)
    return p


def refuse_overwriting_inputs(output: str | Path | None, *inputs: str | Path | None) -> None:
    """VunetError when `output` is (the same file or folder as) one of `inputs`, which
    --overwrite would otherwise replace with the result; None entries are skipped."""
    if output is None:
        return
    out = Path(output)
    for given in inputs:
        if given is None:
            continue
        inp = Path(given)
        try:
            same = os.path.samefile(out, inp)
        except OSError:  # one of them is not there (or not reachable): compare the names
            same = out.resolve() == inp.resolve()
        if same:
            raise VunetError(out, f"is also an input ({inp}); choose another output name")


def partial_path(path: Path) -> Path:
    """The temporary name an output is written under: hidden, beside the target, with the
    target's suffix (encoders and muxers choose their format by it)."""
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def remove_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def give_normal_mode(path: Path) -> None:
    """0666 minus the umask: what `open()` would have given (mkstemp and safetensors make
    files private)."""
    os.chmod(path, 0o666 & ~_umask())


def publish(tmp: Path, path: Path, overwrite: bool) -> None:
    """Move a finished temporary file over `path` (with a normal mode).

    Without overwrite the move is a hard link, which fails atomically if `path` appeared
    meanwhile (another run writing the same output), so a file is never replaced unasked
    even in a race; file systems without hard links fall back to check-then-rename."""
    give_normal_mode(tmp)
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise VunetError(path, APPEARED) from None
    except OSError:  # no hard links here
        if path.exists():
            raise VunetError(path, APPEARED) from None
        os.rename(tmp, path)
    else:
        remove_quietly(tmp)


@contextlib.contextmanager
def atomic_output(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Write an output file all or nothing:

        with atomic_output("out.json", overwrite) as tmp:
            tmp.write_text(...)          # or any library writing to str(tmp)

    On success the file at `tmp` is renamed to `path`; if the block raises, `tmp` is
    deleted and `path` is left as it was. OS errors become one-line VunetErrors.
    """
    path = Path(path)
    if path.is_dir():  # checked first, as check_output_path does: replacing it would fail at the end
        raise VunetError(path, "is a folder; give a file name for the output")
    if path.exists() and not overwrite:
        raise VunetError(path, EXISTS)
    tmp = partial_path(path)
    try:
        yield tmp
        publish(tmp, path, overwrite)
    except OSError as e:
        raise VunetError(path, f"writing failed ({e.strerror or e})") from None
    finally:
        remove_quietly(tmp)
