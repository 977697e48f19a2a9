"""Presets: chosen by name or path, read over default.toml, overridden by options."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from vunet_video.cli import app
from vunet_video.errors import VunetError
from vunet_video.presets import PRESETS_DIR, available, load_settings


def test_shipped_presets_load_and_default_has_every_key():
    names = available()
    assert {"default", "fast", "quality", "editor"} <= set(names)
    default = load_settings("default").to_dict()
    for name in names:
        settings = load_settings(name).to_dict()
        assert set(settings) == set(default), name
        for section, table in default.items():
            assert set(settings[section]) == set(table), name


def test_preset_by_name_changes_only_its_keys():
    default, fast, editor = load_settings("default"), load_settings("fast"), load_settings("editor")
    assert fast.render.size == 512 and default.render.size == 0
    assert fast.output.x264_preset == "veryfast"
    assert fast.render.background == default.render.background == "subject"
    assert (editor.render.background, editor.output.export) == ("alpha", "prores")


def test_preset_by_path(tmp_path):
    mine = tmp_path / "mine.toml"
    mine.write_text('[render]\nsize = 200\ncolor = "#00ff00"\n[smoothing]\nbeta = 0.2\n')
    settings = load_settings(str(mine))
    assert settings.render.size == 200
    assert settings.render.color == "#00ff00"
    assert settings.smoothing.beta == 0.2
    assert settings.smoothing.min_cutoff == load_settings().smoothing.min_cutoff
    assert settings.preset_path == str(mine)
    # File names in a preset are relative to the preset's folder; options stay as given.
    mine.write_text('[model]\nweights = "w/model.safetensors"\n')
    assert load_settings(str(mine)).model.weights == str(tmp_path / "w" / "model.safetensors")
    assert load_settings(str(mine), {"model.weights": "x.safetensors"}).model.weights == "x.safetensors"


def test_overrides_win_and_none_means_not_given():
    settings = load_settings("fast", {"size": 96, "render.batch_size": 2, "smooth": False, "background": None})
    assert settings.render.size == 96
    assert settings.render.batch_size == 2
    assert settings.smoothing.enabled is False
    assert settings.render.background == "subject"
    assert load_settings("default", {"min_cutoff": 2}).smoothing.min_cutoff == 2.0  # int for a float


@pytest.mark.parametrize("text, words", [
    ("[render]\nsizes = 3\n", "unknown preset key render.sizes"),
    ("[rendering]\nsize = 3\n", "unknown preset section [rendering]"),
    ("[render]\nsize = 'big'\n", "render.size = 'big' should be a int"),
    ("[render]\nbackground = 'beach'\n", "is not one of subject, color, alpha"),
    ("[render]\ncolor = 'teal-ish'\n", "render.color"),
    ("[render\nsize = 3\n", "not a valid TOML preset"),
    ("[render]\nsize = -5\n", "render.size = -5: use 0"),
    ("[render]\ntemporal = 1.5\n", "render.temporal = 1.5 is outside 0 .. 0.99"),
    ("[render]\nbatch_size = 0\n", "render.batch_size = 0 is outside"),
])
def test_bad_preset_file_is_one_line_naming_it(tmp_path, text, words):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(VunetError) as e:
        load_settings(str(bad))
    assert str(e.value).startswith(str(bad)) and words in str(e.value)
    assert "\n" not in str(e.value)


def test_unknown_override_and_unknown_preset():
    with pytest.raises(VunetError, match="unknown setting 'sise'"):
        load_settings("default", {"sise": 3})
    with pytest.raises(VunetError, match="unknown preset 'nope'.*available: .*fast"):
        load_settings("nope")
    with pytest.raises(VunetError, match="no such preset file"):
        load_settings("missing/elsewhere.toml")


def test_cli_unknown_preset_is_one_line_error(tmp_path):
    result = CliRunner().invoke(app, ["animate", str(tmp_path / "a.jpg"), str(tmp_path / "b.mp4"),
                                      "--preset", "nope", "-o", str(tmp_path / "o.mp4")])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown preset 'nope'")
    assert not (tmp_path / "o.mp4").exists()


def test_cli_option_is_checked_like_a_preset_value(tmp_path):
    # A bad value given on the command line is checked against the preset schema too.
    result = CliRunner().invoke(app, ["animate", str(tmp_path / "a.jpg"), str(tmp_path / "b.mp4"),
                                      "--preset", "editor", "--background", "beach"])
    assert result.exit_code == 1
    assert "render.background = 'beach' is not one of" in result.stderr


def test_readme_documents_every_key():
    readme = (PRESETS_DIR / "README.md").read_text()
    documented = set(re.findall(r"`(\w+\.\w+)`", readme))
    settings = load_settings().to_dict()
    keys = {f"{s}.{k}" for s, table in settings.items() for k in table}
    assert keys <= documented, keys - documented
