"""Carry the driving clip's sound into the rendered video.

The sound is taken from the source file, trimmed to the section of the clip that was
rendered, and muxed while the video is written so that the output is interleaved (audio
next to the frames it belongs to) and memory stays flat.

Packets are copied as they are (no generation loss, no encoder time) when the output
container plays that codec everywhere, which is the usual case: phone and web clips carry
AAC. Anything else (PCM in a .mov or .mkv, Vorbis, ...) is decoded and encoded to AAC.

Trimming precision: copied packets are kept whole, so the sound starts at the first
packet at or after `start` (an AAC packet is 1024 samples, 21-23 ms) and is placed at its
true time, keeping it in sync; transcoded sound starts at the exact sample. The end is
cut at a packet boundary, within one packet of the last video frame (ffmpeg's -shortest)
or of `end`, whichever comes first.

Times are measured on the source's video timeline (0 = its first video frame), the same
timeline as `Frame.time` from VideoReader, so `start`/`end` can be passed straight through.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import VunetError, require_file

# Codecs that MP4/MOV players (browsers, QuickTime, phones, editors) decode.
_COPYABLE_IN_MP4 = {"aac", "mp3", "ac3", "eac3", "alac"}
# Sample rates the AAC encoder accepts (ISO/IEC 14496-3 sampling frequency index table).
_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)


class AudioCopy:
    """Feeds one source's audio, trimmed to [start, end) seconds, into an output container.

    Use: construct (validates the source), `add_stream(container)` before the first
    packet is muxed, `mux_until(t)` as video is written, `finish(video_end)` at the end.
    `present` is False for a silent source, in which case every method does nothing.
    """

    def __init__(self, source: str | Path, start: float = 0.0, end: float | None = None):
        self.path = require_file(source)
        self.start = max(0.0, float(start))
        self.end = None if end is None else float(end)
        if self.end is not None and self.end <= self.start:
            raise VunetError(self.path, f"audio end {self.end:g}s is not after audio start {self.start:g}s")
        try:
            self._src = av.open(str(self.path))
        except av.error.FFmpegError as e:
            raise VunetError(self.path, f"cannot read audio ({getattr(e, 'strerror', None) or e})") from None
        self.present = bool(self._src.streams.audio)
        self._out = None
        self._packets = None
        self._pending = []  # (time, packet) read from the source but not muxed yet
        self._done = not self.present
        self._transcoding = False
        self._hard_end = None  # output seconds; set by finish() to stop the encoder there
        if not self.present:
            self._src.close()
            return
        self._in = self._src.streams.audio[0]
        # 0 on the source's video timeline: where VideoReader's frame times start.
        ref_stream = self._src.streams.video[0] if self._src.streams.video else self._in
        ref = ref_stream.start_time
        self._ref = float(ref * ref_stream.time_base) if ref is not None else 0.0
        self.codec = self._in.codec_context.name if self._in.codec_context else "unknown"

    # -- setup

    def add_stream(self, container) -> None:
        """Create the output audio stream (copy or AAC) in `container`."""
        if not self.present:
            return
        self._out_container = container
        fmt = container.format.name
        copyable = self.codec in (container.supported_codecs if fmt == "matroska" else _COPYABLE_IN_MP4)
        if copyable:
            self._out = container.add_stream_from_template(self._in)
            self._packets = self._copied_packets()
        else:
            if self._in.codec_context is None:
                raise VunetError(self.path, f"cannot decode its {self.codec} audio")
            rate = self._in.rate if self._in.rate in _AAC_RATES else 48000
            # By channel count: a source layout may be unnamed ("1 channels"), which the
            # AAC encoder refuses. More than two channels are downmixed to stereo.
            layout = "mono" if self._in.layout.nb_channels == 1 else "stereo"
            self._out = container.add_stream("aac", rate=rate, layout=layout)
            # 96 kb/s per channel, kept under AAC's ceiling of 6144 bits per 1024-sample
            # frame per channel (6 * rate b/s) that low sample rates would exceed.
            self._out.bit_rate = min(96_000, 5 * rate) * self._out.layout.nb_channels
            self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
            self._transcoding = True
            self._packets = self._transcoded_packets(rate)

    # -- sources of output packets, each as (time in seconds on the output, packet)

    def _copied_packets(self):
        tb = self._in.time_base
        # Source ticks that become output time 0: `start` on the video timeline, which
        # itself begins at the video's first timestamp (0.167 s into a typical MPEG-TS).
        shift = round((self.start + self._ref) / tb)
        for packet in self._demux():
            if packet.pts is None or packet.size == 0:
                continue
            t = float(packet.pts * tb) - self._ref
            # From the start of the stream keep the priming packet (negative time): the
            # AAC decoder needs it and the container's edit list hides it.
            if self.start > 0 and t < self.start - 1e-6:
                continue
            packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            yield t - self.start, packet

    def _transcoded_packets(self, rate: int):
        first = round(self.start * rate)  # sample numbers on the source timeline
        last = None if self.end is None else round(self.end * rate)
        position = None
        for out, source_frame in self._resampled():
            if position is None:
                pts = source_frame.pts if source_frame is not None else None
                t = float(pts * source_frame.time_base) - self._ref if pts is not None else 0.0
                position = round(t * rate)
            samples = out.to_ndarray()
            lo, hi = position, position + samples.shape[1]
            position = hi
            stop = last
            if self._hard_end is not None:
                hard = first + round(self._hard_end * rate)
                stop = hard if stop is None else min(stop, hard)
            if stop is not None and lo >= stop:
                break  # past the end: stop decoding
            keep_lo = max(lo, first)
            keep_hi = hi if stop is None else min(hi, stop)
            if keep_hi <= keep_lo:
                continue
            part = np.ascontiguousarray(samples[:, keep_lo - lo : keep_hi - lo])
            piece = av.AudioFrame.from_ndarray(part, format="fltp", layout=out.layout.name)
            piece.sample_rate = rate
            piece.pts = keep_lo - first
            piece.time_base = Fraction(1, rate)
            for packet in self._out.encode(piece):
                yield self._packet_time(packet), packet
        for packet in self._out.encode(None):
            yield self._packet_time(packet), packet

    @staticmethod
    def _packet_time(packet) -> float:
        # Encoder delay means a packet is not the piece just fed in: use its own stamp.
        return float(packet.pts * packet.time_base) if packet.pts is not None else 0.0

    def _resampled(self):
        for frame in self._decode():
            for out in self._resampler.resample(frame):
                yield out, frame
        for out in self._resampler.resample(None):
            yield out, None

    def _demux(self):
        try:
            yield from self._src.demux(self._in)
        except av.error.FFmpegError:
            return  # damaged end of the source: keep what was read

    def _decode(self):
        for packet in self._demux():
            try:
                yield from self._in.decode(packet)
            except av.error.EOFError:
                return
            except av.error.FFmpegError:
                continue

    # -- muxing

    def mux_until(self, t: float) -> None:
        """Mux every audio packet that starts before `t` seconds of output (within [start, end))."""
        if self._done or self._packets is None:
            return
        limit = t if self.end is None else min(t, self.end - self.start)
        while True:
            if not self._pending:
                item = next(self._packets, None)
                if item is None:
                    self._done = True
                    return
                self._pending.append(item)
            when, packet = self._pending[0]
            if when >= limit - 1e-9:
                return
            self._pending.pop(0)
            self._out_container.mux(packet)

    def finish(self, video_end: float) -> None:
        """Mux what belongs before `video_end` seconds, drain the encoder, release the source."""
        try:
            self._hard_end = video_end
            self.mux_until(video_end)
            if self._transcoding and self._packets is not None:
                # The generator now stops encoding at video_end; mux the rest of it
                # and the encoder's tail.
                limit = video_end if self.end is None else min(video_end, self.end - self.start)
                for when, packet in self._pending + list(self._packets):
                    if when < limit - 1e-9:
                        self._out_container.mux(packet)
                self._pending = []
        finally:
            self.close()

    def close(self) -> None:
        if self.present and self._src is not None:
            self._src.close()
            self._src = None
            self._done = True
