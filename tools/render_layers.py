"""What one rendered frame is made of: the mesh's moved pixels, the model's paint, and how they join.

    python tools/render_layers.py SUBJECT DRIVING FRAME OUT.png [--set KEY=VALUE ...]

Animates SUBJECT with DRIVING up to frame FRAME (index from 0) with the given settings
(default preset otherwise; `--set model.finetune_steps=0` for the untuned model), over a
green background, and writes a sheet of eight panels over the person's rectangle:

    output | person colour | model colour | mesh coverage
    mesh trust | blend weight | model matte | final matte

"blend weight" is the model's blend head upscaled (black when the head has no say: untuned).
A grey smudge beside the body is in "final matte" but not in "mesh coverage": the model's
matte let through. A grey patch inside the body is in "mesh coverage" with a dark "blend
weight": the head handed the mesh's pixel to the model. Used to find both in 0.3.19 (model card).
The sheet wraps `full_resolution._join` to keep its inputs; nothing else changes.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vunet_video.pipeline import Animator  # noqa: E402
from vunet_video.render import full_resolution  # noqa: E402
from vunet_video.render.compose import crop_to_region  # noqa: E402
from vunet_video.video import probe  # noqa: E402

PANELS = ("output", "person colour", "model colour", "mesh coverage",
          "mesh trust", "blend weight", "model matte", "final matte")


def frame_layers(subject: str, driving: str, frame: int, overrides: dict) -> dict[str, np.ndarray]:
    """The eight panels (RGB uint8, the person's rectangle) of frame `frame`."""
    animator = Animator(**{**overrides, "render.background": "color", "render.color": "#00ff00"})
    encoded = animator.encode_subject(subject)
    kept, frames, calls = {}, {}, [0]
    join = full_resolution._join

    def keep(rgb, alpha, box, region, d, target, weight=None, unseen=(), missing=None):
        # One call per frame, in frame order: only the wanted frame's inputs are kept.
        out = join(rgb, alpha, box, region, d, target, weight, unseen, missing)
        if calls[0] == frame:
            kept["join"] = (rgb, alpha, box, region, d, weight, out)
        calls[0] += 1
        return out

    full_resolution._join = keep
    try:
        fps = probe(driving).fps
        animator.animate(encoded, driving, None, end=(frame + 1.5) / fps,
                         on_frame=lambda i, t, rgba: frames.__setitem__(i, rgba[..., :3].copy()) if i == frame else None)
    finally:
        full_resolution._join = join
    if frame not in frames or "join" not in kept:
        raise SystemExit(f"{driving}: no frame {frame} was rendered")
    rgb, alpha, box, region, d, weight, ((u0, v0), person, matte) = kept["join"]
    h, w = person.shape[:2]

    def on_rect(image, x0, y0):
        canvas = np.zeros((h, w), np.float32)
        ih, iw = image.shape[:2]
        canvas[y0 - v0:y0 - v0 + ih, x0 - u0:x0 - u0 + iw] = image
        return canvas

    def model_part(image):
        canvas = np.zeros((h, w) + image.shape[2:], image.dtype)
        if region is not None:
            x0, y0, x1, y1 = region
            canvas[y0 - v0:y1 - v0, x0 - u0:x1 - u0] = crop_to_region(image, box, region, cv2.INTER_LINEAR)
        return canvas

    def grey(x):
        return cv2.cvtColor((np.clip(x, 0, 1) * 255).astype(np.uint8), cv2.COLOR_GRAY2RGB)

    blend = model_part(weight.astype(np.float32)) if weight is not None else np.zeros((h, w), np.float32)
    images = (frames[frame][v0:v0 + h, u0:u0 + w], person, model_part(rgb), grey(on_rect(d.coverage, d.x0, d.y0)),
              grey(on_rect(d.join_trust, d.x0, d.y0)), grey(blend), grey(model_part(alpha.astype(np.float32))), grey(matte))
    return dict(zip(PANELS, images))


def sheet(panels: dict[str, np.ndarray]) -> np.ndarray:
    tiles = []
    for name, image in panels.items():
        tile = np.ascontiguousarray(image.copy())
        cv2.putText(tile, name, (4, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 0, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    h = min(t.shape[0] for t in tiles)
    tiles = [t[:h] for t in tiles]
    return np.concatenate([np.concatenate(tiles[:4], 1), np.concatenate(tiles[4:], 1)], 0)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("subject")
    ap.add_argument("driving")
    ap.add_argument("frame", type=int)
    ap.add_argument("out", type=Path)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a setting, as animate's --set (e.g. model.finetune_steps=0)")
    args = ap.parse_args(argv)
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        try:  # a TOML value (0, 0.5, true, "photo"); a bare word is a string
            overrides[key] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            overrides[key] = value
    image = sheet(frame_layers(args.subject, args.driving, args.frame, overrides))
    cv2.imwrite(str(args.out), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    print(f"{args.out}: {image.shape[1]}x{image.shape[0]}")


if __name__ == "__main__":
    main()
