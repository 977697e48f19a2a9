"""`OutputSink`: where a run's frames go, for one export of the registry (formats.py).

The sink is checked before any work (a bad or existing output fails in a second, not
after a render), and opens its writer only at the first frame, so that the sound,
when it comes from the driving clip itself, starts exactly at that frame's time.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import VunetError
from ..files import EXISTS, check_name_length, check_output_folder, check_output_path
from .formats import ExportFormat


class OutputSink:
    """Frames in, one export out (nothing at all when `path` is None).

    alpha: the frames' alpha channel is transparency to keep (background 'alpha'); an
    opaque background stays opaque in exports that could carry alpha.
    crf, x264_preset: H.264 settings, for the exports that use them.
    """

    def __init__(self, export: ExportFormat, path: str | Path | None, *, alpha: bool = False,
                 overwrite: bool = False, crf: int = 18, x264_preset: str = "medium"):
        self.export = export
        self.path = None if path is None else Path(path)
        self.alpha, self.overwrite = alpha, overwrite
        self.crf, self.x264_preset = crf, x264_preset
        self.rate: Fraction | None = None
        self.audio_from: Path | None = None
        self.audio_follows_frames = False
        self.writer = None
        self.first_time: float | None = None  # driving-clip time of the first frame written

    def check(self) -> None:
        """VunetError now for an output that could not be written later."""
        if self.path is None:
            return
        if self.export.folder:
            if self.path.name:  # as PngSequenceWriter names its partial folder
                check_name_length(self.path, f".{self.path.name}.partial")
            taken = self.path.exists() and (not self.path.is_dir() or self.export.exists(self.path))
            if taken and not self.overwrite:
                raise VunetError(self.path, EXISTS)
            check_output_folder(self.path.parent)
        else:
            check_output_path(self.path, self.overwrite, self.export.suffixes)

    def set_timing(self, rate: Fraction, audio_from: str | Path | None, audio_follows_frames: bool) -> None:
        """The driving input's frame rate and sound. audio_follows_frames: the sound is the
        driving clip's own, cut from the first rendered frame's time (with --start); a
        separate sound file plays from its beginning."""
        self.rate = rate
        self.audio_from = None if audio_from is None else Path(audio_from)
        self.audio_follows_frames = audio_follows_frames

    def write(self, time: float, rgba: np.ndarray) -> None:
        """One output frame, (H, W, 4) RGBA or (H, W, 3) RGB uint8, shown at `time` seconds
        of the driving clip."""
        if self.path is None:
            return
        if self.writer is None:
            if self.rate is None:
                raise RuntimeError("OutputSink.set_timing() must come before the first write()")
            self.first_time = time
            self.writer = self.export.open(
                self.path, self.rate, audio_from=self.audio_from,
                audio_start=time if self.audio_follows_frames else 0.0,
                overwrite=self.overwrite, crf=self.crf, x264_preset=self.x264_preset)
        if self.export.alpha and not self.alpha:
            rgba = rgba[..., :3]  # an opaque background stays opaque in an export with alpha
        self.writer.write(rgba)  # (H.264 drops the alpha itself)

    def close(self) -> bool:
        """Finish the output; True when it carries sound."""
        if self.writer is None:
            return False
        self.writer.close()
        return bool(getattr(self.writer, "has_audio", False))  # PNG sequences have none

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()
