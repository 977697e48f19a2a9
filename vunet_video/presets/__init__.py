"""Presets: named bundles of settings, shipped inside the package (this folder).

A preset is a TOML file of tables ([model], [pose], [smoothing], [retarget], [render],
[output]; their keys and rules are the dataclasses of `vunet_video/settings.py`).
`default.toml` here holds every key with its default value; any other preset, chosen by
name (`fast` -> fast.toml in this folder) or by path, is read on top of it and needs only
the keys it changes. Keyword overrides (the command line's options, Animator's
**overrides) are applied last and win. Keys are documented in README.md here.

Override keys are 'section.key' or, where the key name is used by one section only, the
bare key ('size' = 'render.size'); 'smooth' and 'retarget' are short for
'smoothing.enabled' and 'retarget.enabled'. None means "not given" and changes nothing.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from ..errors import VunetError
from ..settings import SECTIONS, Settings, build, build_sections, check_value, path_keys

# This folder: package data, so an installed wheel finds its presets as a checkout does.
PRESETS_DIR = Path(__file__).resolve().parent

ALIASES = {"smooth": "smoothing.enabled", "retarget": "retarget.enabled"}


def available() -> list[str]:
    """Names of the shipped presets."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def preset_path(name_or_path: str | Path) -> Path:
    """The file of a preset given by name (a shipped one) or by path."""
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
    except RecursionError:  # arrays or tables nested thousands deep
        raise VunetError(path, "not a valid TOML preset (nested far too deep)") from None
    except OSError as e:
        raise VunetError(path, f"cannot read preset ({e.strerror or e})") from None
    return data


def _key_index() -> dict[str, str]:
    """Bare key name -> 'section.key', for names used by exactly one section."""
    seen: dict[str, list[str]] = {}
    for section, cls in SECTIONS.items():
        for name in cls.__dataclass_fields__:
            seen.setdefault(name, []).append(f"{section}.{name}")
    return {k: v[0] for k, v in seen.items() if len(v) == 1}


def _merge(tables: dict, data: dict, where) -> None:
    for section, table in data.items():
        if section not in SECTIONS:
            raise VunetError(where, f"unknown preset section [{section}] (known: {', '.join(SECTIONS)})")
        if not isinstance(table, dict):
            raise VunetError(where, f"{section} should be a table ([{section}])")
        known = SECTIONS[section].__dataclass_fields__
        for key, value in table.items():
            if key not in known:
                raise VunetError(where, f"unknown preset key {section}.{key} (known in [{section}]: {', '.join(known)})")
            tables.setdefault(section, {})[key] = check_value(f"{section}.{key}", value, where)


def load_settings(preset: str | Path = "default", overrides: dict | None = None) -> Settings:
    """The settings of `preset` (name or path) with `overrides` applied."""
    default_path = PRESETS_DIR / "default.toml"
    tables: dict[str, dict] = {}
    _merge(tables, _read(default_path), default_path)
    missing = [f"{s}.{k}" for s, cls in SECTIONS.items() for k in cls.__dataclass_fields__ if k not in tables.get(s, {})]
    if missing:
        raise VunetError(default_path, f"lacks {', '.join(missing)}")
    path = preset_path(preset)
    where = path
    if path.resolve() != default_path.resolve():
        data = _read(path)
        _merge(tables, data, path)
        # File paths written in a preset are relative to the preset's own folder.
        for dotted in path_keys():
            section, key = dotted.split(".")
            value = tables[section][key]
            if key in data.get(section, {}) and value and not Path(value).expanduser().is_absolute():
                tables[section][key] = str(path.parent / value)
        build_sections(tables, path)  # the file's own values break no rule
    index = _key_index() | ALIASES
    nested: dict[str, dict] = {}
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        dotted = key if "." in key else index.get(key)
        if dotted is None or dotted.split(".", 1)[0] not in SECTIONS:
            raise VunetError(None, f"unknown setting {key!r} (use section.key; see the presets README)")
        section, name = dotted.split(".", 1)
        nested.setdefault(section, {})[name] = value
        where = None  # a rule broken after options are applied may be the options' doing
    _merge(tables, nested, None)
    return build(tables, preset, path, where)
