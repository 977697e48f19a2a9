"""The video path's decoder run by ONNX Runtime: the CPU's fast path, in int8 by default.

Each video frame needs only the decoder (the appearance code is inferred once per subject),
so its cost per frame is most of the render stage. In fp32 (model.precision "fp32"), ONNX
Runtime runs the same graph fastest: per frame, in batches of
8 at 128 px on one thread of an AMD Zen 3 CPU, 42-49 ms against torch's 57-80 (46-62 with
channels_last weights, 74 traced and frozen by TorchScript), its outputs within 2e-5 of
torch's (benchmarks/stage_settings.py, section runtime: alone and in the real pipeline).

`OnnxDecoder` exports one model's decoder once (0.4-1.2 s, in memory, at its first use; a
tuned model is exported after its tune; none when its int8 decoder is read from the cache)
and is then called like `VUNet.decode(..., blend="weight")`.

With `int8` (model.precision "int8", and "auto" for `animate` on any CPU: since 0.3.14 also
on one with native bf16, where it runs 12.0 ms per frame against torch bf16's 16.5) the
decoder's convolutions run on 8-bit integers: ONNX Runtime's static quantization (QDQ:
per-channel int8 weights, uint8 activations with min/max ranges). `animate` calibrates it
on the subject alone (render/full_resolution.py, calibration_poses: their own pose and
seven with the arms moved), so the same subject gets
the same int8 decoder whatever the video; a decoder given no calibration is calibrated on
its first call's inputs. On the Zen 3 CPU above, alone: 27-30 ms per frame against fp32's
44-49. The colour's RMS distance from fp32's (range -1..1) on a dev clip: 0.0144 calibrated
on the subject's eight poses, 0.0163 on the clip's first batch, 0.0195 on the subject's own
pose alone.
In `animate`: output SSIM 0.9998-0.9999 against fp32's, the same limb error (3.8 / 1.9
degrees on two dev clips), 7-12% more frames/s on an 18 s clip; the calibration and
quantization (mostly the quantizer's own Python) take about 3.5 s (3.4-3.7 measured on a
2-core AMD Zen 3), once per subject and model, before the first frame
(benchmarks/stage_settings.py, section int8). An activation beyond the range the
calibration reached is clipped to it. `QuantizedCache` keeps the result per
fp32 decoder and subject in the user's cache folder, so the next video of the same subject
loads it instead (a file read and a session, about 0.15 s).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import warnings
from pathlib import Path

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


# Part of OnnxDecoder.digest: bump when what the export makes of the same weights changes
# (_Decode, the opset, the exporter's options).
EXPORT_VERSION = b"vunet-video decoder export 1"


class OnnxDecoder:
    """`model`'s decoder (a model with a warp skip, on the CPU), exported to ONNX in fp32 and
    run by ONNX Runtime with `threads` intra-op threads (None: torch's count at the time);
    with `int8`, quantized by `quantize` (or else on the first call's inputs; see the module
    docstring)."""

    def __init__(self, model: VUNet, threads: int | None = None, int8: bool = False):
        if not model.cfg.warp_skip or next(model.parameters()).device.type != "cpu":
            raise ValueError("OnnxDecoder needs a model with a warp skip, on the CPU")
        self.model = model
        with torch.no_grad():  # (latents only for their shapes)
            self._latents = model.encode(torch.zeros(1, 6 * NUM_PARTS, model.cfg.part_size, model.cfg.part_size))
        self.names = ["stickman", "warp"] + [f"z{i}" for i in range(len(self._latents))]
        self.threads = threads or torch.get_num_threads()
        self._fp32_model: bytes | None = None
        self._session_now = None
        self._digest: bytes | None = None
        self.int8 = int8
        self.quantized = False  # (True once the int8 session replaced the fp32 one)
        self.quantize_s = 0.0   # seconds the calibration and quantization (or the cache's load) took
        self.from_cache = False  # (True when the int8 model came from a QuantizedCache)

    @property
    def fp32_model(self) -> bytes:
        """The decoder exported to ONNX in fp32 (bytes), made at the first use: an int8
        decoder read from a QuantizedCache needs none (0.4 s saved before the first frame)."""
        if self._fp32_model is None:
            size = self.model.cfg.image_size
            args = (torch.zeros(2, 3, size, size), torch.zeros(2, 4, size, size),
                    *[z.float().expand(2, -1, -1, -1) for z in self._latents])
            buffer = io.BytesIO()
            with warnings.catch_warnings():  # (the TorchScript exporter's deprecation and tracer notes)
                warnings.simplefilter("ignore")
                torch.onnx.export(_Decode(self.model).eval(), args, buffer,
                                  input_names=self.names, output_names=["out", "weight"], opset_version=17,
                                  dynamo=False,
                                  dynamic_axes={name: {0: "batch"} for name in self.names + ["out", "weight"]})
            self._fp32_model = buffer.getvalue()
        return self._fp32_model

    @property
    def session(self):
        """The ONNX Runtime session that decodes: the int8 one once quantized or loaded,
        else the fp32 export's (made at the first use)."""
        if self._session_now is None:
            self._session_now = self._session(self.fp32_model)
        return self._session_now

    def digest(self) -> bytes:
        """What the export is made of: the model's configuration and weights, torch's
        version and EXPORT_VERSION (QuantizedCache's key, without exporting). Computed once:
        the decoder's weights do not change."""
        if self._digest is None:
            h = hashlib.sha256(EXPORT_VERSION + torch.__version__.encode() + repr(self.model.cfg).encode())
            for name, tensor in self.model.state_dict().items():
                h.update(name.encode() + np.ascontiguousarray(tensor.detach().cpu().float().numpy()).tobytes())
            self._digest = h.digest()
        return self._digest

    def _session(self, model: bytes):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        # No spinning between calls: the pipeline's other threads need the cores then.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def __call__(self, stickman: torch.Tensor, latents: list[torch.Tensor], warp: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """(out (B, 4, S, S), blend weight (B, 1, S, S)) as VUNet.decode(..., blend="weight") gives them.
        int8 and not yet quantized: calibrated on this call's inputs first."""
        feed = self.feed(stickman, latents, warp)
        if self.int8 and not self.quantized:
            self.quantize([feed])
        out, weight = self.session.run(None, feed)
        return torch.from_numpy(out), torch.from_numpy(weight)

    def feed(self, stickman: torch.Tensor, latents: list[torch.Tensor], warp: torch.Tensor) -> dict[str, np.ndarray]:
        """The session's inputs (input name -> array) for a batch of decoder inputs."""
        batch = stickman.shape[0]
        arrays = [stickman, warp] + [z.expand(batch, -1, -1, -1) for z in latents]
        return {name: np.ascontiguousarray(a.detach().cpu().float().numpy()) for name, a in zip(self.names, arrays)}

    def load_quantized(self, cache: "QuantizedCache", key: str) -> bool:
        """From now on, run the int8 decoder `cache` holds under `key` (see quantize); False
        when it holds none (a damaged file is removed, with a warning)."""
        import time

        start = time.perf_counter()
        data = cache.load(key)
        if data is None:
            return False
        try:
            self._session_now = self._session(data)
        except Exception as e:  # a damaged file is a cache miss, never an error
            log.warning("ignoring the cached int8 decoder %s (%s)", cache.path(key), e)
            cache.path(key).unlink(missing_ok=True)
            return False
        self.quantized = self.from_cache = True
        self.quantize_s = time.perf_counter() - start
        return True

    def quantize(self, feeds: list[dict[str, np.ndarray]], cache: "QuantizedCache | None" = None,
                 key: str | None = None) -> bool:
        """From now on, run the decoder in int8, its activation ranges calibrated on `feeds`
        (input name -> array, as `feed` makes them); the result is kept in `cache` under
        `key` when both are given. False, and fp32 from then on with a warning, when the
        quantizer fails."""
        import time

        start = time.perf_counter()
        try:
            data = self._quantize(feeds)
        except Exception as e:  # any quantizer or runtime failure: the fp32 session decodes the same
            log.warning("the decoder runs in fp32: its int8 quantization failed (%s)", e)
            self.int8 = False
            return False
        if cache is not None and key is not None:
            cache.save(key, data)
        self.quantized, self.from_cache = True, False
        self.quantize_s = time.perf_counter() - start
        return True

    def _quantize(self, feeds: list[dict[str, np.ndarray]]) -> bytes:
        """The int8 model (ONNX bytes), now also the session's."""
        import tempfile

        import onnx
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

        class Feeds(CalibrationDataReader):
            def __init__(self):
                self.left = iter(feeds)

            def get_next(self):
                return next(self.left, None)

        # (The quantizer works on files: its calibration copy and the result.)
        with tempfile.TemporaryDirectory(prefix="vunet-int8-") as tmp:
            out = Path(tmp) / "decoder_int8.onnx"
            with warnings.catch_warnings(), _root_logger_quiet():
                warnings.simplefilter("ignore")
                quantize_static(onnx.load_from_string(self.fp32_model), out, Feeds(), quant_format=QuantFormat.QDQ,
                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
            data = out.read_bytes()
        self._session_now = self._session(data)
        return data


class QuantizedCache:
    """The int8 decoders of the `keep` most recently used subjects, one .onnx file each
    (about 5 MB for the shipped model), in `folder`/int8 (default: the tuned weights' cache
    folder, model/finetune.py's cache_dir). Keyed by the decoder's weights and configuration
    and torch's version (OnnxDecoder.digest: no export needed to find it), the ONNX Runtime version
    and what the caller's calibration inputs are made from (`parts`), so a tune, a subject
    or a quantizer that differs is a miss. Not by the inputs themselves: the appearance
    code a freshly tuned model computes differs in its last bits from the one the same
    weights compute once loaded from the tune cache, so every second run missed."""

    VERSION = b"vunet-video int8 decoder 2"  # part of every key: bump when the quantization changes

    def __init__(self, folder: str | Path | None = None, keep: int = 10):
        from .finetune import cache_dir

        self.folder = Path(folder or cache_dir()) / "int8"
        self.keep = keep

    @classmethod
    def key(cls, decoder: bytes, parts: list) -> str:
        """decoder: OnnxDecoder.digest(); parts: arrays (or None, or anything with a repr)
        the calibration is made from."""
        import onnxruntime

        h = hashlib.sha256(cls.VERSION)
        h.update(onnxruntime.__version__.encode())
        h.update(decoder)
        for part in parts:
            if isinstance(part, np.ndarray):
                h.update(np.ascontiguousarray(part).tobytes() + str((part.shape, part.dtype)).encode())
            else:
                h.update(repr(part).encode())
        return h.hexdigest()[:40]

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.onnx"

    def load(self, key: str) -> bytes | None:
        """The cached model's bytes, or None."""
        path = self.path(key)
        try:
            data = path.read_bytes()
            os.utime(path)  # most recently used
        except OSError:
            return None
        return data

    def save(self, key: str, data: bytes) -> None:
        """Store the model (all or nothing), then forget the least recently used beyond
        `keep`. A cache that cannot be written is skipped with a warning."""
        from .finetune import keep_in_cache

        keep_in_cache(self.path(key), lambda tmp: tmp.write_bytes(data), self.keep, "the int8 decoder")


@contextlib.contextmanager
def _root_logger_quiet():
    """The quantizer logs its advice ("consider pre-processing") with logging.warning on the
    root logger, which would also install a stderr handler for good (logging.basicConfig):
    while it runs, the root logger drops its own records and holds a NullHandler."""
    root, hold = logging.getLogger(), logging.NullHandler()

    def drop(record):
        return False

    root.addHandler(hold)
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)
        root.removeHandler(hold)
