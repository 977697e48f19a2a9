"""Exports for video editors: the rendered person with transparency.

Editors composite the animated subject over their own footage, so these keep an alpha
channel, which H.264 cannot carry:
- PngSequenceWriter: numbered RGBA PNGs, readable by every editor and compositor.
- ProResWriter: one ProRes 4444 .mov (prores_ks encoder, profile 4444, yuva444p10le),
  the usual intermediate for Final Cut, Premiere, Resolve and After Effects; 4:4:4 so odd
  sizes need no padding, with the driving clip's sound as in VideoWriter.

Both follow the rules of `files.py` (its checks and wording): nothing appears at the
target until close() succeeds, an existing target is only replaced with overwrite=True,
a failure leaves nothing behind, and the files get a normal mode (0666 minus the umask).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import av
import cv2
import numpy as np

from ..errors import VunetError
from ..files import APPEARED, EXISTS, PRORES_SUFFIXES, check_output_folder
from .writer import AtomicOutput, VideoWriter


def _rgba(image, what: str) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"{what}.write takes (H, W, 4) RGBA or (H, W, 3) RGB uint8 arrays, got {image.shape} {image.dtype}")
    if image.shape[2] == 3:  # opaque
        image = np.concatenate([image, np.full(image.shape[:2] + (1,), 255, np.uint8)], axis=2)
    return np.ascontiguousarray(image)


class PngSequenceWriter(AtomicOutput):
    """Write RGBA frames as numbered PNG files into `folder`.

    Frames go to a hidden `.<folder>.partial` folder beside it, renamed into place by
    close(). An existing non-empty `folder` is replaced only with overwrite=True, and only
    if it holds nothing but .png files (a previous export), so a mistyped path cannot
    wipe unrelated files. An existing empty folder is simply used.
    """

    def __init__(self, folder: str | Path, pattern: str = "frame_{:06d}.png", overwrite: bool = False):
        self.folder = Path(folder)
        try:
            names = {pattern.format(0), pattern.format(1)}
        except (IndexError, KeyError, ValueError) as e:
            raise ValueError(f"pattern {pattern!r} must take one integer, like 'frame_{{:06d}}.png' ({e})") from None
        if len(names) != 2 or any(Path(n).name != n or not n.lower().endswith(".png") for n in names):
            raise ValueError(f"pattern {pattern!r} must number plain .png file names, like 'frame_{{:06d}}.png'")
        self.pattern = pattern
        self.overwrite = overwrite
        if self.folder.exists():
            if not self.folder.is_dir():
                raise VunetError(self.folder, "exists and is not a folder")
            if any(self.folder.iterdir()):
                if not overwrite:
                    raise VunetError(self.folder, EXISTS)
                self._check_replaceable()
        check_output_folder(self.folder.parent)
        self._tmp = self.folder.with_name(f".{self.folder.name}.partial")
        self.frames_written = 0
        self.size: tuple[int, int] | None = None
        self._closed = False
        self._started = False

    def _check_replaceable(self) -> None:
        others = [p.name for p in self.folder.iterdir() if not (p.is_file() and p.suffix.lower() == ".png")]
        if others:
            raise VunetError(self.folder, f"holds files other than PNGs ({others[0]}, ...); refusing to replace it")

    def write(self, image: np.ndarray) -> None:
        """Save one frame: (H, W, 4) RGBA or (H, W, 3) RGB uint8; the first frame fixes the size."""
        if self._closed:
            raise ValueError(f"{self.folder}: write() after close()")
        rgba = _rgba(image, type(self).__name__)
        h, w = rgba.shape[:2]
        if self.size is None:
            self.size = (w, h)
        elif (w, h) != self.size:
            raise ValueError(f"frame {self.frames_written} is {w}x{h}; this sequence is {self.size[0]}x{self.size[1]}")
        try:
            if not self._started:
                shutil.rmtree(self._tmp, ignore_errors=True)  # a stale one from a crashed run
                self._tmp.mkdir()
                self._started = True
            name = self._tmp / self.pattern.format(self.frames_written)
            ok, data = cv2.imencode(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
            if not ok:
                raise OSError("PNG encoding failed")
            name.write_bytes(data.tobytes())  # a plain open(): the normal mode, 0666 minus the umask
        except OSError as e:
            self.abort()
            raise VunetError(self.folder, f"writing failed ({e.strerror or e})") from None
        self.frames_written += 1

    def close(self) -> None:
        """Move the finished sequence into place (VunetError, nothing saved, if no frames)."""
        if self._closed:
            return
        if self.frames_written == 0:
            self.abort()
            raise VunetError(self.folder, "no frames were written; nothing saved")
        old = self.folder.with_name(f".{self.folder.name}.old")
        try:
            if self.folder.exists():
                if any(self.folder.iterdir()):
                    if not self.overwrite:
                        raise VunetError(self.folder, APPEARED)
                    self._check_replaceable()
                    shutil.rmtree(old, ignore_errors=True)
                    os.replace(self.folder, old)  # keep it until the new one is in place
                else:
                    self.folder.rmdir()
            os.replace(self._tmp, self.folder)
            shutil.rmtree(old, ignore_errors=True)
        except VunetError:
            self.abort()
            raise
        except OSError as e:
            self.abort()
            if old.exists() and not self.folder.exists():
                os.replace(old, self.folder)  # put the previous export back
            raise VunetError(self.folder, f"could not move the sequence into place ({e.strerror or e})") from None
        self._closed = True

    def abort(self) -> None:
        """Delete the partial folder; the target is left as it was."""
        self._closed = True
        shutil.rmtree(self._tmp, ignore_errors=True)


class ProResWriter(VideoWriter):
    """Encode RGBA frames to ProRes 4444 with alpha in a .mov (same arguments as VideoWriter,
    without crf/preset: ProRes is intra-only at a fixed quality per profile).

    write(image) takes (H, W, 4) RGBA or (H, W, 3) RGB (opaque) uint8.
    """

    suffixes = PRORES_SUFFIXES
    # FFmpeg's prores_aw encoder, with frame threads: 2.9x the speed of prores_ks with its
    # (which in turn were 1.3x its one thread) and 16% smaller files, at 50 dB PSNR colour
    # and 57 dB alpha against the frames given (prores_ks: 57 / 57; both far beyond what an
    # eye or a keyer tells apart; benchmarks/results/stage_settings.md). It was the editor
    # export's bottleneck: ProRes at 17 frames/s held `--preset editor` near 9.
    codec = "prores_aw"
    pix_fmt = "yuva444p10le"
    channels = (3, 4)
    even_size = True  # prores_aw refuses an odd width: the edge column is repeated, as for H.264
    frame_threads = True

    def __init__(self, path, fps, *, audio_from=None, audio_start=0.0, audio_end=None, overwrite=False):
        super().__init__(path, fps, audio_from=audio_from, audio_start=audio_start, audio_end=audio_end, overwrite=overwrite)

    def _stream_options(self) -> dict[str, str]:
        # profile 4 (4444) stores the alpha plane; vendor apl0 is what Apple's encoder
        # writes, which some editors check before trusting the file.
        return {"profile": "4", "vendor": "apl0"}

    def _container_options(self) -> dict[str, str]:
        return {"movflags": "+faststart"}

    def _to_frame(self, image: np.ndarray) -> av.VideoFrame:
        frame = av.VideoFrame.from_ndarray(_rgba(image, type(self).__name__), format="rgba")
        return self._reformatter.reformat(frame, format=self.pix_fmt, dst_colorspace="ITU709", dst_color_range="MPEG")
