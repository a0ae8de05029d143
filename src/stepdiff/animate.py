"""Animated GIFs of the sample cloud, from saved arrays only.

A run's record is ``(rows, x)``: increasing grid indices ``rows`` of the
run's time grid, from 0 (t = 1) to ``steps`` (t = 0), and the positions
``x`` of ``k`` particles there, shape ``(len(rows), k, d)``; a plain array
of shape ``(steps + 1, k, d)`` is every row. Each saved row is a frame;
short records are interpolated linearly between rows up to MIN_FRAMES, long
ones subsampled to MAX_FRAMES, so the last frame is the run's samples.

Every particle is a small dot (no tails: thousands of them). Zoomed 2-D
panels follow the cloud: the view, one square for all panels and centred on
the final cloud, is as wide as the cloud at that frame and never narrower
than the final cloud (stars included), so the last frame shows the samples
at the scale of the experiment's figure, even from a start 80 times wider;
unzoomed, one view holds the whole path (point masses: the paths are the
point). 1-D data is drawn as position against t (the paths of the first
PATHS_1D particles, axes fixed over the whole path) beside a histogram of
the whole cloud at that frame.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from PIL import Image  # noqa: E402

from .grids import times  # noqa: E402
from .io import atomic  # noqa: E402
from .registry import DEFAULT_GRID, parse_label, run_of  # noqa: E402

# Each frame draws only what moves on a saved background, and Pillow's fast
# octree palette encodes it: two panels of 2000 dots cost about 25 ms a
# frame, so 41 frames keep a GIF near 1 CPU-s, the figure job's largest part.
MIN_FRAMES = 30
MAX_FRAMES = 41  # runner.TRAJECTORY_ROWS: a saved record is one frame per row
FPS = 10
HOLD_START = 4  # the first frame lasts this many frames' time
HOLD_END = 15  # and the last
DOT_SIZE = 3.0  # marker area in points^2: about 2 pixels across at DPI
PATHS_1D = 200  # 1-D: particles drawn as paths against t
PATH_POINTS = 200  # saved rows drawn per 1-D path, at most about
HIST_BINS = 120
HIST_COLOUR = "#7f7f7f"
VIEW_QUANTILE = 0.99  # 2-D: the view holds this share of the cloud on each side
VIEW_PAD = 1.15
VIEW_FLOOR = 0.1  # 2-D, zoomed: a cloud that ends on one point keeps this share of its start's view
PANEL_INCHES = 3.6
HIST_INCHES = 1.0
DPI = 80


def frame_rows(n_rows: int) -> np.ndarray:
    """Fractional positions, from 0 to ``n_rows - 1``, in a record of
    ``n_rows`` saved rows: every row (interpolated to at least MIN_FRAMES)
    or MAX_FRAMES rows spread evenly."""
    last = n_rows - 1
    if n_rows > MAX_FRAMES:
        return np.round(np.linspace(0, last, MAX_FRAMES))
    per_row = max(1, -(-(MIN_FRAMES - 1) // last))  # ceil((MIN_FRAMES - 1) / last)
    return np.linspace(0, last, last * per_row + 1)


def _at(pos, values):
    """``values`` (indexed by row, any trailing shape) interpolated linearly at fractional ``pos``."""
    last = len(values) - 1
    i = np.clip(np.floor(pos).astype(int), 0, max(last - 1, 0))
    w = np.clip(pos - i, 0.0, 1.0).reshape((-1,) + (1,) * (values.ndim - 1))
    j = np.minimum(i + 1, last)
    return (1 - w) * values[i] + w * values[j]


def _t_text(t):
    return f"t = {t:.3f}" if t == 0 or t >= 0.01 else f"t = {t:.1e}"


def _limits(values, pad=0.05):
    values = values[np.isfinite(values)]  # a diverged run must not break the axes
    lo, hi = (float(values.min()), float(values.max())) if values.size else (-1.0, 1.0)
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    return lo - pad * span, hi + pad * span


def _record(key, record):
    """A run's ``(rows, x)``: from ``io.Trajectories`` (its cloud), a pair,
    or an array of every row; checked against the step count in ``key``."""
    steps = run_of(key)[1]
    if hasattr(record, "cloud"):
        record = (record.rows, record.cloud)
    if isinstance(record, tuple):
        rows, traj = np.asarray(record[0], dtype=int), np.asarray(record[1], dtype=float)
        if traj.ndim != 3 or len(rows) != len(traj):
            raise ValueError(f"{key}: expected {len(rows)} saved rows of shape (k, d), got {traj.shape}")
    else:
        rows, traj = np.arange(steps + 1), np.asarray(record, dtype=float)
        if traj.ndim != 3 or len(traj) != steps + 1:
            raise ValueError(f"{key}: expected shape ({steps + 1}, k, d), got {traj.shape}")
    if len(rows) < 2 or rows[0] != 0 or rows[-1] != steps or np.any(np.diff(rows) <= 0):
        raise ValueError(
            f"{key}: saved rows must rise from 0 (t = 1) to {steps} (t = 0), got {rows.tolist()}"
        )
    return rows, traj


class _Panel:
    """One run: its particles and times at the animation's frames
    (``u``: fractions of the way through its saved rows)."""

    def __init__(self, key, rows, traj, t_min, u):
        self.label, self.steps = run_of(key)
        sampler, grid = parse_label(self.label)
        self.name = sampler.upper() + ("" if grid == DEFAULT_GRID else f" ({grid})")
        # runner.time_grid's times, read from grids: importing runner would tie this
        # rule's code fingerprint (provenance) to the samplers and the data module
        self.ts = np.array(times(self.steps, grid, t_min))[rows]  # the saved rows' times
        self.traj = traj
        self.pos = u * (len(rows) - 1)
        self.x = _at(self.pos, traj)  # (frames, k, d)
        self.t = _at(self.pos, self.ts)

    def title(self, f):
        return f"{self.name}, {self.steps} steps: {_t_text(self.t[f])}"


def _colours(end, points, k):
    """Particles coloured by the point each ends nearest, or all alike."""
    if points is None or not len(points) or not k:
        return np.tile(to_rgba("C0"), (k, 1))
    nearest = np.argmin(((end[:, None, :] - points[None]) ** 2).sum(-1), axis=1)
    return plt.get_cmap("tab10")(nearest % 10)


def _dots(ax, xy, colours, size=DOT_SIZE):
    # unsmoothed squares: crisp pixels of the particle colour, a small GIF palette
    return ax.scatter(
        xy[:, 0], xy[:, 1], s=size, c=colours, marker="s", linewidths=0, antialiased=False, zorder=2
    )


def _robust_radius(x, centre):
    """Half-width of the square around ``centre`` that holds VIEW_QUANTILE of ``x`` (k, 2)."""
    x = x[np.isfinite(x).all(axis=1)]
    return float(np.quantile(np.abs(x - centre).max(axis=1), VIEW_QUANTILE)) if len(x) else 0.0


def _views(panels, points, zoom):
    """Per frame, the 2-D view's centre and half-width. Zoomed: the final
    cloud's box (and the stars), widened to hold the cloud at that frame or
    later; else one view of every particle at every frame, and the stars."""
    clouds = (
        [p.traj[..., :2].reshape(-1, 2) for p in panels] if not zoom else [p.x[-1, :, :2] for p in panels]
    )
    every = np.concatenate(clouds + ([points] if points is not None else []))
    if not zoom:
        lo, hi = _limits(every)
        return np.full(2, (lo + hi) / 2), np.full(len(panels[0].x), (hi - lo) / 2)
    every = every[np.isfinite(every).all(axis=1)]
    if not len(every):
        return np.zeros(2), np.ones(len(panels[0].x))
    lo, hi = np.quantile(every, 1 - VIEW_QUANTILE, axis=0), np.quantile(every, VIEW_QUANTILE, axis=0)
    if points is not None and len(points):
        lo, hi = np.minimum(lo, points.min(axis=0)), np.maximum(hi, points.max(axis=0))
    centre = (lo + hi) / 2
    cloud = np.array(
        [max(_robust_radius(p.x[f, :, :2], centre) for p in panels) for f in range(len(panels[0].x))]
    )
    least = (hi - lo).max() / 2 or VIEW_FLOOR * cloud[0]  # a single point: a share of the start's view
    radius = np.maximum.accumulate(np.maximum(cloud, least)[::-1])[::-1]  # never widens again
    return centre, VIEW_PAD * np.where(radius > 0, radius, 1.0)


def _setup_2d(ax, panel, points, colours, centre, radius):
    """Dots; a view that changes (zoomed) has no ticks, its width in a corner."""
    zoom = radius[0] != radius[-1]
    ax.set(aspect="equal", xlabel="x₁", ylabel="x₂")
    ax.set_xlim(centre[0] - radius[0], centre[0] + radius[0])
    ax.set_ylim(centre[1] - radius[0], centre[1] + radius[0])
    if zoom:  # ticks are drawn once, in the background
        ax.set(xticks=[], yticks=[], xlabel="", ylabel="")
    if points is not None and len(points):
        ax.scatter(points[:, 0], points[:, 1], marker="*", s=160, c="k", zorder=3)
    dots = _dots(ax, panel.x[0, :, :2], colours)
    width = ax.text(0.02, 0.02, "", transform=ax.transAxes, fontsize=7, color="0.3") if zoom else None

    def update(f):
        dots.set_offsets(panel.x[f, :, :2])
        if zoom:
            ax.set_xlim(centre[0] - radius[f], centre[0] + radius[f])  # shared: every panel's view
            ax.set_ylim(centre[1] - radius[f], centre[1] + radius[f])
            width.set_text(f"view {2 * radius[f]:.3g} wide")

    return update


def _setup_1d(ax, hist, panel, points, colours):
    """Position against time: the first PATHS_1D paths grow from t = 1 (left)
    to the current t; beside them, the whole cloud's histogram at that t."""
    ax.set(xlabel="t", ylabel="x")
    ax.set_xlim(1.03, -0.05)
    if points is not None and len(points):
        ax.scatter(np.zeros(len(points)), points[:, 0], marker="*", s=160, c="k", zorder=3)
    m = min(PATHS_1D, panel.x.shape[1])
    paths = LineCollection([], linewidths=0.5, colors=colours[:m], alpha=0.5, zorder=1)
    ax.add_collection(paths)
    dots = _dots(ax, np.column_stack([np.ones(m), panel.x[0, :m, 0]]), colours[:m])
    saved = np.arange(0, len(panel.traj), max(1, len(panel.traj) // PATH_POINTS))
    edges = np.linspace(*ax.get_ylim(), HIST_BINS + 1)
    counts = np.array([np.histogram(x[:, 0], edges)[0] for x in panel.x])
    hist.set(xticks=[], xlim=(0, 1.05 * max(counts.max(), 1)), xlabel="histogram")
    hist.tick_params(labelleft=False)
    bars = hist.stairs(counts[0], edges, orientation="horizontal", fill=True, color=HIST_COLOUR)

    def update(f):
        dots.set_offsets(np.column_stack([np.full(m, panel.t[f]), panel.x[f, :m, 0]]))
        done = saved[saved < panel.pos[f]]  # saved rows already passed, then the current point
        t = np.append(panel.ts[done], panel.t[f])
        x = np.concatenate([panel.traj[done, :m, 0], panel.x[f, None, :m, 0]])
        paths.set_segments(np.stack([np.broadcast_to(t[:, None], x.shape), x], axis=-1).transpose(1, 0, 2))
        bars.set_data(counts[f])

    return update


def _frames(fig, moving, draw, n):
    """The ``n`` frames as palette images: what never changes (axes, ticks,
    labels, the suptitle) is drawn once and restored before each frame, then
    only the ``moving`` artists are drawn on it (text is most of matplotlib's
    drawing time)."""
    alphas = [artist.get_alpha() for artist in moving]
    for artist in moving:  # drawn transparent: a hidden title would be laid out elsewhere
        artist.set_alpha(0.0)
    fig.canvas.draw()
    background = fig.canvas.copy_from_bbox(fig.bbox)
    for artist, alpha in zip(moving, alphas):
        artist.set_alpha(alpha)
    moving = sorted(moving, key=lambda artist: artist.get_zorder())
    images = []
    for f in range(n):
        draw(f)
        fig.canvas.restore_region(background)
        for artist in moving:
            fig.draw_artist(artist)
        rgb = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3])
        # octree: a few ms a frame, against 13 for the GIF writer's median cut
        images.append(rgb.quantize(255, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE))
    return images


def trajectories_gif(runs: dict, name: str, t_min: float, path: str, points=None, zoom: bool = True) -> int:
    """Write a GIF of each run's particles moving from t = 1 to t = 0, one
    panel per run; returns the number of distinct frames drawn.

    ``runs`` maps ``.../{label}-{steps}.npy`` (or ``{label}-{steps}``) to a
    record ``(rows, x)``: grid indices of the run's time grid (``t_min`` as
    in :func:`stepdiff.runner.time_grid`) and the particles there, shape
    ``(len(rows), k, d)``; or to an ``io.Trajectories`` (its rows and
    cloud); or to an array ``(steps + 1, k, d)`` of every row. ``points``
    (m, d), optional, are drawn as stars. In 2-D, ``zoom`` makes the view follow the cloud
    down to the final samples (else one view of the whole path, as for
    point masses); 1-D data is drawn as position against t beside a
    histogram, over the whole path. The file appears only once complete.
    """
    if not runs:
        raise ValueError(f"{name}: no trajectories to animate")
    records = {key: _record(key, record) for key, record in runs.items()}
    longest = max(len(rows) for rows, _ in records.values())
    u = frame_rows(longest) / (longest - 1)
    panels = [_Panel(key, rows, traj, t_min, u) for key, (rows, traj) in records.items()]
    dims = {p.x.shape[2] for p in panels}
    if len(dims) != 1:
        raise ValueError(f"{name}: runs of different dimensions {sorted(dims)}")
    dim = dims.pop()
    points = None if points is None else np.asarray(points, dtype=float).reshape(-1, dim)
    n = len(panels)
    if dim == 1:
        ratios = [PANEL_INCHES, HIST_INCHES] * n
        fig, grid = plt.subplots(
            1,
            2 * n,
            figsize=(sum(ratios), PANEL_INCHES + 0.3),
            squeeze=False,
            sharey=True,
            dpi=DPI,
            gridspec_kw={"width_ratios": ratios},
        )
        axes, hists = grid[0, ::2], grid[0, 1::2]
    else:
        fig, grid = plt.subplots(
            1,
            n,
            figsize=(PANEL_INCHES * n, PANEL_INCHES + 0.3),
            squeeze=False,
            sharex=True,
            sharey=True,
            dpi=DPI,
        )
        axes, hists = grid[0], []
    try:
        updates = []
        if dim == 1:
            every = np.concatenate(
                [p.traj.reshape(-1, 1) for p in panels] + ([points] if points is not None else [])
            )
            axes[0].set_ylim(*_limits(every[:, 0]))
        else:
            centre, radius = _views(panels, points, zoom)
        for i, (ax, panel) in enumerate(zip(axes, panels)):
            colours = _colours(panel.traj[-1], points, panel.x.shape[1])
            if dim == 1:
                updates.append(_setup_1d(ax, hists[i], panel, points, colours))
            else:
                updates.append(_setup_2d(ax, panel, points, colours, centre, radius))
            if i:  # shared y axis
                ax.set_ylabel("")
            ax.tick_params(labelsize=7)
            ax.xaxis.label.set_size(8)
            ax.yaxis.label.set_size(8)
        for hist in hists:
            hist.xaxis.label.set_size(7)
        titles = [ax.set_title(panel.title(0), fontsize=9) for ax, panel in zip(axes, panels)]
        fig.suptitle(f"{name}: {panels[0].x.shape[1]} samples from t = 1 to t = 0", fontsize=10)
        fig.tight_layout()
        fig.tight_layout()  # again: equal-aspect panels move once the first pass shrinks them
        moving = [c for ax in grid[0] for c in (*ax.collections, *ax.patches, *ax.texts)] + titles

        def draw(f):
            for update, title, panel in zip(updates, titles, panels):
                update(f)
                title.set_text(panel.title(f))

        images = _frames(fig, moving, draw, len(u))
    finally:
        plt.close(fig)
    durations = [1000 // FPS] * len(images)
    durations[0], durations[-1] = HOLD_START * durations[0], HOLD_END * durations[-1]
    with atomic(path, ".gif") as tmp:  # Pillow picks the format from the suffix
        images[0].save(tmp, save_all=True, append_images=images[1:], duration=durations, loop=0)
    return len(images)
