"""A fuzz corpus of hostile inputs, each held to the error contract.

The contract (README, "Every command reports bad input ..."): a hostile input is either
handled (read as far as it is sound) or refused with one `VunetError` whose message is
one line naming the file; never another exception (a traceback in the CLI), never a
RuntimeWarning, never a leftover or clobbered file. Through the CLI: a non-zero exit
code, exactly one line on stderr, no 'Traceback', the output folder as it was.

The corpus: truncations of real files (a sample photo, a clip made from a sample video,
a pose JSON file, a checkpoint, a preset, a pairs CSV) at many offsets; random bytes;
bombs (huge declared sizes, deep nesting, endless digits); every field of our pose JSON
and every key of a preset given values of the wrong type or range (Hypothesis, with a
fixed seed so that a run is reproducible); path tricks for outputs and batch CSVs. Most
cases call the Python API in-process (milliseconds each); a handful run the real
`vunet-video` process. At the end the counts (cases tried, how many clean) are printed
and written to `fuzz_counts.json` in the run's temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vunet_video import VunetError
from vunet_video.errors import shown
from vunet_video.batch import inside_folder, pairs_from_csv
from vunet_video.files import check_output_path
from vunet_video.model.io import load_model
from vunet_video.pose import read_pose_json, write_pose_json
from vunet_video.pose.keypoints import NUM_JOINTS
from vunet_video.presets import load_settings
from vunet_video.video import VideoReader, probe, read_image

from conftest import make_clip
from test_limits import png_bomb, standing

# Deterministic Hypothesis runs: the same cases every time, no example database written.
FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# kind -> [cases tried, cases clean]; and the exact reproduction of each unclean case.
TALLY: dict[str, list[int]] = {}
UNCLEAN: list[str] = []


# ----------------------------------------------------------------------------- the contract

def check(kind: str, label: str, run, path: Path | None = None, accept=None) -> str | None:
    """Run one hostile case and record whether it kept the contract. `run()` must return
    (then `accept(result)`, if given, returns None or the problem) or raise a one-line
    VunetError naming `path`. Returns the problem, None when clean."""
    problem = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = run()
        except VunetError as e:
            text = str(e)
            if "\n" in text or not text.strip():
                problem = f"error is not one line: {text!r}"
            elif path is not None and shown(path) not in text:
                problem = f"error does not name {path}: {text!r}"
        except Exception as e:  # noqa: BLE001 - any other exception breaks the contract
            problem = f"{type(e).__name__}: {str(e)[:200]}"
        else:
            problem = accept(result) if accept is not None else None
    overflow = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    if overflow and problem is None:
        problem = f"RuntimeWarning: {overflow[0].message}"
    tally = TALLY.setdefault(kind, [0, 0])
    tally[0] += 1
    if problem is None:
        tally[1] += 1
    else:
        UNCLEAN.append(f"{kind} / {label}: {problem}")
    return problem


def unclean(kind: str) -> list[str]:
    return [u for u in UNCLEAN if u.startswith(kind + " / ")]


def count_lines() -> list[str]:
    tried, clean = sum(t for t, _ in TALLY.values()), sum(c for _, c in TALLY.values())
    lines = [f"fuzz corpus: {tried} cases tried, {clean} clean"]
    lines += [f"  {kind}: {t} tried, {c} clean" for kind, (t, c) in sorted(TALLY.items())]
    return lines + [f"  UNCLEAN {u}" for u in UNCLEAN]


class _CountsReport:
    """Prints the counts in pytest's terminal summary (shown under -q too, and not
    swallowed by output capture as a fixture's print would be)."""

    def pytest_terminal_summary(self, terminalreporter):
        for line in count_lines():
            terminalreporter.write_line(line)


@pytest.fixture(scope="module", autouse=True)
def report_counts(request, tmp_path_factory):
    """Report and record the counts once the module's cases have run."""
    if not request.config.pluginmanager.has_plugin("vunet-fuzz-counts"):
        request.config.pluginmanager.register(_CountsReport(), "vunet-fuzz-counts")
    yield
    tried, clean = sum(t for t, _ in TALLY.values()), sum(c for _, c in TALLY.values())
    record = tmp_path_factory.getbasetemp() / "fuzz_counts.json"
    record.write_text(json.dumps({"tried": tried, "clean": clean, "by_kind": TALLY, "unclean": UNCLEAN}, indent=1))


def listing(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes (to see leftovers and clobbering)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def offsets(size: int, count: int) -> list[int]:
    """`count` cut points spread over a file of `size` bytes, denser near its start (where
    the headers are), plus the last byte."""
    dense = np.unique(np.geomspace(1, max(size - 1, 2), count // 2).astype(int))
    even = np.linspace(0, size - 1, count - len(dense)).astype(int)
    return sorted(set(dense.tolist()) | set(even.tolist()) | {0, size - 1})


# ----------------------------------------------------------------------------- real samples

@pytest.fixture(scope="module")
def samples(shared, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("fuzz_samples")
    photo = root / "photo.jpg"
    shutil.copy(shared / "data" / "dev" / "subjects" / "ccp_heldout_2093.jpg", photo)
    png = root / "photo.png"
    cv2.imwrite(str(png), cv2.resize(cv2.imread(str(photo)), (120, 180)))
    clip = make_clip(shared / "data" / "dev" / "driving" / "unianimate_source_video.mp4", root / "clip.mp4", 4, 64,
                     audio=False)
    # The same clip with its index first ('faststart'): cut anywhere, it still opens, and
    # the decoder meets the cut (make_clip puts the index last, where a cut removes it).
    faststart = root / "faststart.mp4"
    with av.open(str(clip)) as inp, av.open(str(faststart), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(video=0):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    poses = root / "poses.json"
    header = {"source": "made", "backend": "test", "fps": 25.0, "width": 200, "height": 240, "smoothed": True}
    write_pose_json(poses, header, ((i, i / 25, standing(100 + i)) for i in range(3)))
    return {"photo": photo, "png": png, "clip": clip, "faststart": faststart, "poses": poses}


@pytest.fixture
def work(tmp_path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def frames_finite(result) -> str | None:
    """A pose file that was accepted: its frames hold only finite or missing (NaN) values."""
    _, frames = result
    for _, _, pose in frames:
        if np.isinf(pose.xy).any() or not np.isfinite(pose.score).all():
            return "accepted a pose with infinite values"
    return None


def read_pose(path: Path):
    header, frames = read_pose_json(path)
    return header, list(frames)


def read_video(path: Path) -> int:
    probe(path)
    with VideoReader(path) as reader:
        return sum(1 for _ in reader)


# ----------------------------------------------------------------------------- truncations

@pytest.mark.parametrize("name, count", [("photo", 60), ("png", 40), ("clip", 40), ("faststart", 60), ("poses", 80)])
def test_truncated_real_files(samples, work, name, count):
    """Each real sample cut at many offsets: read as far as it is sound, or one line."""
    data = samples[name].read_bytes()
    reader = {"photo": read_image, "png": read_image, "clip": read_video, "faststart": read_video,
              "poses": read_pose}[name]
    accept = frames_finite if name == "poses" else None
    kind = f"truncated {name}"
    for cut in offsets(len(data), count):
        path = work / f"cut_{cut}{samples[name].suffix}"
        path.write_bytes(data[:cut])
        check(kind, f"{samples[name].name} cut at byte {cut} of {len(data)}", lambda: reader(path), path, accept)
    assert sorted(p.name for p in work.iterdir()) == sorted(f"cut_{c}{samples[name].suffix}"
                                                            for c in offsets(len(data), count))  # nothing written
    assert not unclean(kind), unclean(kind)[:5]


def test_truncated_checkpoint(tiny_weights, work):
    data = tiny_weights.read_bytes()
    for cut in offsets(len(data), 40):
        path = work / f"cut_{cut}.safetensors"
        path.write_bytes(data[:cut])
        check("truncated checkpoint", f"tiny checkpoint cut at byte {cut} of {len(data)}", lambda: load_model(path), path)
    assert not unclean("truncated checkpoint"), unclean("truncated checkpoint")[:5]


# ----------------------------------------------------------------------------- random bytes

@FUZZ
@given(data=st.binary(min_size=0, max_size=4096), suffix=st.sampled_from([".jpg", ".png", ".mp4", ".json",
                                                                          ".safetensors", ".toml", ".csv"]))
def test_random_bytes(tmp_path_factory, data, suffix):
    folder = tmp_path_factory.mktemp("random")
    path = folder / f"random{suffix}"
    path.write_bytes(data)
    run = {".jpg": lambda: read_image(path), ".png": lambda: read_image(path), ".mp4": lambda: read_video(path),
           ".json": lambda: read_pose(path), ".safetensors": lambda: load_model(path),
           ".toml": lambda: load_settings(path), ".csv": lambda: pairs_from_csv(path, folder / "out")}[suffix]
    check("random bytes", f"{len(data)} random bytes as {suffix}: {data[:32]!r}...", run, path)
    assert sorted(p.name for p in folder.iterdir()) == [path.name]
    assert not unclean("random bytes"), unclean("random bytes")[:5]


# ----------------------------------------------------------------------------- bombs

def jpeg_with_size(real: bytes, width: int, height: int) -> bytes:
    """A real JPEG whose frame header (SOF0/SOF2) claims another size."""
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = real.find(marker)
        if at >= 0:
            head = at + 5  # marker (2), length (2), precision (1), then height and width
            return real[:head] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + real[head + 4:]
    raise AssertionError("no SOF marker in the sample JPEG")


def test_bombs(samples, work):
    kind = "bomb"
    photo = samples["photo"].read_bytes()
    cases: list[tuple[str, Path, object]] = []

    bomb = png_bomb(work / "bomb.png", 30000, 30000)
    cases.append(("30000x30000 PNG", bomb, lambda: read_image(bomb)))
    wide = png_bomb(work / "wide.png", 200_000, 1)
    cases.append(("200000x1 PNG", wide, lambda: read_image(wide)))
    big_jpeg = work / "big.jpg"
    big_jpeg.write_bytes(jpeg_with_size(photo, 65000, 65000))
    cases.append(("JPEG claiming 65000x65000", big_jpeg, lambda: read_image(big_jpeg)))
    nested = work / "nested.json"
    nested.write_text("[" * 100_000 + "]" * 100_000)
    cases.append(("JSON nested 100000 deep", nested, lambda: read_pose(nested)))
    nested_frames = work / "nested_frames.json"
    nested_frames.write_text('{"version": 1, "frames": [' + "[" * 100_000 + "]" * 100_000 + "]}")
    cases.append(("frames nested 100000 deep", nested_frames, lambda: read_pose(nested_frames)))
    digits = work / "digits.json"
    digits.write_text('{"version": 1, "fps": ' + "9" * 100_000 + ', "frames": []}')
    cases.append(("a 100000-digit fps", digits, lambda: read_pose(digits)))
    digits_frame = work / "digits_frame.json"
    digits_frame.write_text('{"version": 1, "frames": [{"index": ' + "9" * 50_000 + "}]}")
    cases.append(("a 50000-digit frame index", digits_frame, lambda: read_pose(digits_frame)))
    long_string = work / "long_string.json"
    long_string.write_text('{"version": 1, "frames": [{"keypoints": "' + "x" * (20 << 20) + '"}]}')
    cases.append(("a 20 MB string in a frame", long_string, lambda: read_pose(long_string)))
    many_people = work / "people.json"
    many_people.write_text(json.dumps({"people": [{"pose_keypoints_2d": [1.0, 2.0, 0.5] * 25}] * 5_000}))
    cases.append(("OpenPose file with 5000 people", many_people, lambda: read_pose(many_people)))
    toml_nest = work / "nested.toml"
    toml_nest.write_text("[render]\nsize = " + "[" * 50_000 + "]" * 50_000 + "\n")
    cases.append(("TOML array nested 50000 deep", toml_nest, lambda: load_settings(toml_nest)))
    csv_wide = work / "wide.csv"
    csv_wide.write_text("subject,driving\n" + "a" * 200_000 + ".jpg,b.mp4\n")
    cases.append(("CSV with a 200000-character cell", csv_wide, lambda: pairs_from_csv(csv_wide, work / "out")))
    for label, path, run in cases:
        check(kind, label, run, path)
    assert not (work / "out").exists()
    assert not unclean(kind), unclean(kind)[:5]


# ----------------------------------------------------------------------------- pose JSON fields

HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30), st.sampled_from([
        0, -1, 1e308, -1e308, 1e-320, 2**63, float("nan"), float("inf"), -float("inf"), "", "12", "NaN", [], {},
        [None] * 17, [[1.0, 2.0]] * 16, [[1.0]] * 17, [[1e308, 1e308]] * 17, [["1", "2"]] * 17, [0.5] * 18,
        {"x": 1}]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=3),
)
HEADER_FIELDS = ["version", "source", "backend", "fps", "width", "height", "smoothed", "joints", "frame_count"]
FRAME_FIELDS = ["index", "time", "keypoints", "scores"]


def pose_document() -> dict:
    kps = [[float(x), float(y)] for x, y in standing().xy]
    return {"version": 1, "source": "a.mp4", "backend": "test", "fps": 25.0, "width": 200, "height": 240,
            "smoothed": True, "joints": [], "frame_count": 2,
            "frames": [{"index": i, "time": i / 25, "keypoints": kps, "scores": [0.9] * NUM_JOINTS} for i in range(2)]}


def dump(doc) -> str:
    # allow_nan: NaN and Infinity as JavaScript literals, as a careless writer would.
    return json.dumps(doc, allow_nan=True)


@FUZZ
@given(field=st.sampled_from(HEADER_FIELDS + ["frames"]), value=HOSTILE)
def test_every_pose_header_field(tmp_path_factory, field, value):
    folder = tmp_path_factory.mktemp("pose_header")
    doc = pose_document()
    doc[field] = value
    path = folder / "poses.json"
    path.write_text(dump(doc))
    check("pose JSON header field", f"{field} = {value!r}", lambda: read_pose(path), path, frames_finite)
    assert not unclean("pose JSON header field"), unclean("pose JSON header field")[:5]


@FUZZ
@given(field=st.sampled_from(FRAME_FIELDS), value=HOSTILE, which=st.integers(0, 1), joint=st.integers(0, 16),
       inner=st.booleans())
def test_every_pose_frame_field(tmp_path_factory, field, value, which, joint, inner):
    """A frame field replaced whole, or (inner) one joint's entry of keypoints / scores."""
    folder = tmp_path_factory.mktemp("pose_frame")
    doc = pose_document()
    frame = doc["frames"][which]
    if inner and field in ("keypoints", "scores"):
        frame[field][joint] = value
    else:
        frame[field] = value
    path = folder / "poses.json"
    path.write_text(dump(doc))
    label = f"frames[{which}].{field}" + (f"[{joint}]" if inner and field in ("keypoints", "scores") else "")
    check("pose JSON frame field", f"{label} = {value!r}", lambda: read_pose(path), path, frames_finite)
    assert not unclean("pose JSON frame field"), unclean("pose JSON frame field")[:5]


@FUZZ
@given(value=HOSTILE, where=st.sampled_from(["people", "person", "keypoints", "one keypoint"]))
def test_openpose_fields(tmp_path_factory, value, where):
    folder = tmp_path_factory.mktemp("openpose")
    person = {"pose_keypoints_2d": [10.0, 20.0, 0.9] * 18}
    doc = {"people": [person]}
    if where == "people":
        doc["people"] = value
    elif where == "person":
        doc["people"] = [value]
    elif where == "keypoints":
        person["pose_keypoints_2d"] = value
    else:
        person["pose_keypoints_2d"][4] = value
    path = folder / "frame_000000000000_keypoints.json"
    path.write_text(dump(doc))
    check("OpenPose field", f"{where} = {value!r}", lambda: read_pose(path), path, frames_finite)
    assert not unclean("OpenPose field"), unclean("OpenPose field")[:5]


# The same for certain: every field with each of these (Hypothesis above draws more).
FIXED = [None, True, 0, -1, 10**30, 1e308, -1e308, float("nan"), float("inf"), "", "x", [], {}, [None] * 17,
         [[1e308, 0.0]] * 17, [0.5] * 16]


def test_every_pose_field_with_each_fixed_value(work):
    kind = "pose JSON field (fixed values)"
    for n, (field, value) in enumerate((f, v) for f in HEADER_FIELDS + ["frames"] + FRAME_FIELDS for v in FIXED):
        doc = pose_document()
        if field in FRAME_FIELDS:
            doc["frames"][1][field] = value
        else:
            doc[field] = value
        path = work / f"case_{n}.json"
        path.write_text(dump(doc))
        check(kind, f"{field} = {value!r}", lambda: read_pose(path), path, frames_finite)
    assert not unclean(kind), unclean(kind)[:5]


# ----------------------------------------------------------------------------- preset TOML keys

def preset_keys() -> list[str]:
    from vunet_video.settings import SECTIONS

    return [f"{s}.{k}" for s, cls in SECTIONS.items() for k in cls.__dataclass_fields__]


def toml_value(value) -> str:
    """`value` written as TOML (strings, numbers, booleans, arrays, inline tables, nan/inf)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), -float("inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return '"?"'


TOML_HOSTILE = st.one_of(
    st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1), st.text(max_size=12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "../../../etc/passwd", "/dev/zero", "auto", "video", "#zzz", "cuda:99", [], {}, [1, 2],
                     {"a": 1}, 1e308, -0.0, 10**18]),
)


@FUZZ
@given(key=st.sampled_from(preset_keys()), value=TOML_HOSTILE)
def test_every_preset_key(tmp_path_factory, key, value):
    folder = tmp_path_factory.mktemp("preset")
    section, name = key.split(".")
    path = folder / "mine.toml"
    path.write_text(f"[{section}]\n{name} = {toml_value(value)}\n")
    check("preset key", f"{key} = {toml_value(value)}", lambda: load_settings(path), None)
    assert sorted(p.name for p in folder.iterdir()) == ["mine.toml"]
    assert not unclean("preset key"), unclean("preset key")[:5]


def test_every_preset_key_with_each_fixed_value(work):
    kind = "preset key (fixed values)"
    values = [True, 0, -1, 2**63 - 1, 1e308, float("nan"), float("inf"), "", "x", [], {}, "../../../etc/passwd"]
    for n, (key, value) in enumerate((k, v) for k in preset_keys() for v in values):
        section, name = key.split(".")
        path = work / f"case_{n}.toml"
        path.write_text(f"[{section}]\n{name} = {toml_value(value)}\n")
        check(kind, f"{key} = {toml_value(value)}", lambda: load_settings(path), None)
    assert not unclean(kind), unclean(kind)[:5]


def test_preset_structure_and_truncations(work):
    kind = "preset structure"
    from vunet_video.presets import PRESETS_DIR

    cases = ["render = 3\n", "[render]\n[render]\n", "[nosuch]\nx = 1\n", "[render]\nnosuch = 1\n",
             "[render.size]\nx = 1\n", "[[render]]\nsize = 1\n", "size = 512\n", "[render]\nsize = 512\nsize = 256\n",
             "\x00\x01", "[render]\nsize = 0x7fffffffffffffff\n", "[output]\nexport = \"video\"\n[render]\n"
             "background = \"alpha\"\n"]
    for n, text in enumerate(cases):
        path = work / f"case_{n}.toml"
        path.write_text(text)
        check(kind, repr(text), lambda: load_settings(path), path)
    real = (PRESETS_DIR / "default.toml").read_bytes()
    for cut in offsets(len(real), 40):
        path = work / f"cut_{cut}.toml"
        path.write_bytes(real[:cut])
        check(kind, f"default.toml cut at byte {cut}", lambda: load_settings(path), path)
    assert not unclean(kind), unclean(kind)[:5]


# ----------------------------------------------------------------------------- path tricks

def test_output_path_tricks(tmp_path):
    """Hostile output names: refused with one line, or a path inside the asked folder;
    an existing file or folder there is never replaced."""
    kind = "output path"
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "taken.mp4").write_bytes(b"mine")
    (folder / "sub").mkdir()
    (folder / "link.mp4").symlink_to(folder / "taken.mp4")
    (folder / "loop").symlink_to(folder / "loop")
    before = listing(folder)
    names = ["", ".", "..", "/", "taken.mp4", "link.mp4", "sub", "sub/", "loop/x.mp4", "nosuch/x.mp4", "a" * 300 + ".mp4",
             "x.mp4\x00.txt", "x.exe", "x", ".hidden.mp4", "/proc/x.mp4", "/dev/null", "~/x.mp4", "x.mp4/",
             " .mp4", "\n.mp4", "é" * 130 + ".mp4"]
    for name in names:
        target = folder / name if not name.startswith("/") else Path(name)
        check(kind, repr(name), lambda: check_output_path(target, suffixes=(".mp4",)), None)
    assert listing(folder) == before
    assert not unclean(kind), unclean(kind)[:5]


def test_batch_csv_path_tricks(tmp_path):
    """Output cells that try to leave -o, or that no file system takes: refused with one
    line naming the CSV, or kept inside -o."""
    kind = "batch CSV path"
    outdir = tmp_path / "out"
    outdir.mkdir()
    (outdir / "escape").symlink_to(tmp_path)
    (outdir / "loop").symlink_to(outdir / "loop")
    cells = ["../x.mp4", "/etc/x.mp4", "escape/x.mp4", "loop/x.mp4", "a/../../x.mp4", "~/x.mp4", "..", ".", "",
             "x\x00y.mp4", "a" * 5000 + ".mp4", "sub/" * 200 + "x.mp4", "\\..\\x.mp4", "C:\\x.mp4", "./x.mp4",
             '"quoted.mp4"', "x.mp4\r", "ok/x.mp4"]
    for n, cell in enumerate(cells):
        path = tmp_path / f"pairs_{n}.csv"
        path.write_text(f"subject,driving,output\na.jpg,b.mp4,{json.dumps(cell)}\n", encoding="utf-8")

        def accept(pairs):
            outside = [p.output for p in pairs if not inside_folder(p.output, outdir)]
            return f"accepted an output outside -o: {outside[0]}" if outside else None

        check(kind, repr(cell), lambda: pairs_from_csv(path, outdir), path, accept)
    assert sorted(p.name for p in outdir.iterdir()) == ["escape", "loop"]
    assert not unclean(kind), unclean(kind)[:5]


def within(seconds: float, run):
    """`run`, in a thread, with a deadline: a reader that blocks (on a FIFO, a device)
    breaks the contract as a hang, reported instead of hanging the test run."""
    import threading

    box: dict = {}

    def target():
        try:
            box["result"] = run()
        except BaseException as e:  # noqa: BLE001 - handed back to check()
            box["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TimeoutError(f"still reading after {seconds:g} s (blocked)")
    if "error" in box:
        raise box["error"]
    return box.get("result")


def test_input_path_tricks(tmp_path):
    """Every reader given what is not a regular file (a folder, a FIFO, devices, symlink
    loops, dangling links, odd names): one line naming it, never a hang."""
    kind = "input path"
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    (tmp_path / "loop.json").symlink_to(tmp_path / "loop.json")
    (tmp_path / "dangling.json").symlink_to(tmp_path / "nowhere.json")
    (tmp_path / "folder.json").mkdir()
    odd = tmp_path / "new\nline.json"
    odd.write_text("{")
    paths = [fifo, tmp_path / "loop.json", tmp_path / "dangling.json", tmp_path / "folder.json", odd,
             Path("/dev/zero"), Path("/dev/null"), tmp_path / "missing.json"]
    readers = {"pose": read_pose, "photo": read_image, "video": read_video, "weights": load_model,
               "preset": load_settings, "pairs": lambda p: pairs_from_csv(p, tmp_path / "out")}
    try:
        for what, reader in readers.items():
            for path in paths:
                named = path if path != tmp_path / "folder.json" or what != "pose" else None
                check(kind, f"{what} reader on {path}", lambda: within(5, lambda: reader(path)), named)
    finally:
        # Release a reader left blocked on the FIFO (a writer that closes at once is EOF).
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK) if _has_reader(fifo) else None
        if fd is not None:
            os.close(fd)
    assert not (tmp_path / "out").exists()
    assert not unclean(kind), unclean(kind)[:5]


def _has_reader(fifo: Path) -> bool:
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        return True
    except OSError:  # ENXIO: nobody has it open for reading
        return False


# ----------------------------------------------------------------------------- the real CLI

def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["vunet-video", *map(str, args)], capture_output=True, text=True, timeout=120)


def cli_check(label: str, args: list, folder: Path) -> None:
    """One real `vunet-video` process on a hostile input: non-zero exit, exactly one line on
    stderr, no traceback, the output folder as it was."""
    before = listing(folder)

    def run():
        done = run_cli(*args)
        lines = done.stderr.strip().splitlines()
        if done.returncode == 0:
            return f"exit code 0; stderr {done.stderr[-300:]!r}"
        if "Traceback" in done.stderr or len(lines) != 1 or not lines[0].startswith("error: "):
            return f"exit code {done.returncode}; stderr {done.stderr[-500:]!r}"
        if listing(folder) != before:
            return "the output folder changed"
        return None

    check("CLI", label, run, accept=lambda problem: problem)


def test_cli_on_hostile_inputs(samples, tmp_path, tiny_weights):
    kind = "CLI"
    out = tmp_path / "out"
    out.mkdir()
    (out / "taken.mp4").write_bytes(b"the user's own file")
    photo, poses = samples["photo"], samples["poses"]
    bomb = png_bomb(tmp_path / "bomb.png")
    cut_poses = tmp_path / "cut.json"
    cut_poses.write_bytes(poses.read_bytes()[: len(poses.read_bytes()) // 2])
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(np.random.default_rng(3).bytes(50_000))
    bad_preset = tmp_path / "bad.toml"
    bad_preset.write_text("[render]\nsize = \"huge\"\n")
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"subject,driving,output\n{photo},{poses},../escaped.mp4\n")
    common = ["--weights", tiny_weights, "--quiet"]
    cli_check("animate a 30000x30000 PNG bomb", ["animate", bomb, poses, "-o", out / "a.mp4", *common], out)
    cli_check("animate with a pose file cut in half", ["animate", photo, cut_poses, "-o", out / "b.mp4", *common], out)
    cli_check("animate random bytes as the driving video", ["animate", photo, noise, "-o", out / "c.mp4", *common], out)
    cli_check("animate onto the user's existing file", ["animate", photo, poses, "-o", out / "taken.mp4", *common], out)
    cli_check("batch with a preset of wrong types", ["batch", "--pairs", pairs, "-o", out, "--preset", bad_preset,
                                                     *common], out)
    cli_check("batch CSV writing outside -o", ["batch", "--pairs", pairs, "-o", out, *common], out)
    assert (out / "taken.mp4").read_bytes() == b"the user's own file"
    assert not (tmp_path / "escaped.mp4").exists()
    assert not unclean(kind), unclean(kind)[:5]
