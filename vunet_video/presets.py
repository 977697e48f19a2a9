"""Presets: named bundles of settings for `animate` (presets/*.toml beside the package).

A preset is a TOML file of tables ([model], [pose], [smoothing], [retarget], [render],
[output]). `presets/default.toml` holds every key with its default value; any other
preset, chosen by name (`fast` -> presets/fast.toml) or by path, is read on top of it and
needs only the keys it changes. Keyword overrides (the command line's options, Animator's
**overrides) are applied last and win. Keys are documented in presets/README.md.

Override keys are 'section.key' or, where the key name is used by one section only, the
bare key ('size' = 'render.size'); 'smooth' and 'retarget' are short for
'smoothing.enabled' and 'retarget.enabled'. None means "not given" and changes nothing.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

from .errors import VunetError

# The repository's presets folder; the package is installed editable, so it sits beside it.
PRESETS_DIR = Path(__file__).resolve().parents[1] / "presets"

CHOICES = {
    "model.device": ("auto", "cpu", "cuda"),
    "pose.backend": ("auto", "mediapipe", "rtmlib"),
    "render.background": ("subject", "color", "alpha"),
    "output.export": ("video", "png", "prores", "keypoints"),
}
ALIASES = {"smooth": "smoothing.enabled", "retarget": "retarget.enabled"}
# Allowed ranges (inclusive low, exclusive high where noted) of numeric settings.
RANGES = {
    "model.finetune_steps": (0, 100_000),
    "pose.min_score": (0.0, 1.0),
    "smoothing.min_cutoff": (1e-3, 1e3),
    "smoothing.beta": (0.0, 1e3),
    "smoothing.d_cutoff": (1e-3, 1e3),
    "retarget.reference_frames": (1, 10_000),
    "render.temporal": (0.0, 0.99),
    "render.batch_size": (1, 256),
    "output.crf": (0, 51),
}
# Settings that name files.
PATH_KEYS = ("model.weights", "pose.det_model", "pose.pose_model")
# render.size: 0 (the photo's size) or a longer side in this range.
SIZE_RANGE = (64, 8192)


def available() -> list[str]:
    """Names of the presets in the presets folder."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def preset_path(name_or_path: str | Path) -> Path:
    """The file of a preset given by name (presets/<name>.toml) or by path."""
    text = str(name_or_path)
    as_path = Path(text).expanduser()
    if as_path.suffix == ".toml" or "/" in text or "\\" in text:
        if not as_path.is_file():
            raise VunetError(as_path, "no such preset file")
        return as_path
    named = PRESETS_DIR / f"{text}.toml"
    if not named.is_file():
        raise VunetError(None, f"unknown preset {text!r} (available: {', '.join(available()) or 'none'}; "
                         "or give the path of a .toml file)")
    return named


def _read(path: Path) -> dict:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise VunetError(path, f"not a valid TOML preset ({e})") from None
    except OSError as e:
        raise VunetError(path, f"cannot read preset ({e.strerror or e})") from None
    return data


def _defaults() -> dict:
    return _read(PRESETS_DIR / "default.toml")


def _key_index(defaults: dict) -> dict[str, str]:
    """Bare key name -> 'section.key', for names used by exactly one section."""
    seen: dict[str, list[str]] = {}
    for section, table in defaults.items():
        for key in table:
            seen.setdefault(key, []).append(f"{section}.{key}")
    return {k: v[0] for k, v in seen.items() if len(v) == 1}


def _check_value(dotted: str, value, default, where) -> object:
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise VunetError(where, f"{dotted} = {value!r} should be a {type(default).__name__}")
    if dotted in CHOICES and value not in CHOICES[dotted]:
        raise VunetError(where, f"{dotted} = {value!r} is not one of {', '.join(CHOICES[dotted])}")
    if dotted in RANGES and not RANGES[dotted][0] <= value <= RANGES[dotted][1]:
        lo, hi = RANGES[dotted]
        raise VunetError(where, f"{dotted} = {value!r} is outside {lo:g} .. {hi:g}")
    if dotted == "render.size" and value != 0 and not SIZE_RANGE[0] <= value <= SIZE_RANGE[1]:
        raise VunetError(where, f"render.size = {value!r}: use 0 (the photo's size) or {SIZE_RANGE[0]} .. {SIZE_RANGE[1]} px")
    if dotted == "render.color":
        from .render.compose import parse_color

        try:
            parse_color(value)
        except VunetError as e:
            raise VunetError(where, f"{dotted}: {e.problem}") from None
    return value


def _merge(settings: dict, data: dict, where) -> None:
    for section, table in data.items():
        if section not in settings:
            raise VunetError(where, f"unknown preset section [{section}] (known: {', '.join(settings)})")
        if not isinstance(table, dict):
            raise VunetError(where, f"{section} should be a table ([{section}])")
        for key, value in table.items():
            if key not in settings[section]:
                raise VunetError(where, f"unknown preset key {section}.{key} "
                                 f"(known in [{section}]: {', '.join(settings[section])})")
            settings[section][key] = _check_value(f"{section}.{key}", value, settings[section][key], where)


def load_settings(preset: str | Path = "default", overrides: dict | None = None) -> dict:
    """The settings of `preset` (name or path) with `overrides` applied: {section: {key: value}}."""
    defaults = _defaults()
    settings = copy.deepcopy(defaults)
    path = preset_path(preset)
    if path.resolve() != (PRESETS_DIR / "default.toml").resolve():
        data = _read(path)
        _merge(settings, data, path)
        # File paths written in a preset are relative to the preset's own folder.
        for dotted in PATH_KEYS:
            section, key = dotted.split(".")
            value = settings[section][key]
            if key in data.get(section, {}) and value and not Path(value).expanduser().is_absolute():
                settings[section][key] = str(path.parent / value)
    index = _key_index(defaults) | ALIASES
    nested: dict[str, dict] = {}
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        dotted = key if "." in key else index.get(key)
        if dotted is None:
            raise VunetError(None, f"unknown setting {key!r} (use section.key; see presets/README.md)")
        section, name = dotted.split(".", 1)
        nested.setdefault(section, {})[name] = value
    _merge(settings, nested, None)
    settings["preset"] = {"name": str(preset), "path": str(path)}
    return settings
