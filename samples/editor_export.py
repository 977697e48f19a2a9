"""Example editor script: animate a photo through the Python API and place the frames yourself.

An editor (or any script) does not need vunet-video to write a file: `Animator.animate`
calls `on_frame(index, time, rgba)` for every frame, where rgba is the rendered frame with
the person's matte as alpha. Here each frame's person is composited onto the script's own
backdrop (a picture of your choice or a gradient), shrunk and placed in the lower right
third like a picture-in-picture overlay, and saved as a numbered JPEG in a folder of the
script's own, together with a CSV of the driving frame times for the timeline.

    python samples/editor_export.py PHOTO DRIVING_VIDEO OUT_FOLDER [--backdrop IMAGE]
        [--weights CHECKPOINT] [--start S] [--end S]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from vunet_video import Animator, VunetError


def gradient(height: int, width: int) -> np.ndarray:
    """A dark blue-to-purple backdrop (RGB)."""
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    top, bottom = np.array([20, 30, 70], np.float32), np.array([90, 30, 110], np.float32)
    return np.broadcast_to(top * (1 - t) + bottom * t, (height, width, 3)).astype(np.uint8)


class Overlay:
    """Composites each RGBA frame's person onto a backdrop and saves the result."""

    def __init__(self, backdrop: np.ndarray, folder: Path, scale: float = 0.6):
        self.backdrop, self.folder, self.scale = backdrop, folder, scale
        self.times: list[tuple[int, float]] = []  # (index, time): a few numbers per frame

    def __call__(self, index: int, time: float, rgba: np.ndarray) -> None:
        bh, bw = self.backdrop.shape[:2]
        # Fit the person layer into scale x the backdrop's height, anchored bottom right.
        f = self.scale * bh / rgba.shape[0]
        layer = cv2.resize(rgba, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        lh, lw = min(layer.shape[0], bh), min(layer.shape[1], bw)
        layer = layer[:lh, :lw]
        out = self.backdrop.copy()
        region = out[bh - lh:, bw - lw:]
        a = layer[..., 3:4].astype(np.float32) / 255.0
        region[:] = (layer[..., :3] * a + region * (1 - a) + 0.5).astype(np.uint8)
        cv2.imwrite(str(self.folder / f"{index:06d}.jpg"), cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
        self.times.append((index, time))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("photo", type=Path)
    ap.add_argument("driving", type=Path)
    ap.add_argument("out", type=Path, help="folder for the frames (created; must be new or empty)")
    ap.add_argument("--backdrop", type=Path, help="picture to put the person on (default: a gradient)")
    ap.add_argument("--weights", type=Path, help="checkpoint (default: the shipped weights)")
    ap.add_argument("--start", type=float)
    ap.add_argument("--end", type=float)
    args = ap.parse_args(argv)
    try:
        if args.out.exists() and any(args.out.iterdir()):
            raise VunetError(args.out, "is not empty")
        args.out.mkdir(parents=True, exist_ok=True)
        if args.backdrop:
            from vunet_video.video import read_image
            backdrop = read_image(args.backdrop)
        else:
            backdrop = gradient(720, 1280)
        # The person alone (alpha background); no file written by vunet-video itself.
        animator = Animator(args.weights, preset="editor", background="alpha")
        subject = animator.encode_subject(args.photo, quiet=False)  # (a bar while a fine-tune runs, if the preset has one)
        overlay = Overlay(backdrop, args.out)
        result = animator.animate(subject, args.driving, None, on_frame=overlay,
                                  start=args.start, end=args.end, quiet=False)
        with open(args.out / "times.csv", "w") as f:
            f.write("index,time\n")
            f.writelines(f"{i},{t:.6f}\n" for i, t in overlay.times)
    except VunetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{result.frames} frames at {result.fps:.3f} fps in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
