"""An OpenTimelineIO timeline for a render (`--timeline`): the rendered clip (with its
alpha, for ProRes 4444 and PNG) on a video track and the driving clip's sound on an audio
track, frame-accurate to the source timing, so that an editor (DaVinci Resolve and
Premiere through their OTIO import) opens the render without relinking anything.

    render.otio          beside render.mov / render.mp4, or beside the PNG folder
      Video track: one clip, the render (ExternalReference; ImageSequenceReference for PNGs)
      Audio track: one clip, the driving clip's sound from the time of the first rendered
                   frame (--start), as long as the render

Media are referenced by absolute file URLs, as editors expect.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from ..files import atomic_output, check_output_path

SUFFIX = ".otio"


def timeline_path(output: Path) -> Path:
    """Where the timeline of `output` (a file or a PNG folder) goes: beside it."""
    output = Path(output)
    return output.with_name((output.name if output.suffix == "" else output.stem) + SUFFIX)


def sequence_of(pattern: str) -> dict:
    """An image sequence's file-name parts from a PngSequenceWriter pattern ('frame_{:06d}.png')."""
    prefix, rest = pattern.split("{", 1)
    spec, suffix = rest.split("}", 1)
    digits = spec.lstrip(":").rstrip("d")
    return {"prefix": prefix, "suffix": suffix, "padding": int(digits) if digits.isdigit() else 0}


def check_timeline(output: Path, overwrite: bool) -> Path:
    """The timeline's path, checked before any work (VunetError otherwise)."""
    return check_output_path(timeline_path(output), overwrite, (SUFFIX,))


def write_timeline(path: Path, media: Path, rate: Fraction, frames: int, *, sequence: dict | None = None,
                   audio_from: Path | None = None, audio_start: float = 0.0, name: str | None = None,
                   overwrite: bool = False) -> Path:
    """Write the timeline all or nothing.

    media: the rendered file, or the PNG folder with `sequence` = {"prefix", "suffix",
    "padding"} describing its file names (numbered from 0). rate: the exact frame rate;
    frames: how many. audio_from: the file whose sound plays under the render, from
    `audio_start` seconds for the render's duration (None: no audio track).
    """
    import opentimelineio as otio

    fps = float(rate)
    duration = otio.opentime.RationalTime(frames, fps)
    whole = otio.opentime.TimeRange(otio.opentime.RationalTime(0, fps), duration)
    url = Path(media).resolve().as_uri()
    if sequence is not None:
        reference = otio.schema.ImageSequenceReference(
            target_url_base=url.rstrip("/") + "/", name_prefix=sequence["prefix"], name_suffix=sequence["suffix"],
            start_frame=0, frame_step=1, rate=fps, frame_zero_padding=sequence["padding"], available_range=whole)
    else:
        reference = otio.schema.ExternalReference(target_url=url, available_range=whole)
    timeline = otio.schema.Timeline(name=name or Path(media).stem, global_start_time=otio.opentime.RationalTime(0, fps))
    video = otio.schema.Track(name="render", kind=otio.schema.TrackKind.Video)
    video.append(otio.schema.Clip(name=Path(media).name, media_reference=reference, source_range=whole))
    timeline.tracks.append(video)
    if audio_from is not None:
        # The sound's own clock, in the render's frames: --start is a whole number of frames
        # of the driving clip, so the cut falls on the same frame as the render's first.
        start = otio.opentime.RationalTime(round(audio_start * fps), fps)
        sound = otio.schema.Track(name="driving sound", kind=otio.schema.TrackKind.Audio)
        sound.append(otio.schema.Clip(
            name=Path(audio_from).name,
            media_reference=otio.schema.ExternalReference(target_url=Path(audio_from).resolve().as_uri()),
            source_range=otio.opentime.TimeRange(start, duration)))
        timeline.tracks.append(sound)
    with atomic_output(path, overwrite) as tmp:
        otio.adapters.write_to_file(timeline, str(tmp), adapter_name="otio_json")
    return Path(path)
