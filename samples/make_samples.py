"""Make the bundled demo inputs: a drawn person to animate and a drawn dancer with music.

    python samples/make_samples.py [--out samples] [--overwrite]

Everything here is drawn by this script (no third-party media): a flat-shaded figure,
posed by COCO-17 keypoints, on a simple room background. MediaPipe's real pose model
finds such a figure, so the demo runs the whole pipeline, pose stage included.
Writes:
    subject.png      the person to animate (red top, blue trousers), 480 x 640
    dance.mp4        a 4 s dance of a second figure (green top), 24 fps, 480 x 640, with a tune
    dance_poses.json the dance's keypoints in the project's pose JSON schema (driving input
                     that skips the pose stage: `vunet-video animate samples/subject.png
                     samples/dance_poses.json --audio samples/dance.mp4`)
"""

from __future__ import annotations

import argparse
import math
import tempfile
import wave
from pathlib import Path

import cv2
import numpy as np

from vunet_video.pose.io import write_pose_json
from vunet_video.pose.keypoints import INDEX as J
from vunet_video.pose.keypoints import NUM_JOINTS, Pose
from vunet_video.video import VideoWriter

WIDTH, HEIGHT, FPS, SECONDS = 480, 640, 24, 4.0
SKIN, HAIR, SHOE = (225, 180, 150), (50, 35, 25), (30, 30, 30)


def room(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """A pale wall with a vertical gradient over a grey-brown floor."""
    y = np.arange(height, dtype=np.float32)[:, None] / height
    wall = np.stack([225 - 30 * y, 230 - 25 * y, 240 - 20 * y], -1)
    img = np.broadcast_to(wall, (height, width, 3)).copy()
    img[int(height * 0.8):] = (170, 160, 150)
    return img.astype(np.uint8)


def draw_figure(img: np.ndarray, k: np.ndarray, top: tuple, bottom: tuple) -> np.ndarray:
    """Draw a figure whose COCO-17 joints are `k` (17, 2) onto `img` (RGB), in place."""
    ankles = (k[J["left_ankle"]] + k[J["right_ankle"]]) / 2
    h = float(np.linalg.norm(ankles - k[J["nose"]]))
    lw = max(3, int(h * 0.085))

    def p(name):
        return tuple(int(round(v)) for v in k[J[name]])

    for s in ("left", "right"):
        cv2.line(img, p(f"{s}_hip"), p(f"{s}_knee"), bottom, int(lw * 1.15), cv2.LINE_AA)
        cv2.line(img, p(f"{s}_knee"), p(f"{s}_ankle"), bottom, lw, cv2.LINE_AA)
        a = p(f"{s}_ankle")
        cv2.ellipse(img, (a[0], a[1] + lw // 3), (int(lw * 0.8), int(lw * 0.45)), 0, 0, 360, SHOE, -1, cv2.LINE_AA)
    corners = [k[J[n]] for n in ("left_shoulder", "right_shoulder", "right_hip", "left_hip")]
    c = sum(corners) / 4
    cv2.fillPoly(img, [np.array([c + (q - c) * 1.12 for q in corners], np.int32)], top, cv2.LINE_AA)
    neck = (k[J["left_shoulder"]] + k[J["right_shoulder"]]) / 2
    nose = k[J["nose"]]
    cv2.line(img, tuple(neck.astype(int)), tuple(((neck + nose) / 2).astype(int)), SKIN, int(lw * 0.8), cv2.LINE_AA)
    r = int(h * 0.07)
    hc = nose.astype(int)
    cv2.ellipse(img, (hc[0], hc[1] - r // 4), (int(r * 1.05), int(r * 1.1)), 0, 180, 360, HAIR, -1, cv2.LINE_AA)
    cv2.ellipse(img, (hc[0], hc[1]), (int(r * 0.85), r), 0, 0, 360, SKIN, -1, cv2.LINE_AA)
    cv2.ellipse(img, (hc[0], hc[1] - int(r * 0.55)), (int(r * 0.9), int(r * 0.5)), 0, 180, 360, HAIR, -1, cv2.LINE_AA)
    for eye in ("left_eye", "right_eye"):
        cv2.circle(img, p(eye), max(2, r // 8), (40, 30, 30), -1, cv2.LINE_AA)
    cv2.line(img, (hc[0] - int(r * 0.3), hc[1] + int(r * 0.5)), (hc[0] + int(r * 0.3), hc[1] + int(r * 0.5)),
             (150, 60, 60), max(2, r // 10), cv2.LINE_AA)
    for s in ("left", "right"):
        cv2.line(img, p(f"{s}_shoulder"), p(f"{s}_elbow"), top, int(lw * 0.9), cv2.LINE_AA)
        cv2.line(img, p(f"{s}_elbow"), p(f"{s}_wrist"), SKIN, int(lw * 0.7), cv2.LINE_AA)
        cv2.circle(img, p(f"{s}_wrist"), int(lw * 0.45), SKIN, -1, cv2.LINE_AA)
    return img


def _limb(start: np.ndarray, angle_deg: float, length: float) -> np.ndarray:
    """Point `length` away from `start` at `angle_deg` (0 = straight down, positive = towards +x)."""
    a = math.radians(angle_deg)
    return start + length * np.array([math.sin(a), math.cos(a)], np.float32)


def pose_at(t: float, height: float = HEIGHT * 0.62, cx: float = WIDTH / 2, top: float = HEIGHT * 0.2,
            dance: bool = True) -> np.ndarray:
    """COCO-17 joints (17, 2) of the figure at time t: a side-to-side sway with a knee
    bounce on every beat (2 beats/s) and arms that wave in opposite phase."""
    h = height
    beat = 2 * math.pi * 1.0 * t if dance else 0.0
    sway = 0.05 * h * math.sin(beat / 2) if dance else 0.0
    bounce = 0.025 * h * abs(math.sin(beat)) if dance else 0.0
    hip_c = np.array([cx + sway, top + 0.52 * h + bounce], np.float32)
    k = np.zeros((NUM_JOINTS, 2), np.float32)
    lean = 0.03 * h * math.sin(beat / 2) if dance else 0.0
    neck = hip_c + np.array([lean, -0.33 * h], np.float32)
    k[J["left_hip"]], k[J["right_hip"]] = hip_c + (0.07 * h, 0), hip_c - (0.07 * h, 0)
    k[J["left_shoulder"]], k[J["right_shoulder"]] = neck + (0.11 * h, 0), neck - (0.11 * h, 0)
    k[J["nose"]] = neck + (0, -0.13 * h)
    k[J["left_eye"]], k[J["right_eye"]] = k[J["nose"]] + (0.02 * h, -0.015 * h), k[J["nose"]] + (-0.02 * h, -0.015 * h)
    k[J["left_ear"]], k[J["right_ear"]] = k[J["nose"]] + (0.04 * h, -0.01 * h), k[J["nose"]] + (-0.04 * h, -0.01 * h)
    # Arms: the upper arm swings from hanging (10 deg out) to raised sideways (130 deg), the
    # forearm bends further; left and right in opposite phase.
    for side, sign, phase in (("left", 1, 0.0), ("right", -1, math.pi)):
        wave_ = 0.5 * (1 - math.cos(beat / 2 + phase)) if dance else 0.0
        upper = sign * (10 + 120 * wave_)
        fore = upper + sign * (15 + 40 * wave_)
        elbow = _limb(k[J[f"{side}_shoulder"]], upper, 0.17 * h)
        k[J[f"{side}_elbow"]] = elbow
        k[J[f"{side}_wrist"]] = _limb(elbow, fore, 0.16 * h)
        # Legs: knees bend on the bounce (knees out, feet stay under the hips).
        knee_out = sign * (6 + 60 * bounce / h)
        knee = _limb(k[J[f"{side}_hip"]], knee_out, 0.23 * h)
        k[J[f"{side}_knee"]] = knee
        k[J[f"{side}_ankle"]] = _limb(knee, -knee_out * 0.6, 0.23 * h)
    return k


def tune(seconds: float, rate: int = 44100) -> np.ndarray:
    """A two-bar melody over a kick on every beat (2 beats/s), mono int16."""
    t = np.arange(int(seconds * rate)) / rate
    notes = [261.63, 329.63, 392.00, 523.25, 392.00, 329.63, 293.66, 392.00]  # C E G C' G E D G
    note = np.array(notes)[(t * 2).astype(int) % len(notes)]
    phase_in_beat = (t * 2) % 1.0
    melody = 0.25 * np.sin(2 * np.pi * note * t) * np.exp(-3 * phase_in_beat)
    kick = 0.5 * np.sin(2 * np.pi * 60 * t) * np.exp(-25 * phase_in_beat)
    return (np.clip(melody + kick, -1, 1) * 32000).astype(np.int16)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent))
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)

    subject = draw_figure(room(), pose_at(0.0, dance=False), top=(200, 60, 60), bottom=(40, 50, 90))
    cv2.imwrite(str(out / "subject.png"), subject[:, :, ::-1])

    frames = int(SECONDS * FPS)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "tune.wav"
        with wave.open(str(wav), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(44100)
            w.writeframes(tune(SECONDS).tobytes())
        with VideoWriter(out / "dance.mp4", FPS, audio_from=wav, overwrite=args.overwrite, crf=23) as writer:
            for i in range(frames):
                k = pose_at(i / FPS, cx=WIDTH * 0.5)
                writer.write(draw_figure(room(), k, top=(60, 160, 80), bottom=(60, 60, 60)))

    header = {"source": "samples/make_samples.py", "backend": "drawn", "fps": float(FPS),
              "width": WIDTH, "height": HEIGHT, "smoothed": True}
    records = ((i, i / FPS, Pose(pose_at(i / FPS), np.ones(NUM_JOINTS, np.float32))) for i in range(frames))
    write_pose_json(out / "dance_poses.json", header, records, overwrite=args.overwrite)
    print(f"wrote {out / 'subject.png'}, {out / 'dance.mp4'} ({frames} frames), {out / 'dance_poses.json'}")


if __name__ == "__main__":
    main()
