"""Model v2's training pieces: dataset by pose novelty with a validation split, hard pairs,
warps made by the mesh as at inference, the perceptual term on real ImageNet weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vunet_video.pose.keypoints import Pose


@pytest.fixture(scope="module")
def novelty_dataset(tmp_path_factory, shared):
    """Every 2nd frame of a real tai-chi clip for training, with and without novelty
    sampling, and a real dance clip as the validation split."""
    from vunet_video.train.dataset import BuildOptions, build_dataset

    clip = shared / "data/train/videos/taichi_driving1.mp4"
    val = shared / "data/dev/driving/unianimate_source_video.mp4"
    out = tmp_path_factory.mktemp("novelty")
    photos = tmp_path_factory.mktemp("people")
    for f in sorted((shared / "data/train/ccp_photos").iterdir())[:24]:
        (photos / f.name).symlink_to(f)
    counts = build_dataset([clip, val, photos], out / "novel",
                           BuildOptions(size=64, every=2, limit=40, novelty=0.05, heldout_photo_fraction=0.0,
                                        val_clips=("unianimate_source_video",)))
    plain = build_dataset([clip], out / "plain", BuildOptions(size=64, every=2, limit=40))
    return out / "novel", counts, plain


def test_novelty_sampling_skips_still_frames_and_val_clips_are_split(novelty_dataset):
    out, counts, plain = novelty_dataset
    c = counts["taichi_driving1"]
    # Tai chi moves slowly: many frames are too close to the last kept one.
    assert c["still"] > 0 and c["kept"] + c["still"] + c["no_person"] + c["no_torso"] == c["seen"] == 40
    assert c["kept"] < plain["taichi_driving1"]["kept"]
    index = json.loads((out / "index.json").read_text())
    splits = {s["source"]: s["split"] for s in index["samples"]}
    assert splits == {"taichi_driving1": "train", "unianimate_source_video": "val", photos_name(index): "train"}
    # Every kept frame differs from the one kept before it by at least the threshold.
    from vunet_video.train.dataset import PairDataset, pose_distance

    ds = PairDataset(out, 64, "train")
    clip_poses = [p for p, s in zip(ds.poses, ds.samples) if s["source"] == "taichi_driving1"]
    for a, b in zip(clip_poses, clip_poses[1:]):
        assert pose_distance(a, b) >= 0.05
    assert len(PairDataset(out, 64, ("train", "val"))) == len(ds) + counts["unianimate_source_video"]["kept"]


def photos_name(index: dict) -> str:
    return next(s["source"] for s in index["samples"] if s["source"] not in ("taichi_driving1",
                                                                             "unianimate_source_video"))


def test_pose_distance_ignores_place_and_size_and_sees_a_turn():
    from vunet_video.train.dataset import pose_distance
    from vunet_video.pose.keypoints import FLIP_PERM

    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (17, 2)).astype(np.float32)
    pose = Pose(xy, np.ones(17, np.float32))
    moved = Pose(xy * 2.5 + 40, np.ones(17, np.float32))
    assert pose_distance(pose, moved) == pytest.approx(0.0, abs=1e-5)
    # The same joints with left and right swapped (a person turned around) is far away.
    turned = Pose(xy[FLIP_PERM], np.ones(17, np.float32))
    assert pose_distance(pose, turned) > 0.3
    no_torso = Pose(np.full((17, 2), np.nan, np.float32), np.zeros(17, np.float32))
    assert pose_distance(pose, no_torso) == float("inf")


def test_hard_pairs_pick_large_pose_changes(novelty_dataset):
    from vunet_video.train.dataset import PairDataset, pose_distance

    out, _, _ = novelty_dataset
    easy = PairDataset(out, 64, "val", cross_prob=1.0)
    hard = PairDataset(out, 64, "val", cross_prob=1.0, hard_share=1.0)
    assert easy.video_samples and not easy.photo_samples

    def mean_change(ds):
        rng = np.random.default_rng(1)
        return np.mean([pose_distance(ds.poses[i], ds.poses[ds.pair(i, rng)])
                        for i in rng.integers(len(ds), size=200)])

    assert mean_change(hard) > 1.3 * mean_change(easy)


def test_mesh_warps_are_the_inference_warp_and_mirror_with_the_sample(novelty_dataset):
    from vunet_video.render.full_resolution import crop_mesh_warp
    from vunet_video.render.mesh import BodyMesh
    from vunet_video.train.batches import MeshWarps, sample_batch
    from vunet_video.train.dataset import PairDataset

    out, _, _ = novelty_dataset
    ds = PairDataset(out, 64, "val", cross_prob=1.0)
    warps = MeshWarps(ds)
    rng = np.random.default_rng(3)
    batch = sample_batch(ds, 6, 16, rng, warp=True, mesh_warps=warps)
    assert batch["warp"].shape == (6, 4, 64, 64)
    assert len(warps.meshes) >= 1
    # A warp that covers something, away from the sample's own frame: the person moved there.
    i, j = 0, len(ds) - 1
    mesh = BodyMesh(ds.images[j], ds.poses[j], ds.masks[j] / 255.0)
    direct = crop_mesh_warp(mesh, ds.poses[i], 64)
    coverage = (direct[3] + 1) / 2
    assert coverage.mean() > 0.05 and float(coverage.max()) <= 1.0
    # Mirroring: the warp of the mirrored sample is the mirrored warp.
    flipped = crop_mesh_warp(BodyMesh(np.ascontiguousarray(ds.images[j][:, ::-1]), ds.poses[j].flipped(64),
                                      ds.masks[j][:, ::-1] / 255.0), ds.poses[i].flipped(64), 64)
    agree = ((flipped[3] > 0) == (direct.flip(-1)[3] > 0)).float().mean()
    assert agree > 0.95


def test_perceptual_network_has_real_imagenet_weights_and_a_sane_distance(shared):
    import cv2

    from vunet_video.model.perceptual import EVAL_LAYERS, TRAIN_LAYERS, frozen_network, perceptual_distance
    from vunet_video.video import read_image

    net = frozen_network()
    image = read_image(shared / "data/dev/subjects/ultralytics_bus.jpg")
    h, w = image.shape[:2]
    s = min(h, w)
    square = cv2.resize(image[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s], (224, 224),
                        interpolation=cv2.INTER_AREA)
    x = torch.from_numpy((square.astype(np.float32) - 127) / 128).permute(2, 0, 1)[None]
    with torch.no_grad():
        top = net(x).softmax(1)[0].topk(3).indices.tolist()
    # ImageNet classes 654 minibus, 734 police van, 779 school bus, 874 trolleybus: a bus photo.
    assert set(top) & {654, 734, 779, 874}
    assert not any(p.requires_grad for p in net.parameters())
    a = x[..., :128, :128]
    blurred = torch.from_numpy(cv2.GaussianBlur(square[:128, :128], (0, 0), 3).astype(np.float32) / 128 - 127 / 128)
    blurred = blurred.permute(2, 0, 1)[None]
    for layers in (TRAIN_LAYERS, EVAL_LAYERS):
        assert perceptual_distance(a, a, layers).item() == pytest.approx(0.0, abs=1e-6)
        assert perceptual_distance(a, blurred, layers).item() > 0.05
    # Gradients reach the image, as the training term needs.
    y = a.clone().requires_grad_(True)
    perceptual_distance(y, blurred).sum().backward()
    assert y.grad.abs().sum() > 0


def test_training_with_mesh_warps_and_perceptual_term_records_the_warp_kind(novelty_dataset, tmp_path):
    from vunet_video.model.io import load_model
    from vunet_video.model.vunet import VUNetConfig
    from vunet_video.render.synthesizer import Synthesizer
    from vunet_video.train.dataset import PairDataset
    from vunet_video.train.train import TrainConfig, train

    out, _, _ = novelty_dataset
    cfg = TrainConfig(data=str(out), out=str(tmp_path / "run"), steps=6, batch_size=4, kl_warmup=1, log_every=3,
                      sample_every=1000, ckpt_every=3, warp="mesh", perceptual_weight=0.5, video_share=0.5,
                      hard_share=0.5, cross_prob=1.0,
                      model=VUNetConfig(image_size=64, base_channels=8, max_channels=32, warp_skip=True))
    model = load_model(train(cfg, log=lambda *_: None))
    assert model.extra["warp"] == "mesh"
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert "perceptual" in log[0] and float(log[-1].split(",")[log[0].split(",").index("perceptual")]) > 0
    # The fine-tune of such weights builds mesh warps too, and its cache key tells the kinds apart.
    from vunet_video.model.finetune import FinetuneConfig, TunedCache

    ds = PairDataset(out, 64, "train")
    tuned = Synthesizer(model).personalised(ds.images[0], ds.poses[0], ds.masks[0], steps=2)
    assert tuned.model.extra["finetuned_steps"] == 2
    from vunet_video.render.full_resolution import crop_mesh_warper

    # (and a tune on an older mesh's warps, before render/mesh.py's MESH_VERSION was bumped)
    keys = {TunedCache.key(model, ds.images[0], ds.poses[0], ds.masks[0], FinetuneConfig(), w)
            for w in ("parts", "mesh", crop_mesh_warper(64).version)}
    assert len(keys) == 3
    with pytest.raises(Exception, match="warp"):
        train(TrainConfig(**{**cfg.__dict__, "warp": "rigid"}), log=lambda *_: None)


def test_appearance_prior_draws_more_varied_people_and_round_trips(novelty_dataset, tmp_path):
    """The shipped weights' prior alone draws nearly the same person every time; the
    fitted AppearancePrior spreads the draws (measured by the perceptual distance), and it
    survives save and load."""
    from itertools import combinations

    from vunet_video.model.io import load_model, save_weights
    from vunet_video.model.inputs import stickman_input
    from vunet_video.model.perceptual import EVAL_LAYERS, perceptual_distance
    from vunet_video.train.appearance_prior import fit_appearance_prior
    from vunet_video.train.dataset import PairDataset
    from vunet_video.model.vunet import VUNet

    out, _, _ = novelty_dataset
    base = load_model("vunet_video/weights/vunet_128.safetensors")
    base.appearance_prior = None
    prior = fit_appearance_prior(base, str(out), components=8, samples=40)
    assert prior.basis.shape[0] == 8 and prior.mean.shape[0] == sum(prior.sizes)
    pose = PairDataset(out, 128, "val").poses[0]
    stick = stickman_input(pose, 128)[None].expand(6, -1, -1, -1)

    def spread(model):
        with torch.no_grad():
            rgb = model.decode(stick, None, generator=torch.Generator().manual_seed(0))[:, :3].clamp(-1, 1)
            return np.mean([perceptual_distance(rgb[a:a + 1], rgb[b:b + 1], EVAL_LAYERS).item()
                            for a, b in combinations(range(6), 2)])

    plain = spread(base)
    base.appearance_prior = prior
    assert spread(base) > 1.5 * plain
    path = tmp_path / "with_prior.safetensors"
    save_weights(base, path, half=True)
    again = load_model(path)
    assert again.appearance_prior is not None
    assert torch.allclose(again.appearance_prior.basis, prior.basis.half().float())
    # Weights without one still load, and sample from the plain prior.
    save_weights(VUNet(base.cfg), tmp_path / "plain.safetensors")
    assert load_model(tmp_path / "plain.safetensors").appearance_prior is None
