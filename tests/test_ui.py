"""`vunet-video ui` in a real browser: headless Chromium (the system's), driven by Playwright.

The test starts the real server (`vunet-video ui`) in a subprocess with small weights,
uploads the bundled samples through the page's file inputs, waits for the poses and the
result, and checks that the page offers a playable video with the driving clip's frame
count. Set VUNET_UI_SCREENSHOT to a path to keep a screenshot of the finished page.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason="gradio is not installed")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                             shutil.which("google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tiny_weights, tmp_path):
    port = _free_port()
    env = dict(os.environ, VUNET_WEIGHTS=str(tiny_weights), GRADIO_ANALYTICS_ENABLED="False")
    proc = subprocess.Popen([sys.executable, "-m", "vunet_video", "ui", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"the ui server stopped: {proc.stdout.read()[-2000:]}")
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("the ui server did not start within 90 s")
    yield url
    proc.terminate()  # SIGTERM, as a service manager stops it
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the ui server did not stop on SIGTERM")
    said = proc.stdout.read()
    folder = Path(said.split("work folder: ", 1)[1].split(" ", 1)[0])
    assert not folder.exists(), f"{folder} (uploads and renders) was left behind"


def test_upload_the_samples_see_the_poses_render_and_get_a_playable_video(server, tmp_path):
    from vunet_video.video import probe

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1500})
            page.goto(server, wait_until="domcontentloaded")
            page.locator("#photo input[type=file]").set_input_files(str(SAMPLES / "subject.png"))
            page.locator("#driving input[type=file]").set_input_files(str(SAMPLES / "dance.mp4"))
            # The poses of both inputs are shown before rendering.
            page.locator("#photo-pose img").wait_for(timeout=120_000)
            page.locator("#driving-pose img").wait_for(timeout=120_000)
            size = page.locator("input[type=number]").first
            size.fill("160")
            page.locator("#render").click()
            # Progress shows while it renders, then the result plays on the page.
            page.locator("#status").filter(has_text="frames").wait_for(timeout=300_000)
            video = page.locator("#result video")
            video.wait_for(timeout=300_000)
            page.wait_for_function("document.querySelector('#result video').readyState >= 1", timeout=60_000)
            duration = page.evaluate("document.querySelector('#result video').duration")
            src = video.get_attribute("src")
            page.locator("#status").filter(has_text="Done").wait_for(timeout=60_000)
            got = page.request.get(src if src.startswith("http") else server.rstrip("/") + src)
            assert got.ok
            out = tmp_path / "from_the_page.mp4"
            out.write_bytes(got.body())
            # The download list offers the video.
            assert page.locator("#downloads").get_by_text(".mp4").count() >= 1
            if os.environ.get("VUNET_UI_SCREENSHOT"):
                page.screenshot(path=os.environ["VUNET_UI_SCREENSHOT"], full_page=True)
        finally:
            browser.close()
    info = probe(out)
    driving = probe(SAMPLES / "dance.mp4")
    assert info.frame_count == driving.frame_count and info.has_audio
    assert duration == pytest.approx(driving.duration, abs=0.1)  # the browser plays all of it


def test_bad_uploads_get_the_command_lines_one_line_messages(tmp_path, tiny_weights, monkeypatch):
    import gradio as gr

    from vunet_video.ui import Renders

    monkeypatch.setenv("VUNET_WEIGHTS", str(tiny_weights))
    renders = Renders(tmp_path)
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    empty = tmp_path / "wall.png"
    import cv2
    import numpy as np
    cv2.imwrite(str(empty), np.full((200, 150, 3), 180, np.uint8))
    cases = [((text, SAMPLES / "dance.mp4"), "notes.png: "),
             ((SAMPLES / "subject.png", SAMPLES / "subject.png"), "subject.png: "),  # a photo as the video
             ((empty, SAMPLES / "dance.mp4"), "wall.png: no person found in the photo"),
             ((None, SAMPLES / "dance.mp4"), "give a subject photo and a driving video")]
    for (photo, video), message in cases:
        with pytest.raises(gr.Error) as caught:
            list(renders.render(photo and str(photo), str(video), "default", "subject", 128, False))
        assert message in str(caught.value.message) and "\n" not in str(caught.value.message)
    assert list(tmp_path.glob("render-*/*.mp4")) == []  # nothing half-written
