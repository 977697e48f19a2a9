"""The video path's decoder run by ONNX Runtime: the CPU's fp32 fast path.

Each video frame needs only the decoder (the appearance code is inferred once per subject),
so its cost per frame is most of the render stage. On a CPU with native bf16 (AVX-512 BF16
or AMX) torch's bf16 path is the fast one (render/synthesizer.py). Elsewhere the decoder
runs in fp32, and there ONNX Runtime runs the same graph fastest: per frame, in batches of
8 at 128 px on one thread of an AMD Zen 3 CPU, 42-49 ms against torch's 57-80 (46-62 with
channels_last weights, 74 traced and frozen by TorchScript), its outputs within 2e-5 of
torch's (benchmarks/stage_settings.py, section runtime: alone and in the real pipeline).

`OnnxDecoder` exports one model's decoder once (about 1.2 s, in memory; a tuned model is
exported after its tune) and is then called like `VUNet.decode(..., blend="weight")`.
"""

from __future__ import annotations

import io
import logging
import warnings

import numpy as np
import torch

from .parts import NUM_PARTS
from .vunet import VUNet

log = logging.getLogger(__name__)


class _Decode(torch.nn.Module):
    """decode(stickman, [z0, z1, ...], warp, blend="weight") with plain tensor arguments, for export."""

    def __init__(self, model: VUNet):
        super().__init__()
        self.model = model

    def forward(self, stickman, warp, *latents):
        return self.model.decode(stickman, list(latents), warp=warp, blend="weight")


class OnnxDecoder:
    """`model`'s decoder (a model with a warp skip, on the CPU), exported to ONNX in fp32 and
    run by ONNX Runtime with `threads` intra-op threads (None: torch's count at the time)."""

    def __init__(self, model: VUNet, threads: int | None = None):
        import onnxruntime as ort

        if not model.cfg.warp_skip or next(model.parameters()).device.type != "cpu":
            raise ValueError("OnnxDecoder needs a model with a warp skip, on the CPU")
        size = model.cfg.image_size
        module = _Decode(model).eval()
        with torch.no_grad():  # (latents only for their shapes)
            latents = model.encode(torch.zeros(1, 6 * NUM_PARTS, model.cfg.part_size, model.cfg.part_size))
        args = (torch.zeros(2, 3, size, size), torch.zeros(2, 4, size, size),
                *[z.float().expand(2, -1, -1, -1) for z in latents])
        self.names = ["stickman", "warp"] + [f"z{i}" for i in range(len(latents))]
        buffer = io.BytesIO()
        with warnings.catch_warnings():  # (the TorchScript exporter's deprecation and tracer notes)
            warnings.simplefilter("ignore")
            torch.onnx.export(module, args, buffer,
                              input_names=self.names, output_names=["out", "weight"], opset_version=17,
                              dynamo=False, dynamic_axes={name: {0: "batch"} for name in self.names + ["out", "weight"]})
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        # No spinning between calls: the pipeline's other threads need the cores then.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])

    def __call__(self, stickman: torch.Tensor, latents: list[torch.Tensor], warp: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """(out (B, 4, S, S), blend weight (B, 1, S, S)) as VUNet.decode(..., blend="weight") gives them."""
        batch = stickman.shape[0]
        arrays = [stickman, warp] + [z.expand(batch, -1, -1, -1) for z in latents]
        feed = {name: np.ascontiguousarray(a.detach().cpu().float().numpy()) for name, a in zip(self.names, arrays)}
        out, weight = self.session.run(None, feed)
        return torch.from_numpy(out), torch.from_numpy(weight)
