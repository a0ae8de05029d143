"""Trajectory GIFs: enough frames, the right first and last frames, a bounded
file size, 1-D data, and no partial file after a failed write."""

import numpy as np
import pytest
from PIL import Image

from stepdiff import animate
from stepdiff.config import ConfigError

C0 = np.array([31, 119, 180])  # matplotlib's first colour: the particles without points


def frames(path):
    """The GIF's frames as RGB arrays (identical neighbours are stored once)."""
    with Image.open(path) as im:
        out = []
        for i in range(im.n_frames):
            im.seek(i)
            out.append(np.asarray(im.convert("RGB"), dtype=int))
    return out


def particle_centre(frame):
    """(x, y) of the pixels of the particle colour, as fractions of the width
    and the height (y downwards, as in the image)."""
    ys, xs = np.nonzero(np.abs(frame - C0).max(axis=-1) < 30)
    assert len(xs), "no particle drawn"
    return xs.mean() / frame.shape[1], ys.mean() / frame.shape[0]


def diagonal(steps, k=1):
    """Particles on a straight line from (-10, -10) at t = 1 to (10, 10) at t = 0."""
    s = np.linspace(0.0, 1.0, steps + 1)[:, None, None]
    return np.broadcast_to(-10 + 20 * s, (steps + 1, k, 2)).copy()


def random_walks(rng, steps, k, d):
    return np.cumsum(rng.standard_normal((steps + 1, k, d)), axis=0)


def test_frame_rows_hit_every_saved_row_or_subsample():
    short = animate.frame_rows(5)
    assert len(short) >= animate.MIN_FRAMES and short[0] == 0 and short[-1] == 5
    assert set(range(6)) <= set(short)  # each saved row is a frame; the rest interpolate
    long = animate.frame_rows(1000)
    assert len(long) == animate.MAX_FRAMES and long[0] == 0 and long[-1] == 1000
    assert np.all(long == np.round(long)) and np.all(np.diff(long) > 0)  # saved rows only
    between = animate.MAX_FRAMES - 2  # rows + 1 frames: between MIN_FRAMES and MAX_FRAMES, every row once
    assert animate.MIN_FRAMES <= between + 1 <= animate.MAX_FRAMES
    assert len(animate.frame_rows(between)) == between + 1


def test_short_run_is_interpolated_from_start_to_end(tmp_path):
    path = tmp_path / "pair.gif"
    drawn = animate.trajectories_gif({"results/x/ddim-5.npy": diagonal(5)}, "pair", 1e-4, path)
    images = frames(path)
    assert drawn >= animate.MIN_FRAMES and len(images) == drawn
    x0, y0 = particle_centre(images[0])
    x1, y1 = particle_centre(images[-1])
    assert x0 < 0.3 and y0 > 0.65, "first frame: the start (-10, -10), lower left"
    assert x1 > 0.7 and y1 < 0.35, "last frame: the end (10, 10), upper right"
    # frames in between move steadily along the diagonal
    xs = [particle_centre(f)[0] for f in images]
    assert np.all(np.diff(xs) > 0)


@pytest.mark.parametrize("d", [1, 2])
def test_largest_realistic_case_stays_under_3_mb(tmp_path, d):
    """Two panels (as exp0's and exp3's figures: DDPM and DDIM) of 200 particles
    and 1000 steps; noisy paths make the largest GIFs (1-D: about 1.9 MB)."""
    rng = np.random.default_rng(0)
    runs = {f"{label}-1000.npy": random_walks(rng, 1000, 200, d) for label in ("ddpm", "ddim")}
    path = tmp_path / "big.gif"
    drawn = animate.trajectories_gif(runs, "big", 1e-4, path, points=[[2.0] * d, [-2.0] * d])
    assert drawn == animate.MAX_FRAMES
    assert path.stat().st_size < 3e6


def test_one_dimensional_data_and_points(tmp_path):
    rng = np.random.default_rng(1)
    runs = {
        "ddpm-20.npy": random_walks(rng, 20, 10, 1),
        "ddim_karras-7.npy": random_walks(rng, 7, 10, 1),  # another grid and step count
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
