"""Dead-leaves images: shapes, determinism, the r^-3 radius law, coverage, antialiasing, errors."""

import numpy as np
import pytest

from darkdev.errors import ParameterError
from darkdev.training.dead_leaves import dead_leaves_image, leaf_radii, photo_palette

PALETTE = np.array([[10, 20, 30], [200, 180, 40], [90, 90, 250], [255, 255, 255]], np.uint8)


def test_radii_follow_the_inverse_cube_law():
    radii = leaf_radii(np.random.default_rng(0), 200_000, 1.0, 100.0)
    assert radii.min() >= 1.0 and radii.max() <= 100.0
    # CDF (1 - r^-2) / (1 - 100^-2): the median is at r = sqrt(2 / (1 + 1e-4)), quartile 3 at 2.
    assert np.median(radii) == pytest.approx(np.sqrt(2 / (1 + 1e-4)), rel=0.01)
    assert np.quantile(radii, 0.75) == pytest.approx(2 / np.sqrt(1 + 3e-4), rel=0.01)


def test_image_is_covered_by_palette_colours_and_deterministic():
    image = dead_leaves_image(np.random.default_rng(3), 64, PALETTE, supersample=1)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    colours = {tuple(c) for c in image.reshape(-1, 3)}
    assert colours <= {tuple(c) for c in PALETTE}  # every pixel is one leaf's colour
    assert len(colours) == len(PALETTE)  # 64 px of small leaves use every colour
    again = dead_leaves_image(np.random.default_rng(3), 64, PALETTE, supersample=1)
    assert np.array_equal(image, again)
    other = dead_leaves_image(np.random.default_rng(4), 64, PALETTE, supersample=1)
    assert not np.array_equal(image, other)


def test_supersampling_antialiases_edges_in_linear_light():
    from darkdev.training.unprocessing import libraw_gamma

    palette = np.array([[0, 0, 0], [255, 255, 255]], np.uint8)
    image = dead_leaves_image(np.random.default_rng(1), 64, palette, radius_min_px=4.0)
    # Each pixel is 2x2 canvas pixels averaged in linear light: k of 4 white -> gamma(k / 4).
    allowed = {int(np.round(libraw_gamma(np.float32(k / 4)) * 255)) for k in range(5)}
    values = set(np.unique(image).tolist())
    assert values <= allowed and {0, 255} < values  # edges fall between the two
    assert 180 in allowed  # half white encodes to 180 (LibRaw curve), not 128: linear mean


def test_palette_draws_photo_pixels():
    photo = np.zeros((4, 5, 3), np.uint8)
    photo[..., 0] = np.arange(5)
    colours = photo_palette([photo], np.random.default_rng(0), 50)
    assert colours.shape == (50, 3) and colours.dtype == np.uint8
    assert set(colours[:, 0]) <= set(range(5)) and not colours[:, 1:].any()


@pytest.mark.parametrize(
    "arguments,match",
    [
        (dict(side_px=4), "side_px"),
        (dict(palette=np.zeros((3, 4), np.uint8)), "palette"),
        (dict(palette=np.zeros((3, 3), np.float32)), "palette"),
        (dict(radius_min_px=5.0, radius_max_px=2.0), "radius"),
    ],
)
def test_bad_parameters_are_named(arguments, match):
    values = dict(side_px=32, palette=PALETTE)
    values.update(arguments)
    with pytest.raises(ParameterError, match=match):
        dead_leaves_image(np.random.default_rng(0), **values)
    with pytest.raises(ParameterError, match="no photographs"):
        photo_palette([], np.random.default_rng(0), 3)


def _photo_folder(path, count=4):
    import imageio.v3 as imageio

    path.mkdir()
    rng = np.random.default_rng(0)
    for index in range(count):
        imageio.imwrite(path / f"photo-{index}.png", rng.integers(0, 256, (256, 260, 3), np.uint8))
    return path


def test_training_folder_links_photos_beside_deterministic_images(tmp_path, monkeypatch):
    import imageio.v3 as imageio

    from darkdev.training import photos
    from darkdev.training.dead_leaves import write_training_folder

    source = _photo_folder(tmp_path / "photos")
    reported = []
    paths = write_training_folder(
        source,
        tmp_path / "out",
        3,
        seed=5,
        side_px=32,
        workers=2,
        report=lambda path, seconds: reported.append(path),
    )
    assert [p.name for p in paths] == [f"dead-leaves-s5-{i:03d}.png" for i in range(3)]
    assert sorted(reported) == paths  # each new image reported once, from the worker pool
    assert all(imageio.imread(p).shape == (32, 32, 3) for p in paths)
    assert all((tmp_path / "out" / f"photo-{i}.png").is_symlink() for i in range(4))
    # One process draws the same images; existing ones are kept, not redrawn.
    again = write_training_folder(source, tmp_path / "again", 3, seed=5, side_px=32)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths]
    reported.clear()
    write_training_folder(
        source,
        tmp_path / "out",
        3,
        seed=5,
        side_px=32,
        report=lambda path, seconds: reported.append(path),
    )
    assert reported == []
    names = photos.list_photo_names(tmp_path / "out")
    assert len(names) == 7
    # With the run's photo cache, the palette's photos are decoded once and kept there.
    write_training_folder(source, tmp_path / "cached", 1, side_px=32, cache_dir=tmp_path / "c")
    training_photos = photos.split_names([f"photo-{i}.png" for i in range(4)])[0]
    assert len(list((tmp_path / "c").glob("*.npy"))) == len(training_photos) == 3
    # A cache written as users write it ("~/..."; finetune's default) lands in the home folder.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    write_training_folder(source, tmp_path / "tilde", 1, side_px=32, cache_dir="~/cache")
    assert len(list((tmp_path / "home" / "cache").glob("*.npy"))) == 3
    assert not (tmp_path / "~").exists()


def test_dead_leaves_train_but_never_validate():
    from darkdev.training import photos

    leaves = [f"dead-leaves-s0-{index:03d}.png" for index in range(200)]
    pictures = [f"photo-{index}.jpg" for index in range(40)]
    training, validation = photos.split_names(pictures + leaves)
    assert validation == photos.split_names(pictures)[1]  # the same photographs validate
    assert [n for n in training if n in leaves] == [
        n
        for n in leaves
        if not photos.is_validation_photo(n)  # the hash's training side
    ]
    assert 150 < len([n for n in training if n in leaves]) < 190
    # Only synthetic images besides one photograph: that photograph validates.
    assert photos.split_names(["photo-0.jpg", "photo-1.jpg"] + leaves[:5])[1] != []
    # A folder of dead leaves alone (runs/val-dl's) holds out its own, by the same hash.
    training, validation = photos.split_names(leaves)
    assert validation == [n for n in leaves if photos.is_validation_photo(n)]
    assert 10 < len(validation) < 50 and training == [n for n in leaves if n not in validation]


def test_training_folder_refuses_bad_counts(tmp_path):
    from darkdev.training.dead_leaves import write_training_folder

    with pytest.raises(ParameterError, match="workers"):
        write_training_folder(_photo_folder(tmp_path / "photos"), tmp_path / "out", 2, workers=0)


def test_linked_folder_lists_the_source_first_so_it_validates_on_the_same_crops(tmp_path):
    from darkdev.training import photos
    from darkdev.training.dead_leaves import mixed_folder, write_training_folder

    source = _photo_folder(tmp_path / "photos")
    order = ["photo-3.png", "photo-0.png", "photo-2.png", "photo-1.png"]  # not sorted
    (source / "manifest.tsv").write_text("filename\tsource\n" + "".join(f"{n}\tx\n" for n in order))
    out = mixed_folder(source, tmp_path / "mixes", 2, 32, 0)
    assert out.parent == tmp_path / "mixes" and out.name.startswith("photos+dead-leaves-2x32px-s0-")
    write_training_folder(source, out, 2, side_px=32)
    listed = photos.list_photo_names(out)
    assert listed == order + ["dead-leaves-s0-000.png", "dead-leaves-s0-001.png"]
    assert photos.split_names(listed)[1] == photos.split_names(order)[1]
    # Another photo set (or the same in another place) gets its own mix, never stale leaves.
    (source / "manifest.tsv").write_text("filename\n" + "\n".join(order[:3]) + "\n")
    assert mixed_folder(source, tmp_path / "mixes", 2, 32, 0) != out
    # A link left dangling by a moved source is pointed at the source again.
    moved = source.rename(tmp_path / "moved")
    write_training_folder(moved, out, 2, side_px=32)
    assert all((out / name).exists() for name in order[:3])
