"""Video in and out: upright RGB frames from photos and driving videos, H.264 with the
driving clip's sound, and alpha exports (PNG sequence, ProRes 4444) for editors."""

from .audio import AudioCopy
from .exports import PngSequenceWriter, ProResWriter
from .reader import Frame, VideoInfo, VideoReader, probe, read_image
from .writer import AtomicOutput, VideoWriter, exact_rate

__all__ = [
    "AtomicOutput",
    "AudioCopy",
    "Frame",
    "PngSequenceWriter",
    "ProResWriter",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "exact_rate",
    "probe",
    "read_image",
]
