"""Build a Blender video-editor (VSE) project from a vunet-video render: the person over a
backdrop, with the driving clip's sound, frame-accurate.

    vunet-video animate photo.jpg dance.mp4 --preset editor --timeline     # photo_dance.mov + .otio
    python samples/blender_timeline.py photo_dance.otio -o photo_dance.blend [--backdrop street.jpg]

It reads the OpenTimelineIO file `--timeline` writes (vunet_video/video/timeline.py): the
render (a ProRes 4444 .mov or a PNG sequence, both with alpha) goes to channel 2, blended
"alpha over" a backdrop on channel 1 (a still image, or a plain colour), and the driving
clip's sound to channel 3, cut at the first rendered frame. The scene gets the render's
frame rate, size and length. Needs Blender's Python module (`pip install bpy`, a large
wheel, not a vunet-video dependency) and `opentimelineio` (one).
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path
from urllib.parse import unquote, urlparse


def local(url: str) -> Path:
    return Path(unquote(urlparse(url).path))


def read_timeline(path: Path) -> dict:
    """What the project needs from a vunet-video timeline."""
    import opentimelineio as otio

    timeline = otio.adapters.read_from_file(str(path))
    video = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video][0]
    audio = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Audio]
    clip = list(video)[0]
    ref = clip.media_reference
    rate = clip.source_range.duration.rate
    out = {"rate": rate, "frames": int(round(clip.source_range.duration.value)), "name": timeline.name}
    if isinstance(ref, otio.schema.ImageSequenceReference):
        first = local(ref.target_url_for_image_number(0))
        out["images"] = [local(ref.target_url_for_image_number(i)).name for i in range(out["frames"])]
        out["folder"] = first.parent
    else:
        out["movie"] = local(ref.target_url)
    if audio:
        sound = list(audio[0])[0]
        out["sound"] = local(sound.media_reference.target_url)
        out["sound_start"] = int(round(sound.source_range.start_time.value))  # in frames of `rate`
    return out


def build(timeline: Path, output: Path, backdrop: Path | None = None, colour=(0.1, 0.1, 0.1)) -> dict:
    """Write the .blend; returns what was placed, for messages and tests."""
    import bpy

    info = read_timeline(timeline)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    rate = Fraction(info["rate"]).limit_denominator(1001)
    scene.render.fps, scene.render.fps_base = rate.numerator, rate.denominator
    scene.frame_start, scene.frame_end = 1, info["frames"]
    strips = scene.sequence_editor_create().strips
    if "movie" in info:
        person = strips.new_movie("person", str(info["movie"]), channel=2, frame_start=1)
    else:
        person = strips.new_image("person", str(info["folder"] / info["images"][0]), channel=2, frame_start=1)
        for name in info["images"][1:]:
            person.elements.append(name)
    person.blend_type = "ALPHA_OVER"
    first = person.elements[0]  # the render's size, read from its first frame
    scene.render.resolution_x, scene.render.resolution_y = first.orig_width, first.orig_height
    scene.render.resolution_percentage = 100
    if backdrop is not None:
        back = strips.new_image("backdrop", str(backdrop), channel=1, frame_start=1, fit_method="FILL")
        back.frame_final_duration = info["frames"]
    else:
        back = strips.new_effect("backdrop", type="COLOR", channel=1, frame_start=1, length=info["frames"])
        back.color = colour
    if "sound" in info:
        sound = strips.new_sound("driving sound", str(info["sound"]), channel=3, frame_start=1)
        # The render starts at the driving clip's frame sound_start: the sound is cut there
        # (its first sound_start frames hidden) and ends with the render.
        sound.frame_start = 1 - info["sound_start"]
        sound.frame_offset_start = info["sound_start"]
        sound.frame_final_end = 1 + info["frames"]
    bpy.ops.wm.save_as_mainfile(filepath=str(output))
    return {"frames": info["frames"], "rate": float(rate), "sound": "sound" in info, "strips": len(strips)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("timeline", type=Path, help="the .otio file of a render (vunet-video animate --timeline)")
    ap.add_argument("-o", "--output", type=Path, required=True, help="the .blend to write")
    ap.add_argument("--backdrop", type=Path, help="an image behind the person (default: a dark grey)")
    args = ap.parse_args(argv)
    try:
        import bpy  # noqa: F401
    except ImportError:
        print("error: Blender's Python module is not installed (pip install bpy)", file=sys.stderr)
        return 1
    if not args.timeline.is_file():
        print(f"error: {args.timeline}: no such file", file=sys.stderr)
        return 1
    placed = build(args.timeline, args.output.resolve(), args.backdrop)
    print(f"{args.output}: {placed['frames']} frames at {placed['rate']:g} fps, {placed['strips']} strips"
          + (", with sound" if placed["sound"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
