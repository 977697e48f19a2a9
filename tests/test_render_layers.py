"""tools/render_layers.py: the sheet of what a rendered frame is made of, on the quick start."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("render_layers", REPO / "tools" / "render_layers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_sheet_shows_the_frames_layers(tmp_path):
    tool = _tool()
    panels = tool.frame_layers(str(REPO / "samples/subject.png"), str(REPO / "samples/dance.mp4"), 3,
                               {"model.finetune_steps": 0})
    assert list(panels) == list(tool.PANELS)
    shapes = {p.shape[:2] for p in panels.values()}
    assert len(shapes) == 1, shapes  # all over the same rectangle
    output, coverage, matte = panels["output"], panels["mesh coverage"][..., 0], panels["final matte"][..., 0]
    # The person is drawn where the matte is, over the green background elsewhere.
    green = (output[..., 1] > 200) & (output[..., 0] < 60) & (output[..., 2] < 60)
    assert (matte > 128).sum() > 2000 and not green[matte > 250].any()
    assert green[matte == 0].mean() > 0.95
    # Untuned, the blend head has no say; the mesh covers nearly all of the final matte.
    assert panels["blend weight"].max() == 0
    assert ((coverage > 128) & (matte > 128)).sum() > 0.9 * (matte > 128).sum()

    out = tmp_path / "layers.png"
    tool.main([str(REPO / "samples/subject.png"), str(REPO / "samples/dance.mp4"), "3", str(out),
               "--set", "model.finetune_steps=0"])
    sheet = cv2.imread(str(out))
    h, w = next(iter(shapes))
    assert sheet.shape[:2] == (2 * h, 4 * w)
    # Its last panel is the final matte: as bright as the one above over the person.
    last = cv2.cvtColor(sheet[h + 40:, 3 * w:], cv2.COLOR_BGR2GRAY) > 128
    assert abs(int(last.sum()) - int((matte[40:] > 128).sum())) < 0.02 * (matte > 128).sum()
