"""Rendering people with the VUNet: encode a subject once, decode it in any pose.

`Synthesizer` wraps a loaded model. `encode` computes a subject's appearance code (the
posterior means) from a photo and its pose, once; `render` then needs only the decoder for
each target pose (and, for a model with a warp skip, a warp of the subject's body parts onto
that pose, a few milliseconds of OpenCV), which is what makes video cheap. Poses passed to `render` are in the
subject's crop frame (model pixels, S x S); `Subject.box` maps between that frame and the
photo.

The paper's three uses on whole photos (render a subject in a given pose, put the
appearance of one photo on the shape of another, sample new appearances from the prior)
are built on this in `vunet_video/stills.py`.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from dataclasses import dataclass

import numpy as np
import torch

from ..model.inputs import (appearance_input, off_plain_background, on_plain_background, stickman_input, to_image,
                            to_tensor, warp_input)
from ..model.vunet import VUNet
from ..pose.keypoints import Pose
from .framing import Box, crop, person_box

log = logging.getLogger(__name__)


@dataclass
class Appearance:
    """What rendering needs of one person: their appearance code, and the framed crop (on
    plain grey) with its pose that a model with a warp skip copies texture from."""

    latents: list[torch.Tensor]  # posterior means, coarsest first, batch of 1
    crop: np.ndarray             # S x S RGB uint8, the person on plain grey
    pose: Pose                   # their pose in model pixels
    mesh: object | None = None   # their BodyMesh on the crop, for weights trained on mesh warps


@dataclass
class Subject:
    """A person ready to be re-rendered: their photo, pose, crop and appearance."""

    image: np.ndarray          # the whole photo, RGB uint8
    pose: Pose                 # their pose in photo pixels
    box: Box                   # the model's square crop, in photo pixels
    crop_pose: Pose            # their pose in model pixels
    appearance: Appearance
    synth: "Synthesizer"       # what renders them: the encoding one, or its copy fine-tuned on them


class Synthesizer:
    def __init__(self, model: VUNet | None = None, device: str | torch.device = "cpu",
                 bf16: bool | None = None, onnx: bool | None = False, int8: bool | None = False, int8_cache=None):
        if model is None:
            from ..model.io import load_model
            model = load_model(device=device)
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.crop_size = model.cfg.image_size  # S: the model's square person crop, in px
        # bf16 autocast (with channels_last on a CPU) decodes 1.7x faster than fp32 on a CPU
        # with native bf16 (benchmarks/results/stage_settings.md: output SSIM against fp32
        # there); None: bf16 where it is native (model.io.native_bf16).
        if bf16 is None:
            from ..model.io import native_bf16

            bf16 = native_bf16(self.device)
        self.bf16 = bool(bf16)
        # The video path's decoder (render_unblended) runs a bf16 copy of the weights outside
        # autocast: the same numbers (autocast runs these convolutions in bf16 too; output
        # identical on the dev clips) without re-casting every weight on every call, 10-20%
        # less decoder time on the 2-core dev machine.
        self._bf16_model = None
        self._bf16_latents: tuple[Appearance, list[torch.Tensor]] | None = None  # the last appearance's, converted once
        if self.bf16 and self.device.type == "cpu":
            self.model = self.model.to(memory_format=torch.channels_last)
        # onnx: the video path's decoder (render_unblended) in ONNX Runtime, 1.3-1.9x torch's
        # fp32 speed on a CPU (model/onnx_decoder.py). None: wherever that applies (fp32, on
        # a CPU), as `animate` asks; False by default, since the export (about 1.2 s, at the
        # first render_unblended call, once per model: a tuned copy after its tune) pays off
        # over a video's frames, not for one still.
        # int8 (model.precision "int8"): the video path's decoder (render_unblended) in ONNX
        # Runtime quantized to 8-bit integers, calibrated on the subject (calibrate_int8; else
        # on the first batch); a CPU path only, so it implies onnx. None: wherever that
        # applies (model.precision "auto", as `animate` asks). It is the fastest CPU decoder
        # with or without native bf16: on the dev machine (AVX-512 BF16) 12.0 ms per frame
        # against torch bf16's 16.5 (one thread, batches of 8); frames SSIM 0.9997-0.9999
        # against fp32's (bf16's 0.9999-1.0000), the same limb error
        # (benchmarks/results/stage_settings.md). bf16 still serves the rest (the subject's
        # encoding, stills, the 128 px path).
        applies = self.device.type == "cpu" and self.model.cfg.warp_skip
        self.int8 = applies if int8 is None else bool(int8) and applies
        if int8 and not self.int8:
            log.warning("int8 decoding applies to a CPU's decoder of a model with a warp skip: "
                        "this one decodes in %s on %s", "bf16" if self.bf16 else "fp32", self.device.type)
        if onnx is None:
            onnx = not self.bf16 and self.device.type == "cpu" and self.model.cfg.warp_skip
        self.onnx = bool(onnx) or self.int8
        if self.bf16 and self.device.type == "cpu" and not self.int8:  # (with int8 the copy would go unused)
            self._bf16_model = copy.deepcopy(self.model).to(torch.bfloat16)
        self._onnx_decoder = None
        self._int8_for: Appearance | None = None  # the appearance the int8 decoder was calibrated on
        # Where calibrate_int8 takes a quantized decoder from and keeps it (a
        # model.onnx_decoder.QuantizedCache; `animate` passes one), or None: quantized every run.
        self.int8_cache = int8_cache

    def _autocast(self):
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def encode(self, image: np.ndarray, pose: Pose, mask: np.ndarray | None = None, fill: float = 0.8,
               finetune_steps: int = 0, progress=None, finetune_cache=None) -> Subject:
        """Appearance code of the person at `pose` (photo pixels) in `image` (RGB uint8).

        mask: the person's segmentation (H, W) in [0, 1], as MediaPipePose(segmentation=True)
        gives; the model was trained on people cut out this way, so pass it when you can.
        finetune_steps: when > 0, first fine-tune a copy of the model on this person
        (`personalised`); the Subject's `synth` then renders with that copy. progress,
        finetune_cache: as for `personalised`.
        """
        box = person_box(pose, fill)
        cropped = crop(image, box, self.crop_size)
        crop_mask = None if mask is None else crop(mask.astype(np.float32), box, self.crop_size, border="constant")
        crop_pose = box.pose_to_crop(pose, self.crop_size)
        synth = self.personalised(cropped, crop_pose, crop_mask, finetune_steps, progress=progress,
                                  cache=finetune_cache) if finetune_steps > 0 else self
        return Subject(image, pose, box, crop_pose, synth.encode_crop(cropped, crop_pose, crop_mask), synth)

    def personalised(self, crop_image: np.ndarray, crop_pose: Pose, crop_mask: np.ndarray | None,
                     steps: int = 100, seed: int = 0, progress=None, cache=None) -> "Synthesizer":
        """A Synthesizer whose model is a copy of this one fine-tuned for `steps` on one
        framed S x S subject crop (model/finetune.py); this one is left unchanged.
        progress: called with the number of steps done after each step. cache: a
        model.finetune.TunedCache to take the tune from when it holds it (and keep it in)."""
        from ..model.finetune import FinetuneConfig, finetune_on_subject

        warper = None
        if getattr(self.model, "extra", {}).get("warp") == "mesh":
            # Weights trained on the mesh's warps are tuned on them too (train/batches.py).
            from .full_resolution import crop_mesh_warper

            warper = crop_mesh_warper(self.crop_size)
        with torch.enable_grad():
            model = finetune_on_subject(self.model, crop_image, crop_pose, crop_mask,
                                        FinetuneConfig(steps=steps, seed=seed), progress, cache, warper)
        return Synthesizer(model, self.device, self.bf16, self.onnx, self.int8, self.int8_cache)

    @torch.no_grad()
    def encode_crop(self, crop_image: np.ndarray, crop_pose: Pose,
                    crop_mask: np.ndarray | None = None) -> Appearance:
        """Appearance of an already framed S x S person crop (pose in model pixels)."""
        mesh = None
        if self.model.cfg.warp_skip and (getattr(self.model, "extra", None) or {}).get("warp") == "mesh":
            # Weights trained on the mesh's warps get them here too (train/batches.py builds
            # them the same way: the crop as it is, its soft mask).
            from .mesh import BodyMesh

            mask = None if crop_mask is None else crop_mask.astype(np.float32) * (1 / 255 if crop_mask.dtype == np.uint8
                                                                                   else 1.0)
            mesh = BodyMesh(crop_image, crop_pose, mask)
        crop_image = on_plain_background(crop_image, crop_mask)
        parts = appearance_input(crop_image, crop_pose, self.model.cfg.part_size)[None].to(self.device)
        with self._autocast():
            latents = [z.float() for z in self.model.encode(parts)]
        return Appearance(latents, crop_image, crop_pose, mesh)

    @torch.no_grad()
    def render(self, appearance: Appearance | None, poses: list[Pose], generator: torch.Generator | None = None,
               on_grey: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Render poses (model pixels) with one appearance.

        appearance: from `encode_crop` (a Subject's `appearance`), or None to draw
        appearances from the prior.
        Returns (rgb (N, S, S, 3) uint8, alpha (N, S, S) float32 in [0, 1]). The decoder
        paints the person over plain grey; rgb is the person's own colour with that grey
        taken out by the matte (straight alpha, ready to composite), or with on_grey the
        image as the decoder drew it (the model's S x S crop, as `render`/`sample` save).
        """
        stick = torch.stack([stickman_input(p, self.crop_size) for p in poses]).to(self.device)
        latents, warp = None, None
        if appearance is not None:
            latents = appearance.latents
            if self.model.cfg.warp_skip and appearance.mesh is not None:
                from .full_resolution import crop_mesh_warp

                warp = torch.stack([crop_mesh_warp(appearance.mesh, p, self.crop_size) for p in poses]).to(self.device)
            elif self.model.cfg.warp_skip:
                warp = torch.stack([warp_input(appearance.crop, appearance.pose, p) for p in poses]).to(self.device)
        return self._decode(stick, latents, warp, generator, on_grey)

    @torch.no_grad()
    def render_stickman(self, appearance: Appearance | None, stickman: np.ndarray,
                        generator: torch.Generator | None = None, on_grey: bool = True) -> np.ndarray:
        """Decode a drawn stickman image (S x S, the model's shape input) with an appearance
        (None = drawn from the prior): (S, S, 3) RGB, on grey unless on_grey=False. A drawn
        stickman has no joints to warp the subject's parts to, so a warp-skip model renders
        it from the appearance code alone."""
        latents = None if appearance is None else appearance.latents
        rgb, _ = self._decode(to_tensor(stickman)[None].to(self.device), latents, None, generator, on_grey)
        return rgb[0]

    @torch.no_grad()
    def render_unblended(self, appearance: Appearance, poses: list[Pose], warp: torch.Tensor,
                         with_weight: bool = False):
        """Render poses (model pixels) with a warp the caller made (B, 4, S, S, as
        inputs.warp_input lays it out) for the warp skip's features, without blending the
        colour towards it: (rgb (N, S, S, 3) uint8, the decoder's own colour, straight;
        alpha (N, S, S)), and with `with_weight` the blend head's weight (N, S, S) in [0, 1]
        as a third item (None for a model without a warp skip, which renders as `render` does)."""
        if not self.model.cfg.warp_skip:
            rgb, alpha = self.render(appearance, poses)
            return (rgb, alpha, None) if with_weight else (rgb, alpha)
        stick = torch.stack([stickman_input(p, self.crop_size) for p in poses]).to(self.device)
        if self.onnx and self._onnx() is not None:
            out, weight = self._onnx_decoder(stick, appearance.latents, warp)
        elif self._bf16_model is not None:
            def bf16(x):
                return x.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)

            if self._bf16_latents is None or self._bf16_latents[0] is not appearance:
                self._bf16_latents = (appearance, [z.to(torch.bfloat16) for z in appearance.latents])
            out, weight = self._bf16_model.decode(bf16(stick), self._bf16_latents[1], warp=bf16(warp), blend="weight")
            out = out.float()
        else:
            with self._autocast():
                out, weight = self.model.decode(stick, appearance.latents, warp=warp.to(self.device), blend="weight")
                out = out.float()
        alpha = torch.sigmoid(out[:, 3]).cpu().numpy().astype(np.float32)
        rgb = np.stack([off_plain_background(to_image(o[:3]), a) for o, a in zip(out, alpha)])
        if with_weight:
            return rgb, alpha, weight[:, 0].float().cpu().numpy()
        return rgb, alpha

    def needs_int8_calibration(self, appearance: Appearance) -> bool:
        """Whether calibrate_int8 would quantize for this appearance (int8, and not yet for it)."""
        return self.int8 and self._int8_for is not appearance

    def int8_from_cache(self, appearance: Appearance, parts: list) -> bool:
        """With int8 and int8_cache: take the decoder quantized for this appearance from the
        cache, `parts` being what its calibration inputs are made from (see calibrate_int8).
        True when it was there (or nothing is to be done)."""
        if not self.needs_int8_calibration(appearance):
            return True
        if self.int8_cache is None or self._onnx(export=False) is None:
            return False
        decoder = self._onnx_decoder
        if decoder.load_quantized(self.int8_cache, self.int8_cache.key(decoder.digest(), parts)):
            self._int8_for = appearance
            return True
        return False

    @torch.no_grad()
    def calibrate_int8(self, appearance: Appearance, poses: list[Pose], warp: torch.Tensor,
                       parts: list | None = None) -> None:
        """With int8: quantize the decoder on these inputs (as render_unblended takes them),
        once per appearance, and keep it in int8_cache under `parts` (what the inputs are
        made from; None: not kept); without int8, nothing."""
        if not self.needs_int8_calibration(appearance) or self._onnx(export=False) is None:
            return
        stick = torch.stack([stickman_input(p, self.crop_size) for p in poses])
        decoder = self._onnx_decoder
        key = None if self.int8_cache is None or parts is None else self.int8_cache.key(decoder.digest(), parts)
        if decoder.quantize([decoder.feed(stick, appearance.latents, warp)], self.int8_cache, key):
            self._int8_for = appearance
        else:
            self.int8 = False

    def _onnx(self, export: bool = True):
        """The ONNX Runtime decoder, made at the first call, with its fp32 export when
        `export` and it does not run in int8 yet (one taken from the cache needs none); None
        (and torch from then on, with a warning) when the export fails."""
        try:
            if self._onnx_decoder is None:
                from ..model.onnx_decoder import OnnxDecoder

                self._onnx_decoder = OnnxDecoder(self.model, int8=self.int8)
            if export and not self._onnx_decoder.quantized:
                self._onnx_decoder.session  # (exported and loaded now)
        except Exception as e:  # any exporter or runtime failure: torch decodes the same
            log.warning("the decoder runs in torch: its ONNX Runtime export failed (%s)", e)
            self.onnx, self._onnx_decoder = False, None
        return self._onnx_decoder

    def _decode(self, stick, latents, warp, generator, on_grey: bool) -> tuple[np.ndarray, np.ndarray]:
        with self._autocast():
            out = self.model.decode(stick, latents, generator=generator, warp=warp).float()
        rgb = np.stack([to_image(o[:3]) for o in out])
        alpha = torch.sigmoid(out[:, 3]).cpu().numpy().astype(np.float32)
        if not on_grey:
            rgb = np.stack([off_plain_background(c, a) for c, a in zip(rgb, alpha)])
        return rgb, alpha
