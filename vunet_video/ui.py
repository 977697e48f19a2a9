"""`vunet-video ui`: a local web page over the Python API (Gradio, the optional extra "ui":
`pip install "vunet-video[ui]"`; the README's install command includes it).

Drop a photo and a driving video (or take the bundled samples), see the poses read from
both, render with live progress (frames, frames/s, time left), play the result and
download it, with the editor export (ProRes 4444 with alpha and its OpenTimelineIO
timeline) when asked for.

* It binds to 127.0.0.1 unless `--host` says otherwise.
* Uploads and results live in one temporary folder per server (Gradio's upload cache is
  pointed there), removed when the server stops. Photos and videos are checked against
  the same limits as the command line (pixels, video size and length) before any work.
* Renders queue: one at a time, so several people at once do not oversubscribe the CPU.
* Bad input shows the command line's one-line message on the page.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from .errors import VunetError

# The repository's demo inputs, when this is a checkout (a wheel has no samples/).
SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def _preview_photo(path: str) -> np.ndarray:
    from .pose.estimator import photo_pose
    from .pose.extract import preview_frame
    from .video import read_image

    image = read_image(path)
    return preview_frame(image, photo_pose(image, Path(path).name))


def _preview_video(path: str) -> np.ndarray:
    """The driving video's first frame with the pose read from it."""
    from .pose import make_estimator
    from .pose.estimator import estimate_image_pose
    from .pose.extract import preview_frame
    from .video import VideoReader

    with VideoReader(path) as reader:
        frame = next(iter(reader))
    estimator = make_estimator("auto")
    try:
        pose = estimate_image_pose(frame.image, estimator)
    finally:
        getattr(estimator, "close", lambda: None)()
    if pose.is_empty():
        raise VunetError(Path(path).name, "no person found in the first frame")
    return preview_frame(frame.image, pose)


def _check_inputs(photo, video) -> tuple[Path, Path]:
    from .video import probe
    from .video.images import check_pixels

    if not photo or not video:
        raise VunetError(None, "give a subject photo and a driving video")
    photo, video = Path(photo), Path(video)
    check_pixels(photo)
    probe(video)  # size and length limits, and a one-line message for what is not a video
    return photo, video


def _shown(preview, path):
    """A preview for the page (None when no file is given), its failure as the page's error."""
    import gradio as gr

    try:
        return preview(path) if path else None
    except VunetError as e:
        raise gr.Error(str(e)) from None


class Renders:
    """The server's work folder and its renders (one at a time: the queue sees to that)."""

    def __init__(self, folder: Path):
        self.folder = folder

    @staticmethod
    def photo_pose(photo):
        return _shown(_preview_photo, photo)

    @staticmethod
    def video_pose(video):
        return _shown(_preview_video, video)

    def render(self, photo, video, preset, background, size, editor, progress=None):
        """A generator for the page: (status, video, files) updates while it renders."""
        import gradio as gr

        from .pipeline import Animator

        try:
            photo, video = _check_inputs(photo, video)
            run = Path(tempfile.mkdtemp(prefix="render-", dir=self.folder))
            out = run / f"{photo.stem}_{video.stem}.mp4"
            overrides = {"render.background": background, "render.size": int(size or 0)}
            animator = Animator(preset=preset, **overrides)
        except VunetError as e:
            raise gr.Error(str(e)) from None
        state = {"frames": 0, "error": None, "result": None, "phase": "fine-tuning on the photo"}
        from .video import probe

        total = probe(video).frame_count or 0

        def on_frame(index, t, rgba):
            state["phase"] = "rendering"
            state["frames"] += 1

        def work():
            try:
                subject = animator.encode_subject(photo)
                state["started"] = time.perf_counter()
                state["result"] = animator.animate(subject, video, out, on_frame=on_frame)
                if editor:  # the person alone, ProRes 4444 with alpha, and its timeline
                    state["phase"] = "making the editor export"
                    editor_animator = Animator(preset="editor", synthesizer=animator.synth,
                                               **{"render.size": int(size or 0), "output.timeline": True})
                    editor_animator.animate(subject, video, out.with_suffix(".mov"))
            except BaseException as e:  # shown on the page
                state["error"] = e

        thread = threading.Thread(target=work, name="ui render", daemon=True)
        thread.start()
        while thread.is_alive():
            thread.join(0.5)
            yield self._status(state, total), None, None
        if state["error"] is not None:
            e = state["error"]
            raise gr.Error(str(e) if isinstance(e, VunetError) else f"{type(e).__name__}: {e}") from None
        result = state["result"]
        files = [str(p) for p in sorted(run.iterdir()) if p.suffix in (".mp4", ".mov", ".otio")]
        yield (f"**Done**: {result.frames} frames, {result.frame_size[0]}x{result.frame_size[1]}, "
               f"{result.frames / max(result.seconds, 1e-9):.1f} frames/s"), str(out), files

    @staticmethod
    def _status(state: dict, total: int) -> str:
        n = state["frames"]
        if not n:
            return f"*{state['phase']}* ..."
        elapsed = time.perf_counter() - state["started"]
        rate = n / max(elapsed, 1e-9)
        left = f", {max(total - n, 0) / rate:.0f} s left" if total and rate > 0 else ""
        return f"*{state['phase']}*: {n}/{total or '?'} frames, {rate:.1f} frames/s{left}"


def build(folder: Path):
    """The page (a gradio.Blocks) with its work folder."""
    import gradio as gr

    from .presets import available

    renders = Renders(folder)
    with gr.Blocks(title="vunet-video", analytics_enabled=False) as page:
        gr.Markdown("# vunet-video\nMake the person in a photo perform the motion of a driving video.")
        with gr.Row():
            photo = gr.Image(label="Subject photo", type="filepath", sources=["upload"], elem_id="photo")
            video = gr.Video(label="Driving video", sources=["upload"], elem_id="driving")
        if (SAMPLES / "subject.png").is_file() and (SAMPLES / "dance.mp4").is_file():
            samples = gr.Button("Use the bundled samples", elem_id="samples")
            samples.click(lambda: (str(SAMPLES / "subject.png"), str(SAMPLES / "dance.mp4")), None, [photo, video])
        with gr.Row():
            photo_pose = gr.Image(label="Pose read from the photo", interactive=False, elem_id="photo-pose")
            video_pose = gr.Image(label="Pose read from the video's first frame", interactive=False,
                                  elem_id="driving-pose")
        with gr.Row():
            preset = gr.Dropdown(available(), value="default", label="Preset")
            background = gr.Radio(["subject", "color"], value="subject", label="Background")
            size = gr.Number(value=0, precision=0, label="Size (longer side, px; 0 = the photo's)")
            editor = gr.Checkbox(value=False, label="Also the editor export (ProRes 4444 + timeline)")
        go = gr.Button("Render", variant="primary", elem_id="render")
        status = gr.Markdown(elem_id="status")
        result = gr.Video(label="Result", interactive=False, elem_id="result")
        files = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="downloads")
        # Each input updates only its own preview: a handler started before the other file
        # arrived must not blank that file's preview when it finishes (seen in CI under load).
        photo.change(renders.photo_pose, [photo], [photo_pose])
        video.change(renders.video_pose, [video], [video_pose])
        go.click(renders.render, [photo, video, preset, background, size, editor], [status, result, files])
    return page


def serve(host: str = "127.0.0.1", port: int = 7860, open_browser: bool = False) -> None:
    """Run the page until interrupted; the work folder is removed at the end."""
    import sys

    folder = Path(tempfile.mkdtemp(prefix="vunet-video-ui-"))
    os.environ["GRADIO_TEMP_DIR"] = str(folder / "uploads")  # Gradio's upload cache, ours to clean
    print(f"work folder: {folder} (removed when the server stops)", file=sys.stderr, flush=True)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        page = build(folder)
        page.queue(default_concurrency_limit=1)  # one render at a time; the rest wait their turn
        page.launch(server_name=host, server_port=port, inbrowser=open_browser, share=False, show_error=True,
                    allowed_paths=[str(folder), str(SAMPLES)], max_file_size="2gb", quiet=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
