"""Typed settings: one frozen dataclass per preset section, validated in one place.

A preset file (`presets/*.toml`) is a set of these tables; `presets.load_settings` reads
one over `presets/default.toml` (which holds every key with its default value: the
dataclasses carry no defaults of their own, so there is one list of defaults) and builds
a `Settings`. Each component receives only its section (the pose stage a
`PoseSettings`, the sink an `OutputSettings`, ...).

Every rule lives here: a field's type comes from its annotation, its allowed values or
range from its metadata, and the rules that tie two sections together from
`Settings.__post_init__`. A value that breaks one is a one-line VunetError naming the
preset file (or the option, for a value from the command line).

Names: `render.size` is the output's longer side in pixels; the model's square crop is
`Synthesizer.crop_size`. Frame sizes in the API are (width, height) tuples.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path

from .errors import VunetError


def _choices(*values: str) -> dict:
    return {"choices": values}


def _range(low, high) -> dict:
    return {"range": (low, high)}


# x264's speed presets, fastest first (x264 --help).
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")
# render.detail: the photo's own pixels at the output's resolution, or the model's crop scaled up.
DETAILS = ("photo", "model")
# render.size: 0 (the photo's own size) or a longer side in this range.
SIZE_RANGE = (64, 8192)
# render.size = 0 keeps the photo's size up to this longer side (1280 px: the 720p class), and
# scales bigger photos down to it: a 12 MP phone photo would otherwise give a 4000x6000
# video that few players play and that costs ~10x the render and encode time of 720p (issue 12).
AUTO_SIZE_MAX = 1280


def _pose_backends() -> tuple[str, ...]:
    from .pose.estimator import backend_names

    return tuple(backend_names())


def _export_names() -> tuple[str, ...]:
    from .video.formats import EXPORTS

    return tuple(EXPORTS)


@dataclass(frozen=True)
class ModelSettings:
    weights: str = field(metadata={"path": True})     # "" = $VUNET_WEIGHTS, else the shipped weights
    device: str = field(metadata=_choices("auto", "cpu", "cuda"))
    precision: str = field(metadata=_choices("auto", "fp32", "bf16", "int8"))  # of the decoder; auto = int8 for animate's video path on a CPU (fp32 with runtime torch), else bf16 where native
    runtime: str = field(metadata=_choices("auto", "torch"))  # of the fp32 CPU decoder; auto = ONNX Runtime
    finetune_steps: int = field(metadata=_range(0, 100_000))
    finetune_cache: bool  # keep tuned weights (and int8 decoders) per subject in the user's cache folder


@dataclass(frozen=True)
class PoseSettings:
    backend: str = field(metadata={"choices": _pose_backends})
    det_model: str = field(metadata={"path": True})
    pose_model: str = field(metadata={"path": True})
    min_score: float = field(metadata=_range(0.0, 1.0))
    stride: int = field(metadata=_range(1, 8))  # pose every Nth driving frame, interpolate between
    person: str          # whom to follow in the driving video: a rank ("1" = most prominent), left, right, "X,Y"
    subject_person: str  # whom to animate in a subject photo with several people (same forms)

    def __post_init__(self):
        from .pose.tracking import PersonChoice

        for key in ("person", "subject_person"):
            try:
                PersonChoice.parse(getattr(self, key))
            except VunetError as e:
                raise ValueError(f"pose.{key}: {e.problem}") from None


@dataclass(frozen=True)
class SmoothingSettings:
    enabled: bool
    min_cutoff: float = field(metadata=_range(1e-3, 1e3))
    beta: float = field(metadata=_range(0.0, 1e3))
    d_cutoff: float = field(metadata=_range(1e-3, 1e3))


@dataclass(frozen=True)
class RetargetSettings:
    enabled: bool
    reference_frames: int = field(metadata=_range(1, 10_000))
    keep_in_frame: bool  # ease the subject's sideways travel before the canvas' sides


@dataclass(frozen=True)
class RenderSettings:
    size: int                # the output's longer side in px; 0 = the subject photo's own size, at most AUTO_SIZE_MAX
    background: str = field(metadata=_choices("subject", "color", "alpha"))
    color: str
    temporal: float = field(metadata=_range(0.0, 0.99))
    batch_size: int = field(metadata=_range(1, 256))
    detail: str = field(metadata=_choices(*DETAILS))  # the photo's own pixels at output size, or the model's crop upscaled
    model_stride: int = field(metadata=_range(1, 8))  # photo path: the model renders every Nth frame, the rest reuse it

    def __post_init__(self):
        if self.size != 0 and not SIZE_RANGE[0] <= self.size <= SIZE_RANGE[1]:
            raise ValueError(f"render.size = {self.size!r}: use 0 (the photo's size) or "
                             f"{SIZE_RANGE[0]} .. {SIZE_RANGE[1]} px")
        from .render.compose import parse_color

        try:
            parse_color(self.color)
        except VunetError as e:
            raise ValueError(f"render.color: {e.problem}") from None


@dataclass(frozen=True)
class OutputSettings:
    export: str = field(metadata={"choices": _export_names})
    crf: int = field(metadata=_range(0, 51))
    x264_preset: str = field(metadata=_choices(*X264_PRESETS))
    compare: str = field(metadata=_choices("off", "side", "grid"))  # also write <output>_compare.mp4
    timeline: bool  # also write <output>.otio: the render and the driving sound on an OpenTimelineIO timeline


SECTIONS = {"model": ModelSettings, "pose": PoseSettings, "smoothing": SmoothingSettings,
            "retarget": RetargetSettings, "render": RenderSettings, "output": OutputSettings}


@dataclass(frozen=True)
class Settings:
    model: ModelSettings
    pose: PoseSettings
    smoothing: SmoothingSettings
    retarget: RetargetSettings
    render: RenderSettings
    output: OutputSettings
    preset: str = "default"          # the preset's name or path, as given
    preset_path: str = ""            # the file it was read from

    def __post_init__(self):
        from .video.formats import alpha_exports, export_format

        fmt = export_format(self.output.export)
        if self.render.background == "alpha" and fmt.frames and not fmt.alpha:
            raise VunetError(None, f"background 'alpha' needs export {' or '.join(alpha_exports())} "
                                   f"({fmt.codec} has no alpha channel)")

    def to_dict(self) -> dict:
        """{section: {key: value}}, as in a preset file."""
        return {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}


# ----------------------------------------------------------------------------- one validation

_TYPES = {"bool": bool, "int": int, "float": float, "str": str}


def check_value(dotted: str, value, where) -> object:
    """`value` for the setting 'section.key', converted (an int for a float) and checked
    against its type, choices and range; VunetError naming `where` otherwise."""
    section, key = dotted.split(".", 1)
    spec = {f.name: f for f in fields(SECTIONS[section])}[key]
    kind = _TYPES[spec.type]
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise VunetError(where, f"{dotted} = {value!r} should be a {kind.__name__}")
    choices = spec.metadata.get("choices")
    if callable(choices):
        choices = choices()
    if choices and value not in choices:
        raise VunetError(where, f"{dotted} = {value!r} is not one of {', '.join(choices)}")
    if "range" in spec.metadata:
        lo, hi = spec.metadata["range"]
        if not lo <= value <= hi:
            raise VunetError(where, f"{dotted} = {value!r} is outside {lo:g} .. {hi:g}")
    return value


def path_keys() -> list[str]:
    """'section.key' of the settings that name files."""
    return [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in fields(cls) if f.metadata.get("path")]


def build_sections(tables: dict[str, dict], where=None) -> dict:
    """{section name: section dataclass} from tables holding every key (values checked);
    VunetError naming `where` for a rule of one section."""
    try:
        return {name: cls(**tables[name]) for name, cls in SECTIONS.items()}
    except ValueError as e:  # a section's __post_init__
        raise VunetError(where, str(e)) from None


def build(tables: dict[str, dict], preset: str = "default", preset_path: str | Path = "", where=None) -> Settings:
    """Settings from {section: {key: value}} tables holding every key (values checked)."""
    sections = build_sections(tables, where)
    try:
        return Settings(**sections, preset=str(preset), preset_path=str(preset_path))
    except VunetError as e:  # a rule across sections
        raise VunetError(where, e.problem) from None
