"""Video in and out: upright RGB frames from photos and driving videos, H.264 with the
driving clip's sound, alpha exports (PNG sequence, ProRes 4444) for editors, the export
registry (formats.py) and the sink that feeds a run's frames to the chosen export."""

from .audio import AudioCopy
from .exports import PngSequenceWriter, ProResWriter
from .formats import EXPORTS, ExportFormat, export_format
from .images import read_image, write_image
from .reader import Frame, VideoInfo, VideoReader, probe
from .sink import OutputSink
from .writer import AtomicOutput, VideoWriter, exact_rate

__all__ = [
    "AtomicOutput",
    "AudioCopy",
    "EXPORTS",
    "ExportFormat",
    "Frame",
    "OutputSink",
    "PngSequenceWriter",
    "ProResWriter",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "exact_rate",
    "export_format",
    "probe",
    "read_image",
    "write_image",
]
