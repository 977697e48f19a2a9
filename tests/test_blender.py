"""samples/blender_timeline.py: a Blender VSE project from a render's timeline, with the real
`bpy` where it is installed (a 370 MB wheel, not a dependency: skipped otherwise)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from conftest import cli

bpy = pytest.importorskip("bpy", reason="Blender's Python module is not installed (pip install bpy)")

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def _script():
    spec = importlib.util.spec_from_file_location("blender_timeline", SAMPLES / "blender_timeline.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["blender_timeline"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("export", ["prores", "png"])
def test_blender_project_places_the_render_over_a_backdrop_with_the_sound(export, tiny_weights, tmp_path):
    out = tmp_path / ("person.mov" if export == "prores" else "person")
    result = cli("animate", SAMPLES / "subject.png", SAMPLES / "dance.mp4", "-o", out, "--export", export,
                 "--background", "alpha", "--timeline", "--weights", tiny_weights, "--size", 128,
                 "--finetune-steps", 0, "--start", 0.5, "--end", 1.5, "--quiet")
    assert result.exit_code == 0, result.output
    blend = tmp_path / "project.blend"
    placed = _script().build(tmp_path / "person.otio", blend)
    assert placed == {"frames": 24, "rate": 24.0, "sound": True, "strips": 3}
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    scene = bpy.context.scene
    assert (scene.frame_start, scene.frame_end, scene.render.fps) == (1, 24, 24)
    strips = {s.name: s for s in scene.sequence_editor.strips}
    person, sound = strips["person"], strips["driving sound"]
    assert person.blend_type == "ALPHA_OVER" and person.channel == 2
    assert (person.frame_final_start, person.frame_final_end) == (1, 25)
    assert strips["backdrop"].channel == 1
    # The sound: the driving clip's, from its frame 12 (0.5 s), as long as the render.
    assert Path(sound.sound.filepath).resolve() == (SAMPLES / "dance.mp4").resolve()
    assert sound.frame_offset_start == 12 and (sound.frame_final_start, sound.frame_final_end) == (1, 25)
