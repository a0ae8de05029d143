"""Sample-cloud GIFs: enough frames, the right first and last frames (every
final sample drawn where it is), the view at the samples' scale, a bounded
file size, 1-D data, and no partial file after a failed write."""

import numpy as np
import pytest
from conftest import grid_times
from PIL import Image
from scipy.spatial import cKDTree

from stepdiff import animate, runner
from stepdiff.config import ConfigError
from stepdiff.io import Trajectories
from stepdiff.process import Diffusion

C0 = np.array([31, 119, 180])  # matplotlib's first colour: the particles without points
GREY = np.array([127, 127, 127])  # animate.HIST_COLOUR


def frames(path):
    """The GIF's frames as RGB arrays (identical neighbours are stored once)."""
    with Image.open(path) as im:
        out = []
        for i in range(im.n_frames):
            im.seek(i)
            out.append(np.asarray(im.convert("RGB"), dtype=int))
    return out


def pixels(frame, colour=C0):
    """(x, y) of the pixels of ``colour`` (y downwards, as in the image)."""
    ys, xs = np.nonzero(np.abs(frame - colour).max(axis=-1) < 30)
    return xs, ys


def particle_centre(frame):
    """(x, y) of the pixels of the particle colour, as fractions of the width
    and the height (y downwards, as in the image)."""
    xs, ys = pixels(frame)
    assert len(xs), "no particle drawn"
    return xs.mean() / frame.shape[1], ys.mean() / frame.shape[0]


def diagonal(steps, k=1):
    """Particles on a straight line from (-10, -10) at t = 1 to (10, 10) at t = 0."""
    s = np.linspace(0.0, 1.0, steps + 1)[:, None, None]
    return np.broadcast_to(-10 + 20 * s, (steps + 1, k, 2)).copy()


def random_walks(rng, rows, k, d):
    return np.cumsum(rng.standard_normal((rows, k, d)), axis=0)


def saved_rows(steps=1000):
    """The rows a diffusion run of ``steps`` uniform steps keeps (41 for 1000)."""
    return runner.recorded_rows(Diffusion(1.0), grid_times(steps))


def test_frame_rows_hit_every_saved_row_or_subsample():
    assert animate.MIN_FRAMES >= 30
    short = animate.frame_rows(6)  # a 5-step run: every row saved
    assert len(short) >= animate.MIN_FRAMES and short[0] == 0 and short[-1] == 5
    assert set(range(6)) <= set(short)  # each saved row is a frame; the rest interpolate
    record = animate.frame_rows(len(saved_rows()))  # a long run's record: each row one frame
    assert np.array_equal(record, np.arange(len(saved_rows())))
    assert animate.MIN_FRAMES <= len(record) <= animate.MAX_FRAMES
    long = animate.frame_rows(1001)  # every row of a 1000-step run
    assert len(long) == animate.MAX_FRAMES and long[0] == 0 and long[-1] == 1000
    assert np.all(long == np.round(long)) and np.all(np.diff(long) > 0)  # saved rows only


def test_short_run_is_interpolated_from_start_to_end(tmp_path):
    path = tmp_path / "pair.gif"
    drawn = animate.trajectories_gif({"results/x/ddim-5.npy": diagonal(5)}, "pair", 1e-4, path, zoom=False)
    images = frames(path)
    assert drawn >= 30 and len(images) == drawn
    x0, y0 = particle_centre(images[0])
    x1, y1 = particle_centre(images[-1])
    assert x0 < 0.3 and y0 > 0.65, "first frame: the start (-10, -10), lower left"
    assert x1 > 0.7 and y1 < 0.35, "last frame: the end (10, 10), upper right"
    # frames in between move steadily along the diagonal
    xs = [particle_centre(f)[0] for f in images]
    assert np.all(np.diff(xs) > 0)


def lattice(nx=50, ny=40):
    """2000 distinct points on a grid over [-10, 10] x [-8, 8]."""
    gx, gy = np.meshgrid(np.linspace(-10, 10, nx), np.linspace(-8, 8, ny))
    return np.column_stack([gx.ravel(), gy.ravel()])


@pytest.mark.parametrize("zoom", [True, False])
def test_last_frame_draws_every_final_sample_where_it_is(tmp_path, zoom):
    """2000 particles wait at random starts and jump onto a lattice at the
    last saved row: the last frame has a dot on every lattice point and
    nowhere else, so it is that row, and the whole cloud."""
    rng = np.random.default_rng(0)
    end, rows = lattice(), saved_rows()
    cloud = np.broadcast_to(rng.uniform(-10, 10, (1, 2000, 2)), (len(rows), 2000, 2)).copy()
    cloud[-1] = end
    record = Trajectories(rows, cloud[:, :10], cloud)  # the figure's paths must not be drawn instead
    path = tmp_path / "cloud.gif"
    drawn = animate.trajectories_gif({"ddim-1000": record}, "cloud", 1e-4, path, zoom=zoom)
    images = frames(path)
    assert drawn == len(rows) == len(images) >= animate.MIN_FRAMES
    xs, ys = pixels(images[-1])
    # data -> pixels, from the lattice's corners (the outermost dots' centres)
    px = np.interp(end[:, 0], [-10, 10], [xs.min() + 0.5, xs.max() - 0.5])
    py = np.interp(end[:, 1], [-8, 8], [ys.max() - 0.5, ys.min() + 0.5])
    dots, expected = np.column_stack([xs, ys]), np.column_stack([px, py])
    nearest_dot = cKDTree(dots).query(expected)[0]
    assert nearest_dot.max() <= 2.0, f"{np.sum(nearest_dot > 2)} of 2000 samples missing from the last frame"
    assert cKDTree(expected).query(dots)[0].max() <= 2.0, "dots in the last frame where no sample is"
    assert xs.max() - xs.min() > 0.6 * images[-1].shape[1], "the lattice fills the panel"
    # the frame before holds the random starts, not the lattice
    before = np.column_stack(pixels(images[-2]))
    assert np.mean(cKDTree(before).query(expected)[0] <= 2.0) < 0.9


def test_zoom_ends_at_the_samples_scale(tmp_path):
    """From N(0, 80^2) to a circle of radius 1 (exp7's start against its data):
    zoomed, the last frame shows the circle across the panel; one view of
    the whole path would shrink it to a few pixels."""
    rng = np.random.default_rng(2)
    rows = saved_rows()
    t = np.array(grid_times(1000))[rows][:, None, None]
    angle = rng.uniform(0, 2 * np.pi, 2000)
    circle = np.column_stack([np.cos(angle), np.sin(angle)])
    cloud = circle[None] + 80 * np.sqrt(t) * rng.standard_normal((1, 2000, 2))
    width = {}
    for zoom in (True, False):
        path = tmp_path / f"zoom{zoom}.gif"
        animate.trajectories_gif({"ddim-1000": (rows, cloud)}, "wide", 1e-4, path, zoom=zoom)
        last = frames(path)[-1]
        xs, ys = pixels(last)
        width[zoom] = (xs.max() - xs.min()) / last.shape[1]
        assert abs((xs.max() - xs.min()) - (ys.max() - ys.min())) <= 3, "a circle: as wide as high"
    assert width[True] > 0.6 and width[False] < 0.05


def test_one_dimensional_last_frame_is_the_cloud(tmp_path):
    """1-D: the histogram beside the paths is the whole cloud's. The first
    500 particles end at -5 and the other 1500 at +5: the last frame's bars
    have a lower bump a third as large as the upper one."""
    rng = np.random.default_rng(3)
    rows = saved_rows()
    end = np.where(np.arange(2000) < 500, -5.0, 5.0)[:, None] + 0.3 * rng.standard_normal((2000, 1))
    start = 4 * rng.standard_normal((2000, 1))
    w = np.linspace(0, 1, len(rows))[:, None, None]
    cloud = (1 - w) * start[None] + w * end[None]
    path = tmp_path / "gauss.gif"
    drawn = animate.trajectories_gif({"ddpm-1000": Trajectories(rows, cloud[:, :50], cloud)}, "g", 1e-4, path)
    images = frames(path)
    assert drawn == len(images) >= animate.MIN_FRAMES
    last = images[-1]
    # the axes' frames: columns black over the middle half of the height (paths, then histogram)
    middle = last[last.shape[0] // 4 : 3 * last.shape[0] // 4]
    spines = np.nonzero((middle.max(axis=-1) < 80).mean(axis=0) > 0.6)[0]  # bars may cover some
    edges = spines[np.r_[True, np.diff(spines) > 1]]  # first column of each frame line
    assert len(edges) == 4, "two axes: the paths, then the histogram"
    panel = last[:, edges[2] + 2 : edges[3]]
    top, bottom = np.nonzero((panel.max(axis=-1) < 80).mean(axis=1) > 0.6)[0][[0, -1]]
    xs, ys = pixels(panel[top + 1 : bottom], GREY)  # inside the histogram's frame
    lengths = np.bincount(ys, minlength=last.shape[0])  # bar length per pixel row
    filled = np.nonzero(lengths >= 3)[0]
    gaps = np.nonzero(np.diff(filled) > 5)[0]
    assert len(gaps) == 1, "two separate bumps"
    upper, lower = filled[: gaps[0] + 1], filled[gaps[0] + 1 :]  # image y grows downwards: +5 is upper
    ratio = lengths[upper].sum() / lengths[lower].sum()
    assert 2.2 < ratio < 4.0, ratio  # 3, within the pixel rounding of narrow bars


@pytest.mark.parametrize("d", [1, 2])
def test_largest_realistic_case_stays_under_3_mb(tmp_path, d):
    """Three panels of 2000 particles (the cloud's cap: exp0's 1000-step runs
    of 50000 samples keep 2000) on noisy paths, which make the largest GIFs,
    saved at a 1000-step run's rows."""
    rng = np.random.default_rng(0)
    rows = saved_rows()
    runs = {
        f"{label}-1000.npy": (rows, random_walks(rng, len(rows), 2000, d))
        for label in ("ddpm", "ddim", "heun")
    }
    path = tmp_path / "big.gif"
    drawn = animate.trajectories_gif(runs, "big", 1e-4, path, points=[[2.0] * d, [-2.0] * d])
    assert drawn == len(rows) >= animate.MIN_FRAMES
    assert path.stat().st_size < 3e6


def test_one_dimensional_data_and_points(tmp_path):
    rng = np.random.default_rng(1)
    runs = {
        "ddpm-20.npy": random_walks(rng, 21, 10, 1),
        "ddim_karras-7.npy": random_walks(rng, 8, 10, 1),  # another grid and step count
    }
    path = tmp_path / "gauss.gif"
    drawn = animate.trajectories_gif(runs, "gauss", 1e-4, path, points=[[2.0]])
    assert drawn >= animate.MIN_FRAMES and len(frames(path)) == drawn


def test_no_particles_still_draws(tmp_path):
    for d in (1, 2):
        path = tmp_path / f"empty{d}.gif"
        animate.trajectories_gif({"ddim-3.npy": np.zeros((4, 0, d))}, "empty", 1e-4, path)
        assert path.exists()


def test_wrong_rows_or_label_are_errors(tmp_path):
    with pytest.raises(ValueError, match=r"ddim-5\.npy.*\(6, k, d\)"):
        animate.trajectories_gif({"ddim-5.npy": diagonal(4)}, "x", 1e-4, tmp_path / "x.gif")
    with pytest.raises(ValueError, match=r"ddim-5.*from 0 \(t = 1\) to 5 \(t = 0\)"):
        animate.trajectories_gif({"ddim-5": ([0, 2, 4], diagonal(2))}, "x", 1e-4, tmp_path / "x.gif")
    with pytest.raises(ValueError, match=r"ddim-5.*3 saved rows"):
        animate.trajectories_gif({"ddim-5": ([0, 2, 5], diagonal(3))}, "x", 1e-4, tmp_path / "x.gif")
    with pytest.raises(ConfigError, match="nosuch"):
        animate.trajectories_gif({"nosuch-5.npy": diagonal(5)}, "x", 1e-4, tmp_path / "x.gif")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    def half_written(self, fp, *args, **kwargs):
        with open(fp, "wb") as f:
            f.write(b"GIF89a")  # a truncated file, then the job dies
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", half_written)
    path = tmp_path / "pair.gif"
    with pytest.raises(OSError, match="disk full"):
        animate.trajectories_gif({"ddim-5.npy": diagonal(5)}, "pair", 1e-4, path)
    assert list(tmp_path.iterdir()) == []
