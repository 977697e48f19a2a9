"""The background plate fill (render/plate.py): it replaces the hole and only the hole,
leaves nothing of the person behind, and copes with holes of any shape; the photo's own
pixels come back where the rendered person stands as the photo's did, and only there."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vunet_video.render.compose import Compositor
from vunet_video.render.plate import PhotoWherePersonStays, remove_person

MAGENTA = (255, 0, 255)  # a colour the street photo does not have, so any leftover shows


def _silhouette(shape: tuple[int, int], x: int, y: int, height: int) -> np.ndarray:
    """A person-like boolean mask: head, torso and legs, `height` px tall from (x, y)."""
    m = np.zeros(shape, np.uint8)
    u = height // 8
    cv2.circle(m, (x, y + u), u, 1, -1)
    cv2.ellipse(m, (x, y + 4 * u), (int(1.3 * u), int(2.2 * u)), 0, 0, 360, 1, -1)
    cv2.line(m, (x - u // 2, y + 5 * u), (x - u, y + 8 * u), 1, max(2, u // 2))
    cv2.line(m, (x + u // 2, y + 5 * u), (x + u, y + 8 * u), 1, max(2, u // 2))
    return m > 0


@pytest.fixture(scope="module")
def scene(shared) -> np.ndarray:
    img = cv2.imread(str(shared / "data/dev/subjects/ultralytics_bus.jpg"))
    assert img is not None
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def case(scene):
    """(photo with a magenta person pasted in, hole = the person grown, truth = the scene)."""
    h, w = scene.shape[:2]
    person = _silhouette((h, w), w // 3, h // 4, h // 2)
    hole = cv2.dilate(person.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    photo = scene.copy()
    photo[person] = MAGENTA
    return photo, hole, scene


@pytest.mark.parametrize("method", ["rows", "ns", "telea"])
def test_fill_replaces_only_the_hole_and_removes_the_person(case, method):
    photo, hole, truth = case
    plate = remove_person(photo, hole, method=method)
    assert plate.shape == photo.shape and plate.dtype == np.uint8
    assert np.array_equal(plate[~hole], photo[~hole])
    assert not np.array_equal(plate[hole], photo[hole])
    # Nothing magenta left: the fill reads only the scene around the hole.
    near_magenta = np.abs(plate[hole].astype(int) - MAGENTA).sum(axis=1) < 90
    assert not near_magenta.any()
    err_fill = np.abs(plate[hole].astype(float) - truth[hole]).mean()
    err_left = np.abs(photo[hole].astype(float) - truth[hole]).mean()
    assert err_fill < 0.5 * err_left, (err_fill, err_left)


def test_holes_touching_the_frame_edges(scene):
    h, w = scene.shape[:2]
    hole = np.zeros((h, w), bool)
    hole[h // 2:, :40] = True        # left edge to the bottom edge
    hole[:30, w // 2:] = True        # top and right edges
    photo = scene.copy()
    photo[hole] = MAGENTA
    plate = remove_person(photo, hole)
    assert np.array_equal(plate[~hole], photo[~hole])
    assert np.abs(plate[hole].astype(int) - MAGENTA).sum(axis=1).min() >= 90


def test_empty_and_full_holes_return_a_copy(scene):
    empty = remove_person(scene, np.zeros(scene.shape[:2], bool))
    assert np.array_equal(empty, scene) and empty is not scene
    full = remove_person(scene, np.ones(scene.shape[:2], bool))  # no scene left to fill from
    assert np.array_equal(full, scene) and full is not scene


def test_odd_shapes_and_sizes(scene):
    big = cv2.resize(scene, (1500, 2000), interpolation=cv2.INTER_LINEAR)  # over the working size
    hole = np.zeros(big.shape[:2], bool)
    hole[900:1700, 600:900] = True
    plate = remove_person(big, hole)
    assert plate.shape == big.shape and np.array_equal(plate[~hole], big[~hole])
    assert np.isfinite(plate.astype(float)).all()
    tiny = scene[:7, :5].copy()
    one = np.zeros((7, 5), bool)
    one[3, 2] = True
    assert remove_person(tiny, one).shape == tiny.shape
    gray = cv2.cvtColor(scene, cv2.COLOR_RGB2GRAY)
    g = remove_person(gray, _silhouette(gray.shape, 200, 100, 300))
    assert g.shape == gray.shape


def test_unknown_method_is_refused(scene):
    with pytest.raises(ValueError, match="plate fill"):
        remove_person(scene, np.ones(scene.shape[:2], bool), method="lama")


def test_rows_with_nothing_known_are_filled_from_above_and_below(scene):
    """The row fill interpolates between a row's known ends; a band across the whole
    width has none, and is filled from the rows above and below instead."""
    h, w = scene.shape[:2]
    hole = np.zeros((h, w), bool)
    hole[h // 2:h // 2 + 40, :] = True
    photo = scene.copy()
    photo[hole] = MAGENTA
    plate = remove_person(photo, hole)
    assert np.array_equal(plate[~hole], photo[~hole])
    assert np.abs(plate[hole].astype(int) - MAGENTA).sum(axis=1).min() >= 90
    err = np.abs(plate[hole].astype(float) - scene[hole]).mean()
    assert err < 0.5 * np.abs(photo[hole].astype(float) - scene[hole]).mean(), err


def test_a_studio_subjects_cast_shadow_is_lifted_with_them():
    """A plain backdrop (a wall lit with a gradient) with a person and their soft shadow
    cast on the wall beside them. The plate must show the wall without the shadow, which
    otherwise stays where the person stood while they dance elsewhere; the hole's fill,
    taken from the shadowed wall at its edge, drew a grey ghost of their outline."""
    h, w = 480, 360
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    wall = np.dstack([236 - 20 * xs / w - 10 * ys / h] * 3)
    person = _silhouette((h, w), w // 2, 40, 400)
    shadow = cv2.GaussianBlur(np.roll(person, 40, axis=1).astype(np.float32), (0, 0), 12.0)
    photo = wall * (1.0 - 0.18 * shadow[..., None])
    photo[person] = (40, 60, 150)
    photo = np.clip(photo + 0.5, 0, 255).astype(np.uint8)
    truth = np.clip(wall + 0.5, 0, 255).astype(np.uint8)
    hole = cv2.dilate(person.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    near = cv2.dilate(hole.astype(np.uint8), np.ones((121, 121), np.uint8)) > 0

    def error(plate, where):
        return np.abs(plate[where].astype(float) - truth[where]).mean()

    kept = remove_person(photo, hole, shadow=False)
    lifted = remove_person(photo, hole)
    assert error(kept, near & ~hole) > 6 and error(kept, hole) > 6  # (the shadow, and the ghost inside the hole)
    assert error(lifted, near & ~hole) < 2, error(lifted, near & ~hole)
    assert error(lifted, hole) < 3, error(lifted, hole)
    # Far from the person the photo is untouched.
    assert np.array_equal(lifted[~near], photo[~near])


def _detail(image: np.ndarray, where: np.ndarray) -> float:
    """Mean Sobel gradient magnitude of the grey image over `where`."""
    g = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))[where].mean())


def test_with_grain_a_textured_scene_keeps_its_grain_in_the_hole():
    """Over a grainy ground (asphalt, cobbles, foliage) the row fill alone is a smooth
    patch the shape of the person, visible wherever the animated person is not. With
    `grain` (off by default) the scene's own grain is carried in: the hole's texture gets
    near the scene's, and the fill stays about as close to the truth (grain not at the
    truth's own place costs a little L1: 10% on this pure noise, under 1% on the
    benchmark's real scenes)."""
    rng = np.random.default_rng(0)
    h, w = 400, 300
    ys = np.mgrid[0:h, 0:w][0].astype(np.float32)
    grain = cv2.GaussianBlur(rng.normal(0, 18, (h, w)).astype(np.float32), (0, 0), 1.2)
    ground = np.clip(np.dstack([120 + 40 * ys / h + grain] * 3) + 0.5, 0, 255).astype(np.uint8)
    hole = cv2.dilate(_silhouette((h, w), w // 2, 30, 340).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    photo = ground.copy()
    photo[hole] = MAGENTA
    smooth = remove_person(photo, hole)
    grainy = remove_person(photo, hole, grain=True)
    truth = _detail(ground, hole)
    assert _detail(smooth, hole) < 0.3 * truth
    assert _detail(grainy, hole) > 0.45 * truth, (_detail(grainy, hole), truth)
    assert np.array_equal(grainy[~hole], photo[~hole])
    assert np.abs(grainy[hole].astype(int) - MAGENTA).sum(axis=1).min() >= 90

    def err(plate):
        return np.abs(plate[hole].astype(float) - ground[hole]).mean()

    assert err(grainy) < 1.15 * err(smooth), (err(grainy), err(smooth))


def test_no_grain_is_added_on_a_flat_scene():
    """A wall whose texture beside the hole is under a grey level (a studio backdrop's
    noise) gets the plain row fill: its grain would only dither the fill."""
    rng = np.random.default_rng(1)
    h, w = 400, 300
    wall = np.clip(200 + rng.normal(0, 0.4, (h, w, 3)), 0, 255).astype(np.uint8)
    hole = _silhouette((h, w), w // 2, 30, 340)
    photo = wall.copy()
    photo[hole] = MAGENTA
    assert np.array_equal(remove_person(photo, hole, grain=True), remove_person(photo, hole))


# ----------------------------------------------------------------------------- the photo back where the person stays

@pytest.fixture(scope="module")
def standing(scene):
    """(photo, plate, soft mask, hole, height) for a magenta person pasted into the bus
    scene, the plate made as the pipeline makes it (the person grown by 2% of their height)."""
    h, w = scene.shape[:2]
    height = h // 2
    person = _silhouette((h, w), w // 3, h // 4, height)
    mask = cv2.GaussianBlur(person.astype(np.float32), (0, 0), 1.5)  # a soft edge, as a segmenter's
    hole = cv2.dilate((mask > 0.2).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (21, 21))) > 0
    photo = scene.copy()
    photo[person] = MAGENTA
    return photo, remove_person(photo, hole), mask, hole, float(height)


def _8bit(matte: np.ndarray) -> np.ndarray:
    """A matte as the compositor hands it on: 0-255."""
    return cv2.convertScaleAbs(matte, alpha=255.0)


def _apply(keeper: PhotoWherePersonStays, canvas: np.ndarray, corner, matte: np.ndarray) -> None:
    """Paint a frame's pixels into a fresh plate, as the compositor does."""
    weight = keeper.weights(corner, _8bit(matte))
    which = np.nonzero(weight)[0]
    keeper.paint(canvas, which, weight[which])


def _magenta(image: np.ndarray) -> np.ndarray:
    return np.abs(image.astype(int) - MAGENTA).sum(axis=-1) < 90


def test_the_scene_comes_back_around_a_person_who_stands_as_they_stood(standing, scene):
    photo, plate, mask, hole, height = standing
    keeper = PhotoWherePersonStays(photo, plate, mask, hole, height)
    assert keeper.usable
    canvas = plate.copy()
    _apply(keeper, canvas, (0, 0), mask)  # rendered exactly where and as the photo's person stood
    ring = hole & (mask < 0.01)  # the scene the fill had guessed
    before = np.abs(plate[ring].astype(float) - scene[ring]).mean()
    after = np.abs(canvas[ring].astype(float) - scene[ring]).mean()
    assert before > 10 and after < 0.2 * before, (before, after)
    assert (np.abs(canvas[ring].astype(int) - photo[ring]) <= 2).all(axis=1).mean() > 0.8  # (an 8-bit matte)
    # Never the person: where the mask is solid the plate stays (the rendered person covers
    # it); of their soft edge, only what the mask leaves of it (STAY_SOLID).
    solid = mask >= 0.999
    np.testing.assert_array_equal(canvas[solid], plate[solid])
    np.testing.assert_array_equal(canvas[~hole], plate[~hole])


def test_a_person_who_moved_leaves_no_ghost(standing, scene):
    photo, plate, mask, hole, height = standing
    keeper = PhotoWherePersonStays(photo, plate, mask, hole, height)
    for shift in (int(0.05 * height), int(0.5 * height)):  # a step aside, and far away
        moved = np.zeros_like(mask)
        moved[:, shift:] = mask[:, :-shift]
        canvas = plate.copy()
        _apply(keeper, canvas, (0, 0), moved)
        # Nothing of the old person comes back where they no longer are: the fill, or the
        # scene beside them carried in, at least as near the scene behind as the fill.
        gone = (mask > 0.5) & (moved < 0.1)
        assert not _magenta(canvas[gone]).any()
        error = lambda image: np.abs(image[gone].astype(float) - scene[gone]).mean()
        assert error(canvas) <= error(plate) + 1.0
    # Far away, nothing at all changes; a matte beside the canvas changes nothing either.
    np.testing.assert_array_equal(canvas, plate)
    canvas = plate.copy()
    _apply(keeper, canvas, (plate.shape[1] + 5, 0), mask)
    np.testing.assert_array_equal(canvas, plate)


def test_the_matte_may_sit_anywhere_and_an_rgba_canvas_gets_the_same_colours(standing):
    photo, plate, mask, hole, height = standing
    keeper = PhotoWherePersonStays(photo, plate, mask, hole, height)
    ys, xs = np.nonzero(mask > 0.01)
    y0, y1, x0, x1 = ys.min() - 7, ys.max() + 9, xs.min() - 3, xs.max() + 5  # the person's box, off the cells
    whole = plate.copy()
    _apply(keeper, whole, (0, 0), mask)
    rgba = np.dstack([plate, np.zeros(plate.shape[:2], np.uint8)])
    _apply(keeper, rgba, (int(x0), int(y0)), mask[y0:y1, x0:x1])
    assert (rgba[..., 3] == 0).all()
    # The same pixels come back from a matte cut to the person's box as from the whole
    # canvas (to a level: the box's border cells are left out, and the matte there is under 0.01).
    assert (rgba[..., :3] != plate).any()
    assert np.abs(rgba[..., :3].astype(int) - whole).max() <= 2


def test_nothing_comes_back_over_a_plate_that_lifted_a_cast_shadow(standing):
    photo, plate, mask, hole, height = standing
    lifted = plate.copy()
    lifted[~hole & (cv2.dilate(hole.astype(np.uint8), np.ones((41, 41), np.uint8)) > 0)] += 1
    keeper = PhotoWherePersonStays(photo, lifted, mask, hole, height)
    assert not keeper.usable
    assert Compositor(photo.shape[1::-1], "subject", lifted, unmoved=keeper).unmoved is None
