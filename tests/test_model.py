"""The VUNet at a small size: shapes, KL, real training steps, checkpoints, metrics, eval."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from vunet_video.errors import VunetError
from vunet_video.model.io import load_model, save_weights
from vunet_video.model.vunet import VUNet, VUNetConfig
from vunet_video.pose.keypoints import Pose
from vunet_video.train.metrics import pck, psnr, ssim

SMALL = VUNetConfig(image_size=64, base_channels=8, max_channels=32, latent_channels=8)


def small_model(seed: int = 0) -> VUNet:
    torch.manual_seed(seed)
    return VUNet(SMALL)


def test_shapes_and_kl():
    m = small_model()
    stick = torch.randn(2, 3, 64, 64)
    parts = torch.randn(2, 48, 16, 16)
    out, kl = m(stick, parts)
    assert out.shape == (2, 4, 64, 64)
    assert kl.shape == (2,) and (kl >= 0).all()
    latents = m.encode(parts)
    # Coarsest scale first: 4x4 then 8x8 for a 64 px model with coarsest=4.
    assert [tuple(z.shape) for z in latents] == [(2, 8, 4, 4), (2, 8, 8, 8)]


def test_kl_is_half_squared_distance_of_means():
    # Unit-variance Gaussians: KL(q || p) = 0.5 * ||mu_q - mu_p||^2. With one latent scale the
    # prior does not depend on the sampled z, so the identity can be checked exactly.
    m = VUNet(VUNetConfig(**{**SMALL.to_dict(), "n_latent_scales": 1}))
    stick, parts = torch.randn(1, 3, 64, 64), torch.randn(1, 48, 16, 16)
    q = m.encode(parts)
    priors = []
    m.decoder(m.shape_up(stick), lambda i, p: (priors.append(p), q[i])[1])
    _, kl = m(stick, parts)
    assert torch.allclose(kl[0], 0.5 * (q[0] - priors[0]).pow(2).sum(), rtol=1e-4)
    assert kl.item() > 0


def test_decode_uses_the_appearance_code_and_the_prior_samples_differ():
    m = small_model()
    # Make the latent path matter: random (non-zero) last convs everywhere.
    for mod in m.modules():
        if isinstance(mod, torch.nn.Conv2d):
            torch.nn.init.normal_(mod.weight, std=0.05)
    stick = torch.randn(1, 3, 64, 64)
    a = m.decode(stick, m.encode(torch.randn(1, 48, 16, 16)))
    b = m.decode(stick, m.encode(torch.randn(1, 48, 16, 16)))
    assert (a - b).abs().mean() > 1e-4
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
    s1, s2 = m.decode(stick, None, g1), m.decode(stick, None, g2)
    assert (s1 - s2).abs().mean() > 1e-4


def test_save_load_round_trip(tmp_path):
    m = small_model().eval()
    path = tmp_path / "w.safetensors"
    save_weights(m, path, {"step": 7})
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # a normal file, not safetensors' private 0600
    loaded = load_model(path)
    assert loaded.cfg == m.cfg and loaded.extra == {"step": 7}
    stick, parts = torch.randn(1, 3, 64, 64), torch.randn(1, 48, 16, 16)
    with torch.no_grad():
        assert torch.equal(m.decode(stick, m.encode(parts)), loaded.decode(stick, loaded.encode(parts)))


def test_shipped_recipe_file_is_the_shipped_model(tmp_path, monkeypatch):
    """configs/vunet_128_v2.toml, read by `vunet-video train --config` itself, describes the
    model that ships (model v2): its [model] table is the weights' own config, the weights
    record the warp kind it trains on, and it names every field, so a copy for another size
    leaves nothing to the defaults. The 0.1 recipe (configs/vunet_128.toml) stays complete too."""
    import tomllib
    from dataclasses import fields

    from typer.testing import CliRunner

    import vunet_video.train.train as training
    from vunet_video.cli import app
    from vunet_video.model.loss import LossConfig

    configs = Path(__file__).resolve().parents[1] / "configs"
    path = configs / "vunet_128_v2.toml"
    seen = []
    monkeypatch.setattr(training, "train", lambda cfg, resume=None, log=print: seen.append(cfg) or "w.safetensors")
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path), "--config", str(path)])
    assert result.exit_code == 0, result.output
    cfg = seen[0]
    shipped = load_model()
    assert cfg.model == shipped.cfg
    assert cfg.model.warp_skip and cfg.model.image_size == 128
    assert cfg.data == str(tmp_path) and cfg.steps == 18000 and cfg.lr == 1e-4 and cfg.warp == "mesh"
    assert shipped.extra["warp"] == cfg.warp and shipped.appearance_prior is not None
    # The per-subject fine-tune uses the pixel terms of training (LossConfig's defaults), not
    # the perceptual term (20% more time per tune step; see the model card).
    assert replace(cfg.loss, perceptual_weight=0.0, kl_warmup=LossConfig.kl_warmup) == LossConfig()
    assert cfg.perceptual_weight == 0.15 and cfg.kl_warmup == 500  # (a re-ramp: v2 started from trained weights)
    for recipe in (path, configs / "vunet_128.toml"):
        raw = tomllib.loads(recipe.read_text())
        assert set(raw) == {f.name for f in fields(training.TrainConfig)}, recipe
        assert set(raw["model"]) == {f.name for f in fields(VUNetConfig)}, recipe
    bad = tmp_path / "bad.toml"
    bad.write_text(path.read_text().replace("[model]", "[model]\nwidth = 3"))
    with pytest.raises(VunetError, match="bad.toml: not a valid config"):
        training.load_config(bad)


def test_bad_checkpoints_give_one_line_errors(tmp_path):
    with pytest.raises(VunetError, match="no such checkpoint"):
        load_model(tmp_path / "missing.safetensors")
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00garbage" * 50)
    with pytest.raises(VunetError, match="corrupt.safetensors: not a readable"):
        load_model(corrupt)
    # Right format, wrong shapes: weights of one width under the config of another.
    wrong = tmp_path / "wrong.safetensors"
    save_weights(small_model(), wrong)
    from safetensors.torch import load_file, save_file
    tensors = load_file(str(wrong))
    meta = {"format": "vunet-video", "config": json.dumps({**SMALL.to_dict(), "base_channels": 16}), "extra": "{}"}
    save_file(tensors, str(wrong), metadata=meta)
    with pytest.raises(VunetError, match="do not match the model config"):
        load_model(wrong)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"x": torch.zeros(2)}, str(foreign))
    with pytest.raises(VunetError, match="not a vunet-video checkpoint"):
        load_model(foreign)


def test_metrics_on_known_inputs():
    a = torch.zeros(1, 3, 32, 32)
    assert ssim(a + 0.3, a + 0.3).item() == pytest.approx(1.0, abs=1e-5)
    # Constant error 0.1 in a [-1, 1] range: MSE 0.01, PSNR = 10 log10(4 / 0.01) = 26.02 dB.
    assert psnr(a, a + 0.1).item() == pytest.approx(26.0206, abs=1e-3)
    noisy = a + 0.5 * torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert ssim(a, noisy).item() < 0.5
    true = np.array([[0, 0], [100, 0], [0, 100]], np.float32)
    ok = np.ones(3, bool)
    pred = true + np.array([[5, 0], [20, 0], [0, 0]], np.float32)  # threshold 0.1 * 100 = 10 px
    assert pck(pred, ok, true, ok) == (2, 3)
    assert pck(pred, np.array([True, True, False]), true, ok) == (1, 3)


# --- real data: dataset build, training steps, resume, eval -----------------------------------

@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory, shared):
    """A real cache: 6 street photos and every 20th frame of a real tai-chi clip (held out)."""
    from vunet_video.train.dataset import BuildOptions, build_dataset

    photos = tmp_path_factory.mktemp("photos")
    for f in sorted((shared / "data/train/ccp_photos").iterdir())[:6]:
        (photos / f.name).symlink_to(f)
    (photos / "blank.png").write_bytes(_blank_png())
    out = tmp_path_factory.mktemp("cache")
    counts = build_dataset([photos, shared / "data/train/videos/taichi_driving2.mp4"], out,
                           BuildOptions(size=64, every=20, heldout_clips=("taichi_driving2",),
                                        heldout_photo_fraction=0.0))
    return out, counts


def _blank_png() -> bytes:
    import cv2
    ok, buf = cv2.imencode(".png", np.full((200, 120, 3), 128, np.uint8))
    return buf.tobytes()


def test_dataset_build_counts_and_split(tiny_dataset):
    out, counts = tiny_dataset
    photo_counts = next(c for name, c in counts.items() if name != "taichi_driving2")
    assert photo_counts["seen"] == 7 and photo_counts["no_person"] >= 1  # the blank image
    assert photo_counts["kept"] >= 5
    clip = counts["taichi_driving2"]
    assert clip["seen"] == 14 and clip["kept"] >= 12  # 280 frames, every 20th
    index = json.loads((out / "index.json").read_text())
    splits = {s["source"]: s["split"] for s in index["samples"]}
    assert splits["taichi_driving2"] == "heldout"
    assert all(v == "train" for k, v in splits.items() if k != "taichi_driving2")
    # Both shoulders and both hips are visible in every kept sample.
    for s in index["samples"]:
        assert min(s["score"][5], s["score"][6], s["score"][11], s["score"][12]) >= 0.5


def _train_cfg(data: Path, out: Path, steps: int):
    from vunet_video.train.train import TrainConfig

    return TrainConfig(data=str(data), out=str(out), model=SMALL, batch_size=4, steps=steps, lr=1e-3,
                       lr_final=1e-3, kl_warmup=1, log_every=1000, sample_every=1000, ckpt_every=3)


def test_training_steps_lower_the_loss_on_real_images(tiny_dataset, tmp_path):
    from vunet_video.model.loss import compute_loss
    from vunet_video.train.batches import sample_batch
    from vunet_video.train.dataset import PairDataset
    from vunet_video.train.train import train

    data, _ = tiny_dataset
    cfg = _train_cfg(data, tmp_path / "run", steps=40)
    ds = PairDataset(data, 64, "train")
    batch = sample_batch(ds, 8, SMALL.part_size, np.random.default_rng(123))

    def loss_of(model):
        torch.manual_seed(0)  # same posterior noise for both measurements
        with torch.no_grad():
            return compute_loss(model, batch, cfg.loss, cfg.steps)[0].item()

    torch.manual_seed(cfg.seed)
    before = loss_of(VUNet(SMALL))
    weights = train(cfg, log=lambda *_: None)
    after = loss_of(load_model(weights))
    assert after < 0.9 * before
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert log[0].startswith("step,")


def test_resume_is_exact(tiny_dataset, tmp_path):
    from dataclasses import replace

    from vunet_video.train.train import train

    data, _ = tiny_dataset
    straight = load_model(train(_train_cfg(data, tmp_path / "a", steps=6), log=lambda *_: None))
    train(replace(_train_cfg(data, tmp_path / "b", steps=3), snapshot_every=2), log=lambda *_: None)
    assert sorted(p.name for p in (tmp_path / "b" / "snapshots").iterdir()) == ["step_2.safetensors"]
    resumed = load_model(train(_train_cfg(data, tmp_path / "b", steps=6),
                               resume=str(tmp_path / "b" / "checkpoint.pt"), log=lambda *_: None))
    for (k, v), (_, w) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(v, w), k


def test_eval_scores_model_and_baselines(tiny_dataset):
    from vunet_video.render.synthesizer import Synthesizer
    from vunet_video.train.evaluate import affine_parts_warp, evaluate, pose_change
    from vunet_video.train.dataset import PairDataset

    data, _ = tiny_dataset
    result = evaluate(Synthesizer(small_model()), str(data), per_group=3, finetune_steps=5)
    assert result["pairs"] == 3 and result["groups"] == ["taichi_driving2"]
    subsets = result["subsets"]
    assert subsets["all pairs"]["pairs"] == 3
    for m in ("vunet", "vunet_finetuned", "affine_parts", "unchanged"):
        r = subsets["all pairs"]["methods"][m]
        assert -1 <= r["ssim"] <= 1 and 0 <= r["pck@0.1"] <= 1 and r["l1"] >= 0
        assert 0 <= r["found"] <= 1 and r["pck@0.1 found"] >= r["pck@0.1"]
    # An untrained decoder paints noise over the scene: the real frames must score better.
    methods = subsets["all pairs"]["methods"]
    assert methods["unchanged"]["ssim"] > methods["vunet"]["ssim"]
    # Warping parts onto the pose they already have changes (almost) nothing.
    ds = PairDataset(data, 64, "heldout")
    img, pose = ds.images[0], ds.poses[0]
    same = affine_parts_warp(img, pose, pose)
    assert np.abs(same.astype(int) - img.astype(int)).mean() < 2.0
    assert pose_change(pose, pose) == 0.0
    moved = Pose(pose.xy + np.float32(10.0), pose.score)
    assert pose_change(moved, pose) > 0.1  # 10 px on a 64 px crop


def test_training_can_start_from_given_weights(tiny_dataset, tmp_path):
    from dataclasses import replace

    from vunet_video.train.train import train

    data, _ = tiny_dataset
    start = tmp_path / "start.safetensors"
    save_weights(small_model(seed=5), start)
    cfg = replace(_train_cfg(data, tmp_path / "run", steps=1), lr=1e-7, lr_final=1e-7, init=str(start))
    after = load_model(train(cfg, log=lambda *_: None))
    before = load_model(start)
    fresh = small_model(seed=0)
    k = "decoder.out.weight"
    assert torch.allclose(after.state_dict()[k], before.state_dict()[k], atol=1e-4)
    assert not torch.allclose(fresh.state_dict()[k], before.state_dict()[k], atol=1e-4)
    wrong = tmp_path / "wrong.safetensors"
    save_weights(VUNet(VUNetConfig(**{**SMALL.to_dict(), "latent_channels": 4})), wrong)
    with pytest.raises(VunetError, match="weights are for"):
        train(replace(cfg, init=str(wrong)), log=lambda *_: None)


def test_finetune_on_a_subject_learns_them_and_leaves_the_model_alone(tiny_dataset):
    from vunet_video.model.inputs import on_plain_background, to_tensor
    from vunet_video.render.synthesizer import Synthesizer
    from vunet_video.train.dataset import PairDataset
    from vunet_video.model.finetune import FinetuneConfig, finetune_on_subject

    data, _ = tiny_dataset
    ds = PairDataset(data, 64, "heldout")
    image, pose, mask = ds.images[0], ds.poses[0], ds.masks[0]
    model = small_model()
    before_weights = {k: v.clone() for k, v in model.state_dict().items()}

    def error_of(m):  # the subject re-rendered in its own pose against the subject on grey
        synth = Synthesizer(m)
        rgb, _ = synth.render(synth.encode_crop(image, pose, mask), [pose], on_grey=True)
        return (to_tensor(rgb[0]) - to_tensor(on_plain_background(image, mask))).abs().mean().item()

    cfg = FinetuneConfig(steps=30, lr=1e-3)
    tuned = finetune_on_subject(model, image, pose, mask, cfg)
    assert error_of(tuned) < 0.7 * error_of(model)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before_weights[k]), k  # the shared model is untouched
    # Same subject and seed, same tuned model: a subject renders the same on every run.
    again = finetune_on_subject(model, image, pose, mask, cfg)
    k = "decoder.out.weight"
    assert torch.equal(tuned.state_dict()[k], again.state_dict()[k])
    assert not torch.equal(tuned.state_dict()[k], model.state_dict()[k])
    # The stickman encoder is not tuned: poses are read as before.
    for (name, a), (_, b) in zip(tuned.shape_up.state_dict().items(), model.shape_up.state_dict().items()):
        assert torch.equal(a, b), name


# ----------------------------------------------------------------------------- warp skip

WARP_SMALL = VUNetConfig(**{**SMALL.to_dict(), "warp_skip": True})


def test_warp_parts_moves_each_part_with_its_joints():
    """Known answer: a pose shifted by whole pixels moves every part's texture by the same shift."""
    from vunet_video.model.parts import warp_parts

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 64, 3)).astype(np.uint8)
    xy = np.float32([[32, 8], [33, 7], [31, 7], [35, 8], [29, 8], [38, 16], [26, 16], [41, 26], [23, 26],
                     [42, 35], [22, 35], [36, 34], [28, 34], [37, 46], [27, 46], [37, 58], [27, 58]])
    pose = Pose(xy, np.ones(17, np.float32))
    target = Pose(xy + np.float32([3, -2]), pose.score)
    rgb, coverage = warp_parts(image, pose, target)
    inside = coverage > 0.999
    inside[:, :4] = inside[:, -4:] = inside[:4] = inside[-4:] = False
    assert inside.sum() > 500  # the parts cover the body
    ys, xs = np.nonzero(inside)
    src = image[ys + 2, xs - 3].astype(np.float32)
    assert np.abs(rgb[ys, xs] - src).mean() < 2.0
    assert (coverage[:, :10] < 1e-3).all()  # nothing lands beside the body


def test_warp_skip_starts_as_the_model_without_it():
    """The warp branch's skip convolutions start at zero and its blend at 0.25%: a model given
    one renders as the same weights without it (colour within 0.25% of the range, alpha
    exactly) until training teaches it to copy from the warp."""
    torch.manual_seed(0)
    plain = VUNet(SMALL).eval()
    with_warp = VUNet(WARP_SMALL).eval()
    missing, unexpected = with_warp.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("warp_skip.") for k in missing)
    stick, parts = torch.randn(2, 3, 64, 64), torch.randn(2, 48, 16, 16)
    coverage = torch.rand(2, 1, 64, 64)  # a warp as inputs.warp_input makes it: colour times coverage
    warp = torch.cat([(torch.rand(2, 3, 64, 64) * 2 - 1) * coverage, coverage * 2 - 1], 1)
    with torch.no_grad():
        z = plain.encode(parts)
        a, b = plain.decode(stick, z), with_warp.decode(stick, z, warp=warp)
        assert torch.equal(a[:, 3], b[:, 3])
        assert (a[:, :3] - b[:, :3]).abs().max() < 0.0025 * (a[:, :3].abs().max() + 1) + 1e-5  # 0.25% of the gap
        # Sampling from the prior needs no warp (an empty one stands in).
        assert with_warp.decode(stick, None, torch.Generator().manual_seed(0)).shape == (2, 4, 64, 64)


def test_warp_skip_trains_from_plain_weights_and_renders(tiny_dataset, tmp_path):
    from dataclasses import replace

    from vunet_video.model.loss import compute_loss
    from vunet_video.render.synthesizer import Synthesizer
    from vunet_video.train.batches import sample_batch
    from vunet_video.train.dataset import PairDataset
    from vunet_video.train.train import train

    data, _ = tiny_dataset
    start = tmp_path / "plain.safetensors"
    save_weights(small_model(seed=5), start)
    cfg = replace(_train_cfg(data, tmp_path / "run", steps=40), model=WARP_SMALL, init=str(start))
    ds = PairDataset(data, 64, "train")
    batch = sample_batch(ds, 8, SMALL.part_size, np.random.default_rng(123), warp=True)
    assert batch["warp"].shape == (8, 4, 64, 64)

    def loss_of(model):
        torch.manual_seed(0)
        with torch.no_grad():
            return compute_loss(model, batch, cfg.loss, cfg.steps)[0].item()

    before = load_model(start)
    tuned = load_model(train(cfg, log=lambda *_: None))
    assert tuned.cfg.warp_skip
    assert tuned.warp_skip.to_skip0.weight.abs().sum() > 0  # the branch learned something
    assert tuned.warp_skip.blend2.weight.abs().sum() > 0
    assert loss_of(tuned) < 0.9 * loss_of(before)
    synth = Synthesizer(tuned)
    held = PairDataset(data, 64, "heldout")
    appearance = synth.encode_crop(held.images[0], held.poses[0], held.masks[0])
    rgb, alpha = synth.render(appearance, [held.poses[0], held.poses[1]])
    assert rgb.shape == (2, 64, 64, 3) and alpha.shape == (2, 64, 64)
    # Other weights than the warp branch's must match the model being started.
    wrong = tmp_path / "wrong.safetensors"
    save_weights(VUNet(VUNetConfig(**{**SMALL.to_dict(), "latent_channels": 4})), wrong)
    with pytest.raises(VunetError, match="weights are for"):
        train(replace(cfg, init=str(wrong)), log=lambda *_: None)
    # Weights with a trained warp branch must not start a model without one (it would be dropped).
    with_warp = tmp_path / "with_warp.safetensors"
    save_weights(tuned, with_warp)
    with pytest.raises(VunetError, match="warp branch"):
        train(replace(cfg, init=str(with_warp), model=SMALL), log=lambda *_: None)


def test_tuned_weights_are_cached_per_subject_and_settings(tiny_dataset, tmp_path, monkeypatch):
    import vunet_video.model.finetune as ft
    from vunet_video.train.dataset import PairDataset

    data, _ = tiny_dataset
    ds = PairDataset(data, 64, "heldout")
    image, pose, mask = ds.images[0], ds.poses[0], ds.masks[0]
    model = small_model()
    cache = ft.TunedCache(tmp_path, keep=2)
    cfg = ft.FinetuneConfig(steps=3)
    first = ft.finetune_on_subject(model, image, pose, mask, cfg, cache=cache)
    files = list((tmp_path / "finetune").glob("*.safetensors"))
    assert len(files) == 1 and not list((tmp_path / "finetune").glob(".*"))  # no temporary left

    def no_tuning(*args, **kwargs):
        raise AssertionError("tuned again")

    # The same model, subject and settings: taken from the cache, identical, no tuning.
    with monkeypatch.context() as m:
        m.setattr(ft, "_tune", no_tuning)
        steps_reported = []
        again = ft.finetune_on_subject(model, image, pose, mask, cfg, progress=steps_reported.append, cache=cache)
        assert steps_reported == [cfg.steps]
    for k, v in first.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k
    # Anything the tune depends on changes the key: another seed, another subject, another model.
    other_model = small_model()
    with torch.no_grad():
        next(other_model.parameters()).add_(1.0)
    keys = {cache.key(model, image, pose, mask, cfg), cache.key(model, image, pose, mask, ft.FinetuneConfig(steps=3, seed=1)),
            cache.key(model, ds.images[1], ds.poses[1], ds.masks[1], cfg), cache.key(other_model, image, pose, mask, cfg)}
    assert len(keys) == 4
    # A damaged cache file is a miss: tuned again (the same result) and replaced, no error.
    files[0].write_bytes(b"not safetensors")
    redone = ft.finetune_on_subject(model, image, pose, mask, cfg, cache=cache)
    for k, v in first.state_dict().items():
        assert torch.equal(v, redone.state_dict()[k]), k
    assert cache.load(cache.key(model, image, pose, mask, cfg), model) is not None
    # Only the `keep` most recently used subjects are kept.
    for i in (1, 2):
        ft.finetune_on_subject(model, ds.images[i], ds.poses[i], ds.masks[i], cfg, cache=cache)
    assert len(list((tmp_path / "finetune").glob("*.safetensors"))) == 2
    # The cache folder: $VUNET_CACHE_DIR first.
    monkeypatch.setenv("VUNET_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert ft.TunedCache().folder == tmp_path / "elsewhere" / "finetune"


def test_heldout_pairs_take_every_frame_of_a_short_clip():
    """A clip sampled by pose novelty may keep fewer frames than the pairs asked for: its
    subjects then take every other frame as a target (it once raised instead)."""
    from types import SimpleNamespace

    from vunet_video.train.evaluate import heldout_pairs

    ds = SimpleNamespace(samples=[{"group": "short"}] * 10 + [{"group": "long"}] * 60 + [{"group": "photo"}])
    pairs = heldout_pairs(ds, per_group=40, seed=0, subjects_per_group=4)
    short = [(a, b) for a, b in pairs if a < 10]
    assert len(short) == 4 * 9 and all(b < 10 and a != b for a, b in short)
    assert len(pairs) - len(short) == 40 and len(set(pairs)) == len(pairs)


def test_a_model_grows_to_twice_the_resolution_keeping_its_trained_layers(tiny_dataset, tmp_path):
    from dataclasses import replace

    from vunet_video.train.grow import can_grow, load_grown
    from vunet_video.train.train import train

    small = small_model(seed=5)
    grown_cfg = replace(SMALL, image_size=128, base_channels=4)
    assert can_grow(SMALL, grown_cfg) and not can_grow(SMALL, replace(grown_cfg, base_channels=8))
    grown = VUNet(grown_cfg)
    copied = load_grown(grown, small)
    # Everything but the 64 px stems and output convolution comes over, one scale deeper.
    assert len(copied) == len(small.state_dict()) - 6
    g, s = grown.state_dict(), small.state_dict()
    for new, old in [("shape_up.blocks.1.0.conv1.weight", "shape_up.blocks.0.0.conv1.weight"),
                     ("appearance_up.downs.1.conv.weight", "appearance_up.downs.0.conv.weight"),
                     ("decoder.ups.0.conv.weight", "decoder.ups.0.conv.weight"),
                     ("appearance_down.to_q.1.weight", "appearance_down.to_q.1.weight")]:
        assert torch.equal(g[new], s[old]), new

    # Training starts from it when the config asks for the grown shape, with batches made in a
    # worker process.
    data, _ = tiny_dataset
    start = tmp_path / "small.safetensors"
    save_weights(small, start)
    lines = []
    cfg = replace(_train_cfg(data, tmp_path / "run", steps=2), model=grown_cfg, lr=1e-7, lr_final=1e-7,
                  init=str(start), workers=1)
    after = load_model(train(cfg, log=lines.append))
    assert any(line.startswith("grown from") for line in lines), lines
    assert after.cfg.image_size == 128
    k = "decoder.pre.0.conv1.weight"
    assert torch.allclose(after.state_dict()[k], s[k], atol=1e-4)
    with pytest.raises(VunetError, match="weights are for"):
        train(replace(cfg, model=replace(grown_cfg, image_size=256)), log=lambda *_: None)
    with pytest.raises(VunetError, match="worker_start"):
        train(replace(cfg, worker_start="thread"), log=lambda *_: None)


def test_a_timed_run_ends_its_learning_rate_schedule_on_time():
    from vunet_video.train.train import TrainConfig, lr_at

    cfg = TrainConfig(lr=1e-3, lr_final=1e-5, steps=1_000_000, max_minutes=10.0)
    assert lr_at(cfg, 0, 0.0) == pytest.approx(1e-3)
    assert lr_at(cfg, 100, 5.0) == pytest.approx((1e-3 + 1e-5) / 2)
    assert lr_at(cfg, 200, 10.0) == pytest.approx(1e-5)
    untimed = TrainConfig(lr=1e-3, lr_final=1e-5, steps=100)
    assert lr_at(untimed, 50, 99.0) == pytest.approx((1e-3 + 1e-5) / 2)


def test_a_resumed_timed_run_counts_the_time_before_the_resume(tiny_dataset, tmp_path):
    from vunet_video.train.train import train

    data, _ = tiny_dataset
    cfg = replace(_train_cfg(data, tmp_path / "run", steps=2), max_minutes=10.0)
    train(cfg, log=lambda *_: None)
    ckpt = tmp_path / "run" / "checkpoint.pt"
    state = torch.load(ckpt, weights_only=False)
    assert state["step"] == 2 and 0 < state["minutes"] < 10
    state["minutes"] = 10.0  # as if the first part had used the whole budget
    torch.save(state, ckpt)
    lines = []
    train(replace(cfg, steps=50), resume=str(ckpt), log=lines.append)
    assert torch.load(ckpt, weights_only=False)["step"] == 3, lines
    assert any("max_minutes reached" in line for line in lines)


def test_the_fine_tune_runs_in_bf16_only_where_it_is_native(tiny_dataset, monkeypatch):
    """Emulated bf16 (a CPU without AVX-512 BF16) tuned about 6x slower than fp32, so the tune
    autocasts only where bf16 is native; the two tunes have different cache keys."""
    import vunet_video.model.finetune as ft
    from vunet_video.train.dataset import PairDataset

    data, _ = tiny_dataset
    ds = PairDataset(data, 64, "heldout")
    image, pose, mask = ds.images[0], ds.poses[0], ds.masks[0]
    model = small_model()
    cfg = ft.FinetuneConfig(steps=1, batch_size=1)
    keys, dtypes = [], []
    for native in (True, False):
        monkeypatch.setattr(ft, "native_bf16", lambda device, native=native: native)
        seen = []
        hook = torch.nn.modules.module.register_module_forward_hook(
            lambda module, args, out: seen.append(out.dtype) if isinstance(module, torch.nn.Conv2d) else None)
        try:
            ft.finetune_on_subject(model, image, pose, mask, cfg)
        finally:
            hook.remove()
        dtypes.append(set(seen))
        keys.append(ft.TunedCache.key(model, image, pose, mask, cfg))
    assert dtypes == [{torch.bfloat16}, {torch.float32}]
    assert keys[0] != keys[1]


def test_the_tunes_adam_steps_as_torchs_does():
    """The per-subject tune's Adam (model/finetune.py) is written out so that no torch
    optimizer is made (the first one imports torch._dynamo: 1.6 s). It must move a VUNet's
    parameters exactly as torch.optim.Adam does, bit for bit, over several steps, and skip
    parameters without a gradient as torch does."""
    from vunet_video.model.finetune import Adam

    torch.manual_seed(0)
    theirs, ours = VUNet(SMALL), VUNet(SMALL)
    ours.load_state_dict(theirs.state_dict())
    start = {n: p.detach().clone() for n, p in theirs.named_parameters()}
    frozen = set(sorted(start)[:3])  # parameters that get no gradient
    opts = [torch.optim.Adam(theirs.parameters(), lr=1e-3, betas=(0.5, 0.9)),
            Adam(ours.parameters(), lr=1e-3, betas=(0.5, 0.9))]
    for step in range(5):
        for model, opt in zip((theirs, ours), opts):
            opt.zero_grad(set_to_none=True)
            loss = sum((p * (1 + step)).sin().sum() for n, p in model.named_parameters() if n not in frozen)
            loss.backward()
            opt.step()
    for (name, a), b in zip(theirs.named_parameters(), ours.parameters()):
        assert torch.equal(a, b), name
        assert torch.equal(a, start[name]) == (name in frozen), name
