"""Batch runs end to end: real photos, a real clip, a corrupt file, real pose model and codecs.

Inputs, all small and made here: two subjects (a dev subject photo and a plain grey PNG
with nobody in it) and two driving inputs (the first 6 frames of a dev driving video,
downscaled with PyAV, and an .mp4 of random bytes). The VUNet is a tiny randomly
initialised one: what is checked is the batch machinery (pairing, resume, failures,
workers, summary), not picture quality.
"""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from vunet_video.batch import BatchWorker, Pair, pairs_from_csv, pairs_from_folders
from vunet_video.cli import app
from vunet_video.errors import VunetError
from vunet_video.model.io import save_weights
from vunet_video.model.vunet import VUNet, VUNetConfig
from vunet_video.video import VideoReader, probe

from conftest import make_clip, one_line_error

FRAMES = 6
GOOD = "woman_dance.mp4"  # the one pair that renders


@pytest.fixture(scope="module")
def inputs(shared, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("batch_inputs")
    subjects, driving = root / "subjects", root / "driving"
    subjects.mkdir()
    driving.mkdir()
    # Copied into the test's temp folder (never into the repository) to get short stems.
    shutil.copy(shared / "data" / "dev" / "subjects" / "deepfashion_women_blouse_00004955.jpg", subjects / "woman.jpg")
    cv2.imwrite(str(subjects / "grey.png"), np.full((240, 160, 3), 128, np.uint8))
    (subjects / "notes.txt").write_text("not a photo: ignored")
    make_clip(shared / "data" / "dev" / "driving" / "unianimate_source_video.mp4", driving / "dance.mp4", FRAMES, 144, audio=False)
    (driving / "broken.mp4").write_bytes(np.random.default_rng(0).bytes(20_000))
    torch.manual_seed(0)
    weights = root / "tiny.safetensors"
    save_weights(VUNet(VUNetConfig(image_size=64, base_channels=8, max_channels=32, latent_channels=8)), weights)
    return {"root": root, "subjects": subjects, "driving": driving, "weights": weights,
            "clip_source": shared / "data" / "dev" / "driving" / "unianimate_source_video.mp4"}


def run_batch_cli(inputs: dict, outdir: Path, *extra) -> object:
    args = ["batch", "--subjects", inputs["subjects"], "--driving", inputs["driving"], "-o", outdir,
            "--weights", inputs["weights"], "--size", 128, *extra]
    return CliRunner().invoke(app, [str(a) for a in args])


def summary_rows(outdir: Path) -> dict[str, dict]:
    """batch_summary.csv as {output file name: row}."""
    with open(outdir / "batch_summary.csv", newline="", encoding="utf-8") as f:
        return {Path(row["output"]).name: row for row in csv.DictReader(f)}


def frames_of(path: Path) -> np.ndarray:
    with VideoReader(path) as reader:
        return np.stack([f.image for f in reader])


@pytest.fixture(scope="module")
def first_run(inputs, tmp_path_factory) -> dict:
    outdir = tmp_path_factory.mktemp("batch") / "out"  # created by the batch
    result = run_batch_cli(inputs, outdir)
    return {"result": result, "outdir": outdir, "rows": summary_rows(outdir),
            "mtime": (outdir / GOOD).stat().st_mtime_ns}


# ----------------------------------------------------------------------------- runs

def test_good_pair_renders_and_failures_are_reported(first_run):
    result, outdir, rows = first_run["result"], first_run["outdir"], first_run["rows"]
    assert result.exit_code == 1, result.output  # some pairs failed
    assert set(rows) == {"woman_dance.mp4", "woman_broken.mp4", "grey_dance.mp4", "grey_broken.mp4"}
    good = rows[GOOD]
    assert good["status"] == "ok" and int(good["frames"]) == FRAMES and good["error"] == ""
    info = probe(outdir / GOOD)
    assert info.frame_count == FRAMES and info.fps == 16.0
    assert len(frames_of(outdir / GOOD)) == FRAMES
    assert rows["woman_broken.mp4"]["status"] == "failed"
    assert "broken.mp4" in rows["woman_broken.mp4"]["error"] and "not a video" in rows["woman_broken.mp4"]["error"]
    for name in ("grey_dance.mp4", "grey_broken.mp4"):
        assert rows[name]["status"] == "failed"
        assert rows[name]["error"].endswith("grey.png: no person found in the photo")
    # Failed pairs leave nothing behind: no output, no partial file, no resume record.
    assert sorted(p.name for p in outdir.iterdir()) == [f".{GOOD}.vunet", "batch_summary.csv", GOOD]
    # The table on stdout: one line per pair with its status, then the counts.
    table = result.stdout
    assert "woman.jpg + dance.mp4" in table and "grey.png + broken.mp4" in table
    assert "4 pair(s): 1 ok, 0 skipped, 3 failed" in table
    # One progress line per pair on stderr, and one as the good pair starts (its subject's
    # fine-tune comes first: a long step is not silent).
    assert result.stderr.count("] failed ") == 3 and result.stderr.count("] ok ") == 1
    assert f"[start] woman.jpg + dance.mp4 -> {outdir / GOOD}" in result.stderr


def test_rerun_skips_finished_output(inputs, first_run):
    outdir = first_run["outdir"]
    result = run_batch_cli(inputs, outdir, "--quiet")
    assert result.exit_code == 1
    rows = summary_rows(outdir)
    assert rows[GOOD]["status"] == "skipped"
    assert int(rows[GOOD]["frames"]) == FRAMES  # read from the existing file
    assert (outdir / GOOD).stat().st_mtime_ns == first_run["mtime"]  # untouched
    assert [rows[n]["status"] for n in sorted(rows) if n != GOOD] == ["failed"] * 3  # failures are retried
    assert "0 ok, 1 skipped, 3 failed" in result.stdout
    assert result.stderr == ""  # --quiet: no progress lines


def test_parallel_jobs_give_the_same_results(inputs, first_run, tmp_path):
    outdir = tmp_path / "out"
    result = run_batch_cli(inputs, outdir, "--jobs", 2)
    assert result.exit_code == 1, result.output
    serial, parallel = first_run["rows"], summary_rows(outdir)
    assert set(parallel) == set(serial)
    for name, row in serial.items():
        assert parallel[name]["status"] == row["status"]
        assert parallel[name]["frames"] == row["frames"]
        assert parallel[name]["error"] == row["error"]
    a, b = frames_of(first_run["outdir"] / GOOD), frames_of(outdir / GOOD)
    assert a.shape == b.shape
    # Same model, subject and poses: the same pictures, up to float rounding. The
    # per-subject fine-tune sums in a different order with another thread count, so the
    # tuned weights differ in their last bits and the model's share of the picture moves
    # a little; the photo's moved pixels sharpen that into a few pixels differing by
    # more than 10 levels. (With --finetune-steps 0 serial and parallel are identical.)
    diff = np.abs(a.astype(np.int16) - b).mean(axis=3)
    assert diff.mean() < 2.0 and (diff > 10).mean() < 0.02


def test_pairs_csv(inputs, tmp_path):
    root = inputs["root"]
    outdir = tmp_path / "out"
    (outdir / "clips").mkdir(parents=True)
    # A partial file from a run that was cut off does not count as finished.
    (outdir / "clips" / ".custom.partial.mp4").write_bytes(b"cut off")
    pairs_csv = root / "pairs.csv"
    pairs_csv.write_text("Subject,Driving,Output\nsubjects/woman.jpg,driving/dance.mp4,clips/custom.mp4\n\n",
                         encoding="utf-8")
    result = CliRunner().invoke(app, ["batch", "--pairs", str(pairs_csv), "-o", str(outdir), "--weights",
                                      str(inputs["weights"]), "--size", "128", "-q"])
    assert result.exit_code == 0, result.output  # every pair ok
    assert probe(outdir / "clips" / "custom.mp4").frame_count == FRAMES
    assert not (outdir / "clips" / ".custom.partial.mp4").exists()  # replaced by the finished file
    rows = summary_rows(outdir)
    assert rows["custom.mp4"]["status"] == "ok"
    assert Path(rows["custom.mp4"]["subject"]) == root / "subjects" / "woman.jpg"


def test_worker_encodes_each_subject_once(inputs):
    worker = BatchWorker(inputs["weights"], overrides={"size": 128})
    woman = inputs["subjects"] / "woman.jpg"
    assert worker.subject(woman) is worker.subject(woman)
    grey = inputs["subjects"] / "grey.png"
    with pytest.raises(VunetError) as first:
        worker.subject(grey)
    with pytest.raises(VunetError) as again:
        worker.subject(grey)
    assert again.value is first.value  # the failed photo is not posed again for its next clip


# ----------------------------------------------------------------------------- batch input

def test_pairing_from_folders_and_csv(inputs, tmp_path):
    pairs = pairs_from_folders(inputs["subjects"], inputs["driving"], tmp_path)
    subjects, driving = inputs["subjects"], inputs["driving"]
    # Every photo with every clip, subject by subject, names sorted; notes.txt ignored.
    assert [(p.subject.name, p.driving.name, p.output.name) for p in pairs] == [
        ("grey.png", "broken.mp4", "grey_broken.mp4"), ("grey.png", "dance.mp4", "grey_dance.mp4"),
        ("woman.jpg", "broken.mp4", "woman_broken.mp4"), ("woman.jpg", "dance.mp4", "woman_dance.mp4")]
    assert pairs[0] == Pair(subjects / "grey.png", driving / "broken.mp4", tmp_path / "grey_broken.mp4")
    assert pairs_from_folders(subjects, driving, tmp_path, export="prores")[0].output.name == "grey_broken.mov"

    listed = tmp_path / "list" / "pairs.csv"
    listed.parent.mkdir()
    listed.write_text("driving,subject\n../in/a.mp4,/abs/b.jpg\n", encoding="utf-8")
    [pair] = pairs_from_csv(listed, tmp_path / "out")
    assert pair == Pair(Path("/abs/b.jpg"), listed.parent / "../in/a.mp4", tmp_path / "out" / "b_a.mp4")


def test_bad_batch_input_is_one_line_error(inputs, tmp_path):
    def batch(*args):
        return CliRunner().invoke(app, ["batch", "-o", str(tmp_path / "out"), *map(str, args)])

    assert "no such subjects folder" in one_line_error(batch("--subjects", tmp_path / "nope", "--driving",
                                                             inputs["driving"]))
    (tmp_path / "empty").mkdir()
    assert "no driving videos or pose files" in one_line_error(batch("--subjects", inputs["subjects"],
                                                                     "--driving", tmp_path / "empty"))
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("photo,driving\nsubjects/woman.jpg,driving/dance.mp4\n", encoding="utf-8")
    assert "missing column(s) subject" in one_line_error(batch("--pairs", bad_csv))
    dup_csv = tmp_path / "dup.csv"
    dup_csv.write_text("subject,driving\na.jpg,b.mp4\nsub/a.png,b.mp4\n", encoding="utf-8")
    assert "would both write" in one_line_error(batch("--pairs", dup_csv))
    assert "not both" in one_line_error(batch("--pairs", dup_csv, "--subjects", inputs["subjects"]))
    assert "--subjects and --driving" in one_line_error(batch("--subjects", inputs["subjects"]))
    assert "no such checkpoint" in one_line_error(batch("--subjects", inputs["subjects"], "--driving", inputs["driving"],
                                                        "--weights", tmp_path / "missing.safetensors"))
    assert not (tmp_path / "out").exists()  # nothing was started


def test_csv_outputs_stay_inside_the_output_folder(inputs, tmp_path):
    """An output cell naming a place outside -o (absolute, `..`, a subfolder linked to
    elsewhere) is refused before any work: nothing is written there, an existing file there
    is neither replaced nor reported as done."""
    outdir, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    outdir.mkdir()
    (outdir / "linked").symlink_to(elsewhere)
    existing = elsewhere / "system.mp4"
    existing.write_bytes(b"not ours")
    root = inputs["root"]
    for line_2 in (str(existing), str(elsewhere / "new.mp4"), "../elsewhere/new.mp4", "clips/../../elsewhere/new.mp4",
                   "linked/new.mp4", "linked/system.mp4", "..", "~/new.mp4"):
        pairs_csv = root / "escape.csv"
        pairs_csv.write_text("subject,driving,output\nsubjects/woman.jpg,driving/dance.mp4,fine.mp4\n"
                             f"subjects/woman.jpg,driving/dance.mp4,{line_2}\n", encoding="utf-8")
        result = CliRunner().invoke(app, ["batch", "--pairs", str(pairs_csv), "-o", str(outdir), "--weights",
                                          str(inputs["weights"]), "--size", "128", "-q"])
        line = one_line_error(result)
        assert str(pairs_csv) in line and "line 3" in line and line_2 in line and "outside the output folder" in line
        assert "skipped" not in result.output
    assert sorted(p.name for p in elsewhere.iterdir()) == ["system.mp4"] and existing.read_bytes() == b"not ours"
    assert sorted(p.name for p in outdir.iterdir()) == ["linked"]  # no summary, no render: nothing was started
    # Inside is fine, also through a `..` that stays inside and a linked folder that points inside.
    (outdir / "inner").mkdir()
    (outdir / "to_inner").symlink_to(outdir / "inner")
    ok = root / "inside.csv"
    ok.write_text("subject,driving,output\nsubjects/woman.jpg,driving/dance.mp4,a/../b.mp4\n"
                  "subjects/woman.jpg,driving/broken.mp4,to_inner/c.mp4\n", encoding="utf-8")
    assert [p.output.name for p in pairs_from_csv(ok, outdir)] == ["b.mp4", "c.mp4"]


# ----------------------------------------------------------------------------- resume records

def test_rerun_trusts_only_recorded_outputs(inputs, tmp_path):
    """An existing output is skipped only when its resume record vouches for it; our own
    unfinished or stale work is rendered again; a file without a record, or changed since it
    was recorded, is left alone and its pair fails (until --overwrite)."""
    outdir = tmp_path / "out"
    good, record = outdir / GOOD, outdir / f".{GOOD}.vunet"
    pairs_csv = tmp_path / "pairs.csv"
    pairs_csv.write_text(f"subject,driving\n{inputs['subjects'] / 'woman.jpg'},{inputs['driving'] / 'dance.mp4'}\n")

    def rerun(*extra) -> dict:
        CliRunner().invoke(app, ["batch", "--pairs", str(pairs_csv), "-o", str(outdir), "--weights",
                                 str(inputs["weights"]), "--size", "128", "--finetune-steps", "0", "--quiet",
                                 *map(str, extra)])
        return summary_rows(outdir)[GOOD]

    assert rerun()["status"] == "ok"
    assert rerun()["status"] == "skipped"  # recorded done, unchanged
    # Killed between publishing and recording: not known to be whole, so rendered again.
    finished = json.loads(record.read_text())
    record.write_text(json.dumps({**finished, "state": "rendering", "sha256": None}))
    row = rerun()
    assert row["status"] == "ok" and json.loads(record.read_text())["state"] == "done"
    # Ours, but for other settings: stale, rendered again at the new size.
    assert rerun("--size", 96)["status"] == "ok" and max(probe(good).width, probe(good).height) == 96
    assert rerun("--size", 96)["status"] == "skipped"
    # Changed after it was recorded, or never recorded: left alone, the pair fails.
    good.write_bytes(good.read_bytes() + b"edited")
    row = rerun("--size", 96)
    assert row["status"] == "failed" and "changed after the batch wrote it" in row["error"]
    assert good.read_bytes().endswith(b"edited")
    record.unlink()
    row = rerun("--size", 96)
    assert row["status"] == "failed" and "no batch record" in row["error"] and "--overwrite" in row["error"]
    assert good.read_bytes().endswith(b"edited") and not record.exists()
    # --overwrite replaces it, and records it.
    assert rerun("--size", 96, "--overwrite")["status"] == "ok"
    assert not good.read_bytes().endswith(b"edited") and json.loads(record.read_text())["state"] == "done"
    assert not any(p.name.startswith(".") and "partial" in p.name for p in outdir.iterdir())


def _batch_process(pairs_csv: Path, outdir: Path, weights: Path) -> subprocess.Popen:
    return subprocess.Popen(["vunet-video", "batch", "--pairs", str(pairs_csv), "-o", str(outdir), "--weights",
                             str(weights), "--size", "128", "--finetune-steps", "0", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_batch_killed_and_resumed_gives_the_uninterrupted_outputs(inputs, tmp_path):
    """SIGKILL a real `vunet-video batch` process once its second pair has started, resume
    it: the first pair is not rendered again, the second is redone from scratch, and the
    outputs are those of a run never interrupted."""
    root = inputs["root"]
    source = inputs["clip_source"]
    make_clip(source, tmp_path / "long.mp4", 12, 144, audio=False)
    pairs_csv = tmp_path / "pairs.csv"
    pairs_csv.write_text("subject,driving,output\n"
                         f"{root}/subjects/woman.jpg,{root}/driving/dance.mp4,a.mp4\n"
                         f"{root}/subjects/woman.jpg,{tmp_path}/long.mp4,b.mp4\n"
                         f"{root}/subjects/woman.jpg,{root}/driving/dance.mp4,c.mp4\n", encoding="utf-8")
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"

    whole = _batch_process(pairs_csv, reference, inputs["weights"])
    assert whole.wait(timeout=300) == 0, whole.stderr.read()
    # Kill once the first pair is recorded done and the second has started.
    killed = _batch_process(pairs_csv, resumed, inputs["weights"])
    deadline = time.monotonic() + 300
    while not (resumed / ".b.mp4.vunet").exists():
        assert killed.poll() is None, "the batch ended before it could be killed: " + killed.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert json.loads((resumed / ".a.mp4.vunet").read_text())["state"] == "done"
    assert json.loads((resumed / ".b.mp4.vunet").read_text())["state"] == "rendering"
    assert not (resumed / "b.mp4").exists() and not (resumed / "c.mp4").exists()
    first_written = (resumed / "a.mp4").stat().st_mtime_ns

    again = _batch_process(pairs_csv, resumed, inputs["weights"])
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert "3 pair(s): 2 ok, 1 skipped, 0 failed" in out
    rows = summary_rows(resumed)
    assert [rows[n]["status"] for n in ("a.mp4", "b.mp4", "c.mp4")] == ["skipped", "ok", "ok"]
    assert (resumed / "a.mp4").stat().st_mtime_ns == first_written  # not rendered again
    for name, frames in (("a.mp4", FRAMES), ("b.mp4", 12), ("c.mp4", FRAMES)):
        assert probe(resumed / name).frame_count == frames == int(rows[name]["frames"])
    # The rendered frames are the same, but their H.264 is not always byte for byte: x264's
    # threaded encoding of identical frames varies with timing (measured: 3 of 8 encodes of
    # the same frames, written with random pauses of 0-4 ms, differed, by about 1 level on
    # average; with x264 on one thread 8 of 8 were identical). So the decoded frames are
    # compared, as nearly equal.
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        a, b = frames_of(reference / name), frames_of(resumed / name)
        assert a.shape == b.shape and np.abs(a.astype(np.int16) - b).mean() < 2.0, name
    assert sorted(p.name for p in resumed.iterdir()) == sorted(p.name for p in reference.iterdir())  # no leftovers


@pytest.mark.parametrize("name", ["x.mp4", "b" * 240 + ".mp4", "c" * 240 + ".mov", "d" * 245, "e" * 240 + ".json"])
def test_record_name_fits_wherever_the_output_does(tmp_path, name):
    """An output name the file system takes (with its temporary name) leaves room for its
    resume record, which is written through a short temporary name."""
    from vunet_video.batch import record_path
    from vunet_video.files import check_output_path, partial_path

    output = check_output_path(tmp_path / name)
    assert len(record_path(output).name) <= max(len(output.name), len(partial_path(output).name))
    record_path(output).write_text("{}")  # the file system takes it
