"""Benchmark issue 10's "views": a front-facing photo driven by someone who turns their back.

    python benchmarks/views.py [--seconds 12] [--every 3]

The body mesh moves the photo's own pixels. When the target faces away from the camera while
the photo faces it, pasting the photo's face and chest onto the target would show a person
facing the camera with the target's limbs mirrored: walking backwards. `BodyMesh._view_trust`
then hands the core (head and torso) to the model, which paints the back from the appearance
code. This benchmark measures that choice on real clips with back views:

* Subjects: the two full-body, front-facing dev subjects.
* Driving clips: the held-out catwalk turn (ubc_91bxAN6BjAS) and three training clips that
  show the person from behind for much of their length (a skater, two indoor clips).
* Two variants, same run, default settings (the per-subject fine-tune included): "view
  trust" (the default) and "photo front everywhere" (`_view_trust` forced to 1, as before
  the view rule).
* Every --every-th output frame is read by MediaPipe inside the target's box (as in
  full_resolution.py). The facing of a pose is `mesh.facing` (shoulder width across the torso
  axis over its length: below -0.15 facing the camera, above +0.15 facing away, the sign
  from MediaPipe's left/right labels). On the frames whose target faces away:
  - "read facing the camera": the share of those frames MediaPipe reads as facing the
    camera: the person looks as if walking backwards (lower is better);
  - "read facing away": the share it reads as the target is (higher is better);
  - limb error: mean limb-angle error against the target (upper arms, forearms, thighs,
    shins), degrees; and the same with the reading's left and right allowed to swap
    per frame ("any side"), which tells a wrong body from a mirrored reading.
  Frames whose target faces the camera are scored too, as the control: the rule must not
  touch them.

A second part has ground truth: the two catwalk clips (the held-out ubc_91bxAN6BjAS and the
training clip ubc_91BjuE6irxS: the model walks towards the camera, turns and walks away) are
reconstructed from their own first frame, which faces the camera, at the clip's size with
background "subject". On the frames whose real pose faces away, SSIM and L1 inside the
person's box (as full_resolution.py's bar 3) and the perceptual distance on the frozen
EfficientNet-Lite0 evaluation layers (lower is better), for both variants and the unchanged
first frame.

Writes benchmarks/results/views.{json,md}, views_<subject>_<clip>.png for the clips in SHEETS
(rows: the photo's front everywhere, view trust, the target; columns: frames facing away) and
views_recon_<clip>.png (rows: the real frame, then the two variants).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from full_resolution import (FLIP_PERM, RESULTS, SHARED, RecordingAnimator, limb_angle_errors,  # noqa: E402
                             machine, read_rendered_person, save_sheet, scoring_box, ssim_l1, stickman)

import torch  # noqa: E402

from vunet_video.model.perceptual import EVAL_LAYERS, perceptual_distance  # noqa: E402
from vunet_video.pose import estimate_image_pose, make_estimator  # noqa: E402
from vunet_video.pose.keypoints import MIN_SCORE, Pose  # noqa: E402
from vunet_video.render.mesh import BodyMesh, facing  # noqa: E402

SUBJECTS = [SHARED / "data/dev/subjects" / n for n in ("deepfashion_women_blouse_00004955.jpg", "ccp_heldout_2093.jpg")]
CLIPS = [SHARED / "data/train/videos/ubc_91bxAN6BjAS.mp4",           # held out: a catwalk turn
         SHARED / "data/train/videos_more/poseformerv2_skater.mp4",  # training clips with back views
         SHARED / "data/train/videos_more/charades_SKLEN1.mp4",
         SHARED / "data/train/videos_more/charades_B2NBR3.mp4"]
CATWALKS = [SHARED / "data/train/videos/ubc_91bxAN6BjAS.mp4", SHARED / "data/train/videos/ubc_91BjuE6irxS.mp4"]
VARIANTS = ("photo front everywhere", "view trust")  # before, after
SHEETS = ("poseformerv2_skater", "charades_SKLEN1")  # the clips with contact sheets (kept few: a few MB of PNG)
AWAY = 0.15  # |facing| beyond this: clearly towards or away from the camera (mesh._view_trust's cut)


def render(animator: RecordingAnimator, subject, clip: Path, seconds: float | None, every: int, folder: Path,
           view_rule: bool) -> dict:
    """{frame index: (rgb, target)} for every `every`-th output frame of the first `seconds`
    (None: all); view_rule False forces the view trust to 1 (the photo's front everywhere)."""
    kept = {}
    original = BodyMesh._view_trust
    if not view_rule:
        BodyMesh._view_trust = lambda self, target: 1.0
    try:
        animator.animate(subject, clip, folder / "out.mp4", end=seconds, overwrite=True,
                         on_frame=lambda i, t, rgba: kept.__setitem__(i, rgba[..., :3].copy()) if i % every == 0
                         else None)
    finally:
        BodyMesh._view_trust = original
    return {i: (rgb, animator.targets[i]) for i, rgb in sorted(kept.items())}


def score(frames: dict, estimator) -> dict:
    """The figures of the module docstring, for target frames facing away and facing the camera."""
    out = {}
    for view, wanted in (("away", lambda f: f > AWAY), ("camera", lambda f: f < -AWAY)):
        n, read_camera, read_away, errors, any_side = 0, 0, 0, [], []
        for rgb, target in frames.values():
            f = facing(target, MIN_SCORE)
            if f is None or not wanted(f):
                continue
            n += 1
            found = read_rendered_person(np.ascontiguousarray(rgb), target, estimator)
            g = facing(found, MIN_SCORE)
            read_camera += g is not None and g < -AWAY
            read_away += g is not None and g > AWAY
            e = limb_angle_errors(target, found, rgb.shape)
            swapped = limb_angle_errors(target, Pose(found.xy[FLIP_PERM], found.score[FLIP_PERM]), rgb.shape)
            errors += e
            any_side += min((e, swapped), key=lambda x: np.mean(x) if x else np.inf)
        out[view] = {"frames": n, "read_camera": read_camera / n if n else None,
                     "read_away": read_away / n if n else None,
                     "limb_error_deg": float(np.mean(errors)) if errors else None, "limbs": len(errors),
                     "limb_error_any_side_deg": float(np.mean(any_side)) if any_side else None}
    return out


def sheet(runs: dict, path: Path) -> None:
    """Rows: each variant, then the target; columns: up to four frames whose target faces away."""
    frames = runs[VARIANTS[1]]
    away = [i for i, (_, t) in frames.items() if (facing(t, MIN_SCORE) or 0) > AWAY]
    if not away:
        return
    picks = [away[k] for k in np.linspace(0, len(away) - 1, min(4, len(away))).round().astype(int)]
    rows = [[(runs[v][i][0], f"{v} #{i}") for i in picks] for v in VARIANTS]
    rows.append([(stickman(frames[i][1], frames[i][0].shape), f"target #{i}") for i in picks])
    save_sheet(rows, path)


def perceptual(a: np.ndarray, b: np.ndarray) -> float:
    ta, tb = (torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None].float() / 127.5 - 1 for x in (a, b))
    with torch.no_grad():
        return float(perceptual_distance(ta, tb, EVAL_LAYERS)[0])


def reconstruct_back_views(clip: Path, every: int, folder: Path, estimator) -> dict:
    """The clip rendered from its own first frame, scored on the frames whose real pose faces away."""
    from vunet_video.video import VideoReader

    with VideoReader(clip) as reader:
        real = {f.index: f.image for f in reader}
    first = real[min(real)]
    animator = RecordingAnimator(size=0, background="subject")  # size 0: the clip's own resolution
    subject = animator.encode_subject(first)
    runs = {v: render(animator, subject, clip, None, every, folder, v == VARIANTS[1]) for v in VARIANTS}
    scores = {m: {"ssim": [], "l1": [], "perceptual": []} for m in ("unchanged", *VARIANTS)}
    away = []
    for i in sorted(runs[VARIANTS[1]]):
        pose = estimate_image_pose(real[i], estimator)
        f = facing(pose, MIN_SCORE)
        if i == min(real) or f is None or f <= AWAY:
            continue
        away.append(i)
        x0, y0, x1, y1 = scoring_box(pose, first.shape)
        truth = real[i][y0:y1, x0:x1]
        for m, image in {"unchanged": first, **{v: runs[v][i][0] for v in VARIANTS}}.items():
            crop = np.ascontiguousarray(image[y0:y1, x0:x1])
            s, l1 = ssim_l1(crop, truth)
            scores[m]["ssim"].append(s)
            scores[m]["l1"].append(l1)
            scores[m]["perceptual"].append(perceptual(crop, truth))
    if away:
        shown = [away[k] for k in np.linspace(0, len(away) - 1, min(4, len(away))).round().astype(int)]
        rows = [[(real[i], f"real #{i}") for i in shown]] + [[(runs[v][i][0], f"{v} #{i}") for i in shown]
                                                            for v in VARIANTS]
        save_sheet(rows, RESULTS / f"views_recon_{clip.stem}.png", height=256)
    return {"clip": clip.stem, "frames_away": len(away),
            **{m: {k: float(np.mean(v)) if v else None for k, v in sc.items()} for m, sc in scores.items()}}


def pooled(rows: list[dict], variant: str, view: str) -> dict:
    """Frame-weighted shares and limb-weighted errors over rows."""
    parts = [r[variant][view] for r in rows if r[variant][view]["frames"]]
    frames = sum(p["frames"] for p in parts)
    limbs = sum(p["limbs"] for p in parts)
    return {"frames": frames,
            "read_camera": sum(p["read_camera"] * p["frames"] for p in parts) / frames if frames else None,
            "read_away": sum(p["read_away"] * p["frames"] for p in parts) / frames if frames else None,
            "limb_error_deg": sum(p["limb_error_deg"] * p["limbs"] for p in parts if p["limbs"]) / limbs
            if limbs else None,
            "limb_error_any_side_deg": sum(p["limb_error_any_side_deg"] * p["limbs"] for p in parts if p["limbs"])
            / limbs if limbs else None}


def markdown(report: dict) -> str:
    def f(v, fmt):
        return "-" if v is None else format(v, fmt)

    lines = ["# Views: a front-facing photo driven by someone who turns their back", "",
             f"Made by `python benchmarks/views.py` on {report['date']}; {report['machine']}.", "",
             f"Settings: the default preset (per-subject fine-tune included), output at the photo's size; "
             f"the first {report['seconds']:g} s of each clip, every {report['every']}th frame scored. "
             "Facing: `mesh.facing` of the pose, below -0.15 towards the camera, above +0.15 away. "
             "\"Read facing the camera\" on frames whose target faces away = the person looks as if "
             "walking backwards (lower is better). See the module docstring.", "",
             "## Pooled over subjects and clips", "",
             "| target faces | variant | frames | read facing the camera | read facing away | limb error | "
             "any side |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for view in ("away", "camera"):
        for v in VARIANTS:
            p = report["pooled"][view][v]
            lines.append(f"| {view} | {v} | {p['frames']} | {f(p['read_camera'], '.2f')} | "
                         f"{f(p['read_away'], '.2f')} | {f(p['limb_error_deg'], '.1f')} | "
                         f"{f(p['limb_error_any_side_deg'], '.1f')} |")
    lines += ["", "## Per subject and clip (target facing away)", "",
              "| subject | clip | frames | read facing the camera (before / after) | read facing away (before / after) "
              "| limb error (before / after) |", "| --- | --- | ---: | --- | --- | --- |"]
    for r in report["rows"]:
        b, a = r[VARIANTS[0]]["away"], r[VARIANTS[1]]["away"]
        lines.append(f"| {r['subject']} | {r['clip']} | {a['frames']} | {f(b['read_camera'], '.2f')} / "
                     f"{f(a['read_camera'], '.2f')} | {f(b['read_away'], '.2f')} / {f(a['read_away'], '.2f')} | "
                     f"{f(b['limb_error_deg'], '.1f')} / {f(a['limb_error_deg'], '.1f')} |")
    lines += ["", "## Back views with ground truth: the catwalk clips from their own first frame", "",
              "Frames whose real pose faces away (frame 0, the subject, faces the camera). SSIM (higher is better), "
              "L1 on 0-255 and perceptual distance (lower is better) inside the person's box.", "",
              "| clip | frames | unchanged first frame | photo front everywhere | view trust |",
              "| --- | ---: | --- | --- | --- |"]
    for r in report["recon"]:
        cells = [f"{f(r[m]['ssim'], '.4f')} / {f(r[m]['l1'], '.1f')} / {f(r[m]['perceptual'], '.3f')}"
                 for m in ("unchanged", *VARIANTS)]
        lines.append(f"| {r['clip']} | {r['frames_away']} | " + " | ".join(cells) + " |")
    lines += ["", "Contact sheets `views_<subject>_<clip>.png`: rows the photo's front everywhere, view trust, "
              "the target; frames whose target faces away. `views_recon_<clip>.png`: rows the real frame, the "
              "photo's front everywhere, view trust.", ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=12.0, help="render the first this many seconds of each clip")
    ap.add_argument("--every", type=int, default=3, help="score every n-th frame")
    args = ap.parse_args(argv)
    animator = RecordingAnimator()
    estimator = make_estimator("mediapipe")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for photo in SUBJECTS:
            subject = animator.encode_subject(photo)
            for clip in CLIPS:
                runs = {v: render(animator, subject, clip, args.seconds, args.every, Path(tmp), v == VARIANTS[1])
                        for v in VARIANTS}
                row = {"subject": photo.stem, "clip": clip.stem, **{v: score(runs[v], estimator) for v in VARIANTS}}
                print(json.dumps(row), flush=True)
                rows.append(row)
                if clip.stem in SHEETS:
                    sheet(runs, RESULTS / f"views_{photo.stem}_{clip.stem}.png")
        recon = []
        for clip in CATWALKS:
            recon.append(reconstruct_back_views(clip, args.every, Path(tmp), estimator))
            print(json.dumps(recon[-1]), flush=True)
    report = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "machine": machine(), "seconds": args.seconds, "every": args.every, "rows": rows, "recon": recon,
              "pooled": {view: {v: pooled(rows, v, view) for v in VARIANTS} for view in ("away", "camera")}}
    (RESULTS / "views.json").write_text(json.dumps(report, indent=1))
    (RESULTS / "views.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
