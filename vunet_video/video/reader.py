"""Reading photos and driving videos as upright RGB frames, one at a time.

Two video backends; PyAV is the default:
- PyAV (libav bundled in its wheel) decodes one frame per request. It reports the
  display-matrix rotation per frame (`VideoFrame.rotation`, counter-clockwise degrees,
  libavutil `av_display_rotation_get`), gives real timestamps and lets us skip damaged
  packets.
- decord, on request (`backend="decord"`), decodes sequentially with little Python
  overhead. It is not the default because its decoder runs ahead of a slow consumer and
  keeps what it decoded: inside `animate` (about 8 frames/s) a 1,500-frame 750x1101 clip
  grew the process to 3.9 GiB within 60 frames, against a flat 0.6 GiB with PyAV on the
  same file (decord 0.6; `num_threads=1` did not help). It also ignores the display matrix
  of portrait phone clips (dmlc/decord#24), has been reported to return wrong frames on
  clips with irregular timestamps (dmlc/decord#54) and fails on truncated files and at the
  end of MPEG-TS files; for those files it is refused or avoided.

Memory never grows with the video's length: both backends decode one frame at a time and
the reader never keeps frames it has handed out.

Damaged files: a truncated or partly corrupt video yields every frame that decodes and
then stops cleanly (a warning is logged on the `vunet_video.video` logger with the count);
if not a single frame decodes, `probe` and `VideoReader` raise VunetError.
"""

from __future__ import annotations

import logging
import math
import os
import weakref
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from ..errors import VunetError, require_file

log = logging.getLogger("vunet_video.video")

BACKENDS = ("auto", "decord", "pyav")

# libavformat demuxers that read single still images (a JPEG or PNG opens as a one-frame
# "video" through these); a photo passed where a video belongs must be refused.
_IMAGE_DEMUXERS = ("image2", "_pipe")
# Containers whose index lists every sample with its byte position (ISO BMFF), which
# lets us count frames and spot a truncated file without decoding.
_MP4_FAMILY = "mov,mp4"
# Beyond this size a container without a frame count is not read end to end just to
# count packets; the count is estimated from duration * fps instead.
_COUNT_BY_DEMUX_MAX_BYTES = 2 << 30


# Limits on driving videos, checked from the stream's header before a frame is decoded (a
# small file can declare a huge picture; the decoder allocates what it declares). Frame
# size: 8192 x 8192 pixels, beyond 8K UHD and the largest output (render.size 8192); one
# RGB frame is then at most 200 MB. Duration: 3 hours; memory does not grow with it (frames
# are streamed), but the render time does, at a few frames per second. Raise them with
# the environment variables (0 = no limit) or VideoReader(max_pixels=..., max_seconds=...).
MAX_VIDEO_PIXELS = 8192 * 8192
MAX_VIDEO_PIXELS_ENV = "VUNET_MAX_VIDEO_PIXELS"
MAX_VIDEO_SECONDS = 3 * 3600
MAX_VIDEO_SECONDS_ENV = "VUNET_MAX_VIDEO_SECONDS"


def _limit(env: str, default: float, given: float | None) -> float:
    """The limit in force: `given`, else $env if set, else `default` (0 = no limit)."""
    if given is not None:
        return given
    text = os.environ.get(env, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value >= 0 and math.isfinite(value)):
        raise VunetError(None, f"{env}={text!r}: give a number >= 0 (0 = no limit)")
    return value


def check_video_limits(p: Path, width: int, height: int, duration: float | None,
                       max_pixels: float | None = None, max_seconds: float | None = None) -> None:
    """VunetError when a video's declared frame size or duration is over the limits in
    force (None: the environment variable, else the default; 0: no limit)."""
    pixels = _limit(MAX_VIDEO_PIXELS_ENV, MAX_VIDEO_PIXELS, max_pixels)
    if pixels and width * height > pixels:
        raise VunetError(p, f"video frames are {width}x{height} ({width * height / 1e6:.0f} megapixels), over the "
                            f"limit of {pixels / 1e6:g} megapixels; set {MAX_VIDEO_PIXELS_ENV} to raise it")
    seconds = _limit(MAX_VIDEO_SECONDS_ENV, MAX_VIDEO_SECONDS, max_seconds)
    if seconds and duration and duration > seconds:
        raise VunetError(p, f"video is {duration:.0f} s long, over the limit of {seconds:g} s; "
                            f"set {MAX_VIDEO_SECONDS_ENV} to raise it (or cut it with --start/--end)")


# --------------------------------------------------------------------------- probing


@dataclass(frozen=True)
class VideoInfo:
    """What a video is, read from its container and its first decoded frame.

    width/height are those of the upright picture (after `rotation`). `rotation` is how
    many degrees counter-clockwise the stored picture is turned to show it upright (0, 90,
    180 or 270; libav's display-matrix convention). `fps` is a float for display; `rate` is
    the same frame rate as an exact Fraction, to hand to VideoWriter. For a
    variable-frame-rate video (`variable_fps`) both are the average rate. `frame_count` is
    exact unless `frame_count_exact` is False (container without a count, estimated from
    duration * fps, or a truncated file where it counts the frames whose data is present).
    """

    path: Path
    width: int
    height: int
    fps: float
    frame_count: int
    duration: float
    rotation: int
    has_audio: bool
    codec: str
    rate: Fraction = Fraction(0)
    variable_fps: bool = False
    frame_count_exact: bool = True
    truncated: bool = False
    container: str = ""


def _open_container(p: Path) -> av.container.InputContainer:
    try:
        return av.open(str(p), mode="r")
    except av.error.EOFError:
        raise VunetError(p, "the file ends before its first frame (empty or cut-short video)") from None
    except av.error.FFmpegError as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise VunetError(p, f"not a video file or unreadable ({reason})") from None


def _video_stream(p: Path, container) -> av.video.stream.VideoStream:
    fmt = container.format.name
    if fmt == "image2" or any(fmt.endswith(s) for s in _IMAGE_DEMUXERS):
        raise VunetError(p, "is a still image, not a video")
    if not container.streams.video:
        raise VunetError(p, "has no video stream (empty or audio-only file)")
    vs = container.streams.video[0]
    if vs.codec_context is None:
        raise VunetError(p, "its video codec cannot be decoded")
    return vs


def _decode_tolerant(p: Path, container, vs) -> Iterator[av.VideoFrame]:
    """Decode `vs` packet by packet, skipping packets that fail and stopping at a damaged end.

    libav raises on a packet cut short by truncation (InvalidDataError from
    avcodec_send_packet) and on demuxing past the end of a cut file; both end the stream
    here instead of the caller's loop. Packets that are there but of which not one
    decodes make a VunetError (a damaged file, not an empty one: callers would otherwise
    take it for a clip with nobody in it); a file without packets just yields nothing.
    """
    bad = 0
    decoded = 0
    damaged_end = False
    packets = container.demux(vs)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.error.FFmpegError as e:
            log.warning("%s: stopped reading at a damaged part of the file (%s)", p, e)
            damaged_end = True
            break
        try:
            frames = vs.decode(packet)  # the demuxer's last, empty packet flushes the decoder
        except av.error.EOFError:
            break
        except av.error.FFmpegError:
            bad += 1
            continue
        decoded += len(frames)
        yield from frames
    if damaged_end:
        # The demuxer gave up before its flush packet: drain frames the decoder still
        # holds for reordering or threading.
        try:
            for frame in vs.decode(None):
                decoded += 1
                yield frame
        except av.error.FFmpegError:
            pass
    if not decoded and (bad or damaged_end):
        raise VunetError(p, f"no frame could be decoded (damaged or truncated {vs.codec_context.name} video"
                            + (f"; {bad} damaged packet(s))" if bad else ")"))
    if bad:
        log.warning("%s: skipped %d damaged packet(s) that could not be decoded", p, bad)


def _rotation(frame: av.VideoFrame, vs) -> int:
    """Counter-clockwise degrees (0/90/180/270) to turn the stored picture upright."""
    degrees = frame.rotation  # display matrix side data, copied to each frame by libavcodec
    if not degrees:
        # Old muxers wrote a clockwise `rotate` tag instead of (or besides) the matrix.
        tag = vs.metadata.get("rotate")
        try:
            degrees = -float(tag) if tag is not None else 0
        except ValueError:
            degrees = 0
    quarter = round(degrees / 90)
    if abs(degrees - quarter * 90) > 1:
        log.warning("rotation of %s degrees rounded to %d", degrees, quarter * 90 % 360)
    return quarter % 4 * 90


def _frame_rate(container, vs) -> tuple[Fraction, bool]:
    """(rate, variable) from the sample table where there is one, else from libav's rates."""
    avg, base = vs.average_rate, vs.base_rate or vs.guessed_rate
    variable = False
    if _MP4_FAMILY in container.format.name and len(vs.index_entries) >= 3:
        dts = np.fromiter((e.timestamp for e in vs.index_entries), dtype=np.int64)
        steps = np.diff(dts)
        variable = bool(steps.size and steps.min() != steps.max())
    elif avg and base:
        # r_frame_rate (the finest rate that fits all timestamps) differs from the
        # average exactly when frames are not evenly spaced.
        variable = abs(float(avg) / float(base) - 1) > 0.01
    if variable:
        rate = avg or base
    else:
        rate = base or avg
    return (Fraction(rate) if rate else Fraction(0)), variable


def _frame_count(p: Path, container, vs, rate: Fraction, duration: float):
    """(count, exact, truncated)."""
    size = p.stat().st_size
    if _MP4_FAMILY in container.format.name and len(vs.index_entries):
        entries = vs.index_entries
        present = sum(1 for e in entries if e.pos + e.size <= size)
        if present < len(entries):
            return present, False, True
        return (vs.frames or len(entries)), True, False
    if vs.frames:
        return vs.frames, True, False
    if size <= _COUNT_BY_DEMUX_MAX_BYTES:
        counter = _open_container(p)
        try:
            n = 0
            for packet in counter.demux(counter.streams.video[0]):
                n += packet.size > 0
            return n, True, False
        except av.error.FFmpegError:
            pass  # damaged somewhere: fall back to the estimate
        finally:
            counter.close()
    return max(1, round(duration * float(rate))), False, False


def _has_packets(p: Path) -> bool:
    container = _open_container(p)
    try:
        return any(packet.size for packet in container.demux(container.streams.video[0]))
    except av.error.FFmpegError:
        return True  # there is data, it is just damaged
    finally:
        container.close()


def _declared_duration(container, vs) -> float | None:
    if vs.duration:
        return float(vs.duration * vs.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _probe(p: Path, max_pixels: float | None = None, max_seconds: float | None = None) -> VideoInfo:
    container = _open_container(p)
    try:
        vs = _video_stream(p, container)
        # From the stream's header, before the first frame is decoded.
        check_video_limits(p, vs.codec_context.width or 0, vs.codec_context.height or 0,
                           _declared_duration(container, vs), max_pixels, max_seconds)
        first = next(_decode_tolerant(p, container, vs), None)
        if first is None:
            if not _has_packets(p):
                raise VunetError(p, "the video has no frames")
            raise VunetError(p, f"no frame could be decoded (damaged or truncated {vs.codec_context.name} video)")
        rotation = _rotation(first, vs)
        rate, variable = _frame_rate(container, vs)
        if vs.duration:
            duration = float(vs.duration * vs.time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = 0.0
        count, exact, truncated = _frame_count(p, container, vs, rate, duration)
        # Containers without a frame count (Matroska, MPEG-TS) state a duration that a
        # cut-short file no longer has; a constant-rate count is the better measure there.
        from_header = vs.frames > 0 or _MP4_FAMILY in container.format.name
        if rate and (truncated or not duration or (exact and not from_header and not variable)):
            duration = count / float(rate)
        w, h = first.width, first.height
        if rotation in (90, 270):
            w, h = h, w
        return VideoInfo(
            path=p,
            width=w,
            height=h,
            fps=float(rate),
            frame_count=int(count),
            duration=duration,
            rotation=rotation,
            has_audio=bool(container.streams.audio),
            codec=vs.codec_context.name,
            rate=rate,
            variable_fps=variable,
            frame_count_exact=exact,
            truncated=truncated,
            container=container.format.name,
        )
    except av.error.FFmpegError as e:
        raise VunetError(p, f"unreadable video ({getattr(e, 'strerror', None) or e})") from None
    finally:
        container.close()


def probe(path: str | Path, *, max_pixels: float | None = None, max_seconds: float | None = None) -> VideoInfo:
    """Describe a video file; VunetError if it is missing, not a video, empty or undecodable,
    or over the frame size / duration limits (see check_video_limits)."""
    return _probe(require_file(path), max_pixels, max_seconds)


# --------------------------------------------------------------------------- reading


class Frame:
    """One decoded frame: source frame number, seconds from the stream's start, upright RGB.

    `image` is converted from the decoder's picture when first read, so a caller that never
    looks at a frame's pixels (the pose stage between the frames it poses) does not pay for
    the conversion: 1.6 ms for a 1080x1920 frame, 0.7 ms at 1280x720 (measured here).
    (Converting to a smaller size in the same step was slower: swscale's scaling path took
    2.7-3.2 ms at a 960 px longer side, and MediaPipe's time does not depend on the input's size.)"""

    __slots__ = ("index", "time", "_image", "_make")

    def __init__(self, index: int, time: float, image: np.ndarray | None = None, make=None):
        if image is None and make is None:
            raise ValueError("Frame needs an image or a way to make it")
        self.index, self.time, self._image, self._make = index, time, image, make

    @property
    def image(self) -> np.ndarray:
        if self._image is None:
            self._image, self._make = self._make(), None
        return self._image

    def __repr__(self) -> str:
        return f"Frame(index={self.index}, time={self.time:.3f})"


def _picture(frame: av.VideoFrame, rotation: int) -> np.ndarray:
    """A decoded frame as upright RGB."""
    return _upright(frame.to_ndarray(format="rgb24"), rotation)


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
    if rotation == 0:
        return image
    # np.rot90 turns counter-clockwise for k > 0, the display matrix's convention.
    return np.ascontiguousarray(np.rot90(image, k=rotation // 90))


def _decord_module():
    try:
        import decord
    except Exception:  # not installed, or no wheel for this platform
        return None
    return decord


class VideoReader:
    """Iterate over a video's frames as `Frame`s (upright RGB uint8), one at a time.

    backend: "auto" (= PyAV), "decord" or "pyav". The name
    actually used is in `.backend`. max_pixels / max_seconds: limits on the frame size and
    on the duration of the selected range (None: the environment's or the defaults, 0: none;
    see check_video_limits). start/end (seconds, source timeline) select frames with
    start <= time < end; `index` and `time` stay those of the source. Iterating again
    starts a new pass. Use as a context manager or call close() to stop early.
    deblock=False: PyAV skips the codec's in-loop deblocking filter (FFmpeg's
    skip_loop_filter), for frames that are only analysed, never shown or scored: the
    driving clip's, which only the pose estimator sees (see DrivingSource).
    """

    def __init__(
        self,
        path: str | Path,
        backend: str = "auto",
        start: float | None = None,
        end: float | None = None,
        *,
        max_pixels: float | None = None,
        max_seconds: float | None = None,
        deblock: bool = True,
    ):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
        self.path = require_file(path)
        self.info = _probe(self.path, max_pixels, max_seconds=0)  # the duration: of the range, below
        self.start = None if start is None else float(start)
        self.end = None if end is None else float(end)
        span = min(self.end or math.inf, self.info.duration) - (self.start or 0.0)
        check_video_limits(self.path, 0, 0, span if math.isfinite(span) else None, 0, max_seconds)
        if self.start is not None and self.start < 0:
            raise VunetError(self.path, f"start {self.start:g}s is negative")
        if self.start is not None and self.start >= self.info.duration:
            raise VunetError(self.path, f"start {self.start:g}s is at or past the end of the video ({self.info.duration:.3f}s)")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise VunetError(self.path, f"end {self.end:g}s is not after start {self.start:g}s")
        self._asked_for_decord = backend == "decord"
        self.deblock = deblock
        self.backend = self._choose_backend(backend)
        self._passes: weakref.WeakSet = weakref.WeakSet()

    def _choose_backend(self, wanted: str) -> str:
        info = self.info
        decord = _decord_module()
        if wanted == "pyav":
            return "pyav"
        if wanted == "decord":
            if decord is None:
                raise VunetError(self.path, "backend 'decord' requested but decord is not installed")
            if info.rotation:
                raise VunetError(self.path, f"decord cannot read rotated videos ({info.rotation} degrees); use backend 'pyav' or 'auto'")
            return "decord"
        # auto: PyAV, whose memory stays flat however slowly frames are taken (module docstring).
        return "pyav"

    # -- iteration

    def __iter__(self) -> Iterator[Frame]:
        gen = self._iter_decord() if self.backend == "decord" else self._iter_pyav()
        self._passes.add(gen)
        return gen

    def _in_range(self, t: float) -> int:
        """-1 before the range, 0 inside, 1 after."""
        if self.start is not None and t < self.start - 1e-6:
            return -1
        if self.end is not None and t >= self.end - 1e-6:
            return 1
        return 0

    def _iter_pyav(self, from_index: int | None = None, from_time: float | None = None) -> Iterator[Frame]:
        info = self.info
        container = _open_container(self.path)
        try:
            vs = container.streams.video[0]
            vs.thread_type = "AUTO"  # frame threads: decoding runs in parallel with our work
            if not self.deblock:
                # H.264's deblocking is about a sixth of its decoding. Skipped, the pictures
                # drift from the true ones by about a level until the next key frame.
                vs.codec_context.options = {"skip_loop_filter": "all"}
            tb = vs.time_base
            t0 = vs.start_time or 0
            seek_to = from_time if from_time is not None else self.start
            index = 0
            counted = True  # index counts frames from the source's first frame
            if seek_to and not info.variable_fps and info.rate:
                # Constant rate: seek to the key frame before `seek_to` and number frames
                # by their timestamp. Variable rate: decode from the start and count.
                try:
                    container.seek(int((seek_to / tb) + t0), stream=vs, backward=True, any_frame=False)
                    counted = False
                except av.error.FFmpegError:
                    pass  # not seekable: decode from the start and count
            for frame in _decode_tolerant(self.path, container, vs):
                if frame.pts is not None:
                    t = float((frame.pts - t0) * tb)
                else:
                    t = index / float(info.rate or 1)
                if not counted:
                    index = round(t * info.rate)
                    counted = True
                where = self._in_range(t)
                if from_index is not None and index < from_index:
                    where = -1
                if where < 0:
                    index += 1
                    continue
                if where > 0:
                    break
                yield Frame(index=index, time=t, make=partial(_picture, frame, info.rotation))
                index += 1
        finally:
            container.close()

    def _iter_decord(self) -> Iterator[Frame]:
        decord = _decord_module()
        try:
            vr = decord.VideoReader(str(self.path), ctx=decord.cpu(0))
        except Exception as e:  # DECORDError / RuntimeError on files decord cannot open
            if self._asked_for_decord:
                raise VunetError(self.path, f"decord cannot open this video ({str(e).splitlines()[0][:120]})") from None
            log.info("%s: decord cannot open it (%s); reading with PyAV", self.path, str(e).splitlines()[0][:120])
            self.backend = "pyav"
            yield from self._iter_pyav()
            return
        try:
            n = len(vr)
            if n != self.info.frame_count and self.info.frame_count_exact and not self._asked_for_decord:
                # decord's own index disagrees with the container: trust libav 8 over it.
                log.info("%s: decord counts %d frames, the container %d; reading with PyAV", self.path, n, self.info.frame_count)
                self.backend = "pyav"
                del vr
                vr = None
                yield from self._iter_pyav()
                return
            times = vr.get_frame_timestamp(np.arange(n))[:, 0].astype(np.float64)
            first = 0
            if self.start is not None:
                first = int(np.searchsorted(times, self.start - 1e-6))
                if first > 0:
                    vr.seek_accurate(first)
            for i in range(first, n):
                t = float(times[i])
                if self._in_range(t) > 0:
                    break
                try:
                    image = vr.next().asnumpy()
                except Exception as e:  # decord stops on damaged data: go on with PyAV
                    log.warning("%s: decord failed at frame %d (%s); continuing with PyAV", self.path, i, str(e).splitlines()[0][:120])
                    self.backend = "pyav"
                    del vr
                    vr = None
                    yield from self._iter_pyav(from_index=i, from_time=t)
                    return
                yield Frame(index=i, time=t, image=image)
        finally:
            del vr

    # -- lifetime

    def close(self) -> None:
        """Stop any pass in progress and release its decoder."""
        for gen in list(self._passes):
            gen.close()
        self._passes.clear()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        """Frames in the selected range (exact when info.frame_count_exact, else estimated)."""
        if self.start is None and self.end is None:
            return self.info.frame_count
        rate = float(self.info.rate)
        first = math.ceil((self.start or 0) * rate - 1e-6)
        last = self.info.frame_count if self.end is None else min(self.info.frame_count, math.ceil(self.end * rate - 1e-6))
        return max(0, last - first)
