"""Writing the rendered video: H.264 MP4 with the driving clip's sound, all or nothing.

Why it is built this way:
- PyAV encodes in-process (libx264 and the AAC encoder are in its wheel); there is no
  ffmpeg binary to pipe to, and no frame ever waits in a list: each write() is encoded
  and muxed at once, so memory is flat however long the video.
- The frame rate is kept as an exact fraction (30000/1001, not 29.97) and frame n gets
  pts n in a time base of 1/rate, so every frame lands on its source timestamp and the
  sound stays in sync over long clips.
- Pixels are converted to YUV with the BT.709 matrix (limited range) and the stream is
  tagged BT.709, which is what players assume for HD; an untagged stream converted with
  swscale's default BT.601 matrix shifts colours in browsers and QuickTime.
- libx264 with yuv420p needs even width and height. Odd sizes are PADDED by one row/column
  that repeats the edge pixels (no content is lost; the file is at most 1 px larger).
  `size` gives the encoded size.
- The output is atomic: frames go to `.<name>.partial<ext>` next to the target (same
  folder, so the final rename is atomic on one filesystem) and are renamed over the target
  only when close() succeeds. An exception inside the `with` block, or closing with no
  frames written, deletes the partial file and leaves any existing output untouched.
  The encoder streams into the partial file itself, so this does not use
  `files.atomic_output`'s `with` block, but it takes the same checks, partial name and
  final `files.publish` (normal mode, no clobbering of a file that appeared meanwhile).
"""

from __future__ import annotations

import contextlib
from fractions import Fraction
from pathlib import Path

import av
from av.video.reformatter import VideoReformatter
import cv2
import numpy as np

from ..errors import VunetError
from ..files import VIDEO_OUTPUT_SUFFIXES, check_output_path, partial_path, publish, remove_quietly
from .audio import AudioCopy

# AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic / AVColorRange values
# for BT.709, limited ("MPEG") range, from libavutil/pixfmt.h.
_BT709 = 1
_RANGE_MPEG = 1


def exact_rate(fps: float | Fraction | int) -> Fraction:
    """A frame rate as an exact fraction: 29.97002997 -> 30000/1001, 24 -> 24, Fraction kept."""
    if isinstance(fps, Fraction):
        rate = fps
    else:
        # limit_denominator(1001) recovers the NTSC rates (24000/1001, 30000/1001,
        # 60000/1001) from their float values and leaves integer rates alone.
        rate = Fraction(float(fps)).limit_denominator(1001)
    if rate <= 0:
        raise ValueError(f"fps must be positive, not {fps!r}")
    return rate


class AtomicOutput:
    """Context-manager behaviour shared by every writer: close() (rename into place) on
    success, abort() (delete the partial output) when the block raises."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()


class VideoWriter(AtomicOutput):
    """Encode RGB frames to an H.264 (libx264, yuv420p) video, optionally with sound.

    path: .mp4 (default choice), .m4v, .mov or .mkv. fps: float, int or exact Fraction
    (pass VideoReader.info.rate). audio_from: a file whose first audio stream is copied
    (or transcoded to AAC) trimmed to [audio_start, audio_end) seconds of its video
    timeline, never longer than the video written. A silent audio_from gives a silent video.
    write(image) takes (H, W, 3) uint8 RGB, or (H, W, 4) RGBA whose alpha is dropped (H.264
    has none; taking the frame as it is saves a copy of every frame); the first frame fixes
    the size.
    """

    suffixes: tuple[str, ...] = VIDEO_OUTPUT_SUFFIXES
    codec = "libx264"
    pix_fmt = "yuv420p"
    channels = (3, 4)  # accepted input channel counts
    even_size = True  # yuv420p chroma subsampling needs even dimensions
    frame_threads = False  # FFmpeg's frame threads for a codec that has no threads of its own

    def __init__(
        self,
        path: str | Path,
        fps: float | Fraction,
        *,
        audio_from: str | Path | None = None,
        audio_start: float = 0.0,
        audio_end: float | None = None,
        overwrite: bool = False,
        crf: int = 18,
        preset: str = "medium",
    ):
        self.path = check_output_path(path, overwrite, self.suffixes)
        self.overwrite = overwrite
        self.rate = exact_rate(fps)
        self.crf = crf
        self.preset = preset
        self.frames_written = 0
        self.size: tuple[int, int] | None = None  # (width, height) as encoded
        self.input_size: tuple[int, int] | None = None  # (width, height) of the frames given
        self._audio = AudioCopy(audio_from, audio_start, audio_end) if audio_from is not None else None
        self._tmp = partial_path(self.path)
        self._container = None
        self._stream = None
        self._closed = False
        # One converter for every frame: frame.reformat() sets up a new swscale context per
        # call (1.8 against 1.3 ms per 872x1280 frame on the 2-core dev machine).
        self._reformatter = VideoReformatter()

    # -- codec settings (ProResWriter overrides these)

    def _stream_options(self) -> dict[str, str]:
        return {"crf": str(int(self.crf)), "preset": str(self.preset)}

    def _container_options(self) -> dict[str, str]:
        # moov atom at the front: the file starts playing before it is fully downloaded.
        return {"movflags": "+faststart"} if self.path.suffix.lower() in (".mp4", ".m4v", ".mov") else {}

    def _to_frame(self, image: np.ndarray) -> av.VideoFrame:
        frame = av.VideoFrame.from_ndarray(image, format="rgb24" if image.shape[2] == 3 else "rgba")
        return self._reformatter.reformat(frame, format=self.pix_fmt, dst_colorspace="ITU709", dst_color_range="MPEG")

    # -- writing

    def _check_image(self, image) -> np.ndarray:
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in self.channels:
            wanted = " or ".join(f"(H, W, {c})" for c in self.channels)
            raise ValueError(f"{type(self).__name__}.write takes {wanted} uint8 arrays, got {image.shape} {image.dtype}")
        h, w = image.shape[:2]
        if self.input_size is None:
            if w < 2 or h < 2:
                raise ValueError(f"frame {w}x{h} is too small to encode")
            self.input_size = (w, h)
        elif (w, h) != self.input_size:
            raise ValueError(f"frame {self.frames_written} is {w}x{h}; this video is {self.input_size[0]}x{self.input_size[1]}")
        if self.even_size and (h % 2 or w % 2):
            # (cv2's border copy: about 10x faster than np.pad's edge mode on a 1080p frame)
            image = cv2.copyMakeBorder(np.ascontiguousarray(image), 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
        return np.ascontiguousarray(image)

    def _open(self, width: int, height: int) -> None:
        try:
            self._container = av.open(str(self._tmp), mode="w", options=self._container_options())
        except (OSError, av.error.FFmpegError) as e:
            raise VunetError(self.path, f"cannot create output ({getattr(e, 'strerror', None) or e})") from None
        stream = self._container.add_stream(self.codec, rate=self.rate, options=self._stream_options())
        stream.width, stream.height = width, height
        stream.pix_fmt = self.pix_fmt
        if self.frame_threads:
            stream.codec_context.thread_type, stream.codec_context.thread_count = "AUTO", 0  # 0: one per core
        # Frame n gets pts n in 1/rate: exact timestamps. The stream's own time base is
        # replaced by the muxer's (1/12288 for 24 fps MP4) once the header is written, so
        # frames are stamped with this fixed one, which the encoder context keeps.
        self._time_base = 1 / self.rate
        stream.time_base = self._time_base
        cc = stream.codec_context
        cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = _BT709, _BT709, _BT709, _RANGE_MPEG
        self._stream = stream
        if self._audio is not None:
            self._audio.add_stream(self._container)
        self.size = (width, height)

    def write(self, image: np.ndarray) -> None:
        """Encode one frame (RGB uint8, the size of the first frame)."""
        if self._closed:
            raise ValueError(f"{self.path}: write() after close()")
        image = self._check_image(image)
        with self._abort_on_error():
            if self._container is None:
                self._open(image.shape[1], image.shape[0])
            frame = self._to_frame(image)
            frame.pts = self.frames_written
            frame.time_base = self._time_base
            self._container.mux(self._stream.encode(frame))
            self.frames_written += 1
            if self._audio is not None:
                self._audio.mux_until(self.frames_written / self.rate)

    @contextlib.contextmanager
    def _abort_on_error(self):
        """Any failure drops the partial file; OS and codec errors become one-line VunetErrors."""
        try:
            yield
        except (OSError, av.error.FFmpegError) as e:
            self.abort()
            raise VunetError(self.path, f"writing failed ({getattr(e, 'strerror', None) or e})") from None
        except BaseException:
            self.abort()
            raise

    @property
    def has_audio(self) -> bool:
        """True when the output gets a sound track (audio_from has an audio stream)."""
        return self._audio is not None and self._audio.present

    @property
    def duration(self) -> float:
        """Seconds of video written so far."""
        return float(self.frames_written / self.rate)

    def close(self) -> None:
        """Finish the file and move it into place. With no frames written, nothing is saved
        and VunetError is raised."""
        if self._closed:
            return
        if self.frames_written == 0:
            self.abort()
            raise VunetError(self.path, "no frames were written; nothing saved")
        with self._abort_on_error():
            self._container.mux(self._stream.encode(None))
            if self._audio is not None:
                self._audio.finish(self.duration)
            self._container.close()
            self._container = None
            publish(self._tmp, self.path, self.overwrite)
        self._closed = True

    def abort(self) -> None:
        """Drop what was written: close the encoder, delete the partial file."""
        self._closed = True
        if self._audio is not None:
            self._audio.close()
        if self._container is not None:
            try:
                self._container.close()
            except Exception:
                pass  # the file is being thrown away; a flush error does not matter
            self._container = None
        remove_quietly(self._tmp)

    def __del__(self):
        # Garbage-collected without close(): leave no partial file behind.
        if not getattr(self, "_closed", True) and getattr(self, "_container", None) is not None:
            self.abort()
