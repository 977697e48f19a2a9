"""The export registry: every kind of output `animate` can write, described once.

The sink (`video/sink.py`), batch mode (output names, skipping finished outputs, counting
their frames), settings validation (the choices of `output.export`, which exports carry
alpha) and the CLI's help all read this table. Adding an export is one `ExportFormat`
(usually with a writer class in its own file) plus one line in `EXPORTS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

from ..files import POSE_SUFFIXES, PRORES_SUFFIXES, VIDEO_OUTPUT_SUFFIXES


@dataclass(frozen=True)
class ExportFormat:
    name: str
    description: str                       # one line, for help texts
    codec: str                             # what it is written as, for messages
    suffix: str                            # of a default output name ("" for a folder)
    suffixes: tuple[str, ...] = ()         # accepted output suffixes (files only)
    folder: bool = False                   # written as a folder of files
    alpha: bool = False                    # can carry the person's matte as transparency
    frames: bool = True                    # renders frames (False: keypoints only, no model)
    # open(path, rate, audio_from, audio_start, overwrite, crf, x264_preset) -> writer with
    # write(image), close(), abort(); None for an export the pipeline writes itself.
    open: Callable | None = None
    count_frames: Callable[[Path], int | None] | None = None  # of a finished output

    def exists(self, path: Path) -> bool:
        """Whether a finished output is at `path` (a folder export: a non-empty folder)."""
        if self.folder:
            return path.is_dir() and any(path.iterdir())
        return path.exists()


def _open_video(path, rate: Fraction, *, audio_from, audio_start, overwrite, crf, x264_preset):
    from .writer import VideoWriter

    return VideoWriter(path, rate, audio_from=audio_from, audio_start=audio_start, overwrite=overwrite,
                       crf=crf, preset=x264_preset)


def _open_prores(path, rate: Fraction, *, audio_from, audio_start, overwrite, crf, x264_preset):
    from .exports import ProResWriter

    return ProResWriter(path, rate, audio_from=audio_from, audio_start=audio_start, overwrite=overwrite)


def _open_png(path, rate: Fraction, *, audio_from, audio_start, overwrite, crf, x264_preset):
    from .exports import PngSequenceWriter

    return PngSequenceWriter(path, overwrite=overwrite)


def _video_frames(path: Path) -> int | None:
    from .reader import probe

    return probe(path).frame_count


def _png_frames(path: Path) -> int | None:
    return sum(1 for p in path.iterdir() if p.suffix.lower() == ".png")


EXPORTS: dict[str, ExportFormat] = {f.name: f for f in (
    ExportFormat("video", "H.264 .mp4 with the driving clip's sound", "H.264", ".mp4", VIDEO_OUTPUT_SUFFIXES,
                 open=_open_video, count_frames=_video_frames),
    ExportFormat("png", "RGBA PNG sequence in a folder", "PNG", "", folder=True, alpha=True,
                 open=_open_png, count_frames=_png_frames),
    ExportFormat("prores", "ProRes 4444 .mov with alpha and sound", "ProRes 4444", ".mov", PRORES_SUFFIXES, alpha=True,
                 open=_open_prores, count_frames=_video_frames),
    ExportFormat("keypoints", ".json of the retargeted poses, no rendering", "pose JSON", ".json", POSE_SUFFIXES,
                 frames=False),
)}


def export_format(name: str) -> ExportFormat:
    """The registered export called `name` (settings validation has checked it exists)."""
    return EXPORTS[name]


def alpha_exports() -> tuple[str, ...]:
    return tuple(name for name, f in EXPORTS.items() if f.alpha)
