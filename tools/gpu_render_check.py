"""On a lent GPU: the per-subject tune and the full-resolution render on CUDA against the CPU.

The device machine has torch and OpenCV but no PyAV or pose model, so the whole `animate`
cannot run there. This checks the GPU path of everything after the pose stage: the quick
start's photo, its pose and mask, and the dance's poses are prepared here
(`python tools/gpu_render_check.py prepare .gpu_render`); there (`run .gpu_render $OUT`)
the subject is tuned (100 steps) and encoded, and every frame rendered in batches of 8, on
"cuda" and on "cpu". Writes render_check.json: per-frame render time on each device and how
far the CUDA frames are from the CPU ones.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]


def prepare(folder: Path) -> None:
    from vunet_video.pose import make_estimator
    from vunet_video.video import VideoReader, read_image

    folder.mkdir(exist_ok=True)
    image = read_image(REPO / "samples/subject.png")
    from vunet_video.pose.mediapipe_backend import MediaPipePose

    subject = MediaPipePose(segmentation=True)(image)[0]
    estimator = make_estimator()
    targets = []
    with VideoReader(REPO / "samples/dance.mp4") as reader:
        for frame in reader:
            people = estimator(frame.image)
            if people:
                targets.append((people[0].xy, people[0].score))
    np.savez_compressed(folder / "inputs.npz", image=image, xy=subject.xy, score=subject.score, mask=subject.mask,
                        target_xy=np.stack([t[0] for t in targets]), target_score=np.stack([t[1] for t in targets]))
    print(f"{folder}: subject and {len(targets)} target poses")


def run(folder: Path, out: Path) -> None:
    from vunet_video.model.io import load_model
    from vunet_video.pose.keypoints import Pose
    from vunet_video.render.framing import person_box
    from vunet_video.render.full_resolution import FullResolutionRenderer
    from vunet_video.render.mesh import BodyMesh
    from vunet_video.render.synthesizer import Synthesizer

    data = np.load(folder / "inputs.npz")
    image = data["image"]
    pose = Pose(data["xy"], data["score"], data["mask"])
    targets = [Pose(xy, s) for xy, s in zip(data["target_xy"], data["target_score"])]
    h, w = image.shape[:2]
    frames, report = {}, {"frames": len(targets), "size": [w, h]}
    for device in ("cuda", "cpu"):
        if device == "cuda" and not torch.cuda.is_available():
            continue
        t0 = time.perf_counter()
        synth = Synthesizer(load_model(device=device), device)
        subject = synth.encode(image, pose, pose.mask, finetune_steps=100)
        mesh = BodyMesh(image, pose, pose.mask)
        t_subject = time.perf_counter() - t0
        renderer = FullResolutionRenderer(subject.synth, subject.appearance, mesh, (w, h))
        outs, times = [], []
        for rep in range(2):  # the first pass warms up (cuDNN's algorithm search, allocations)
            outs = []
            t0 = time.perf_counter()
            for i in range(0, len(targets), 8):
                batch = targets[i:i + 8]
                outs += renderer.render(batch, [person_box(t) for t in batch])
            if device == "cuda":
                torch.cuda.synchronize()
            times.append((time.perf_counter() - t0) / len(targets))
        frames[device] = outs
        report[device] = {"subject_s": round(t_subject, 2), "render_ms_per_frame": round(1000 * times[-1], 2),
                          "first_pass_ms_per_frame": round(1000 * times[0], 2),
                          "torch_threads": torch.get_num_threads(), "bf16": bool(synth.bf16)}
        print(device, report[device], flush=True)
    if "cuda" in frames:
        diffs, matte_diffs = [], []
        for (ca, pa, ma), (cb, pb, mb) in zip(frames["cuda"], frames["cpu"]):
            if ca != cb or pa.shape != pb.shape:
                diffs.append(float("inf"))
                continue
            diffs.append(float(np.abs(pa.astype(np.int16) - pb.astype(np.int16)).mean()))
            matte_diffs.append(float(np.abs(ma - mb).mean()))
        report["cuda_vs_cpu"] = {"person_mean_abs_diff_max": max(diffs), "person_mean_abs_diff_mean": float(np.mean(diffs)),
                                 "matte_mean_abs_diff_max": max(matte_diffs) if matte_diffs else None}
        report["device"] = torch.cuda.get_device_name()
    report["torch"] = torch.__version__
    out.mkdir(parents=True, exist_ok=True)
    (out / "render_check.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(Path(sys.argv[2]))
    else:
        run(Path(sys.argv[2]), Path(sys.argv[3]))
