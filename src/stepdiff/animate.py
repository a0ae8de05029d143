"""Animated GIFs of sampler trajectories, from saved arrays only.

A trajectory array has shape ``(steps + 1, k, d)``: row 0 is the start at
t = 1, row ``steps`` the sample at t = 0, and the rows follow the run's time
grid. Frames are spaced evenly in the row index (the sampler's own clock):
short runs are interpolated linearly between rows, so that every saved row
is a frame, and long runs are subsampled. Axis limits cover the whole path,
so nothing rescales while the particles move.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.animation import FuncAnimation, PillowWriter  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from .config import DEFAULT_GRID, parse_label, run_of  # noqa: E402
from .grids import times  # noqa: E402
from .io import atomic  # noqa: E402

# Drawing a frame costs about 60 ms: 24 frames at 8 per second keep a GIF
# under 2 CPU-s, the figure job's largest part.
MIN_FRAMES = 20
MAX_FRAMES = 24
FPS = 8
HOLD_START = 3  # repeated frames: Pillow merges them into one longer frame
HOLD_END = 12
TAIL_BAND = 2  # frames per band of the fading tail behind each 2-D particle
TAIL_ALPHA = (0.6, 0.3, 0.12)  # the bands' opacities, newest first
PATH_POINTS = 200  # saved rows drawn per 1-D path, at most about
PANEL_INCHES = 3.6
DPI = 80


def frame_rows(steps: int) -> np.ndarray:
    """Fractional row indices of the frames, from 0 to ``steps``: every row
    (interpolated to at least MIN_FRAMES) or MAX_FRAMES rows spread evenly."""
    if steps + 1 > MAX_FRAMES:
        return np.round(np.linspace(0, steps, MAX_FRAMES))
    per_step = max(1, -(-(MIN_FRAMES - 1) // steps))  # ceil((MIN_FRAMES - 1) / steps)
    return np.linspace(0, steps, steps * per_step + 1)


def _at(rows, values):
    """``values`` (indexed by row, any trailing shape) interpolated linearly at fractional ``rows``."""
    last = len(values) - 1
    i = np.clip(np.floor(rows).astype(int), 0, max(last - 1, 0))
    w = np.clip(rows - i, 0.0, 1.0).reshape((-1,) + (1,) * (values.ndim - 1))
    j = np.minimum(i + 1, last)
    return (1 - w) * values[i] + w * values[j]


def _t_text(t):
    return f"t = {t:.3f}" if t == 0 or t >= 0.01 else f"t = {t:.1e}"


def _limits(values, pad=0.05):
    values = values[np.isfinite(values)]  # a diverged run must not break the axes
    lo, hi = (float(values.min()), float(values.max())) if values.size else (-1.0, 1.0)
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    return lo - pad * span, hi + pad * span


class _Panel:
    """One run: its interpolated positions and times at the animation's frames."""

    def __init__(self, key, traj, t_min, u):
        self.label, self.steps = run_of(key)
        traj = np.asarray(traj, dtype=float)
        if traj.ndim != 3 or len(traj) != self.steps + 1:
            raise ValueError(f"{key}: expected shape ({self.steps + 1}, k, d), got {traj.shape}")
        sampler, grid = parse_label(self.label)
        self.name = sampler.upper() + ("" if grid == DEFAULT_GRID else f" ({grid})")
        # sampling.time_grid's times, read from grids: importing sampling would tie this
        # rule's code fingerprint (provenance) to the samplers and the data module
        self.ts = np.array(times(self.steps, grid, t_min))
        self.traj = traj
        self.rows = u * self.steps
        self.x = _at(self.rows, traj)  # (frames, k, d)
        self.t = _at(self.rows, self.ts)

    def title(self, f):
        return f"{self.name}, {self.steps} steps: {_t_text(self.t[f])}"


def _colours(end, points, k):
    """Particles coloured by the point each ends nearest, or all alike."""
    if points is None or not len(points) or not k:
        return np.tile(to_rgba("C0"), (k, 1))
    nearest = np.argmin(((end[:, None, :] - points[None]) ** 2).sum(-1), axis=1)
    return plt.get_cmap("tab10")(nearest % 10)


def _setup_2d(ax, panel, points, colours):
    ax.set(aspect="equal", xlabel="x₁", ylabel="x₂")
    if points is not None and len(points):
        ax.scatter(points[:, 0], points[:, 1], marker="*", s=160, c="k", zorder=3)
    tails = LineCollection([], linewidths=1.0, zorder=1)
    ax.add_collection(tails)
    dots = ax.scatter(panel.x[0, :, 0], panel.x[0, :, 1], s=10, c=colours, zorder=2)
    k = panel.x.shape[1]

    def update(f):
        dots.set_offsets(panel.x[f, :, :2])
        # the tail: one short polyline per particle and band, fainter further back
        # (a path per band, not per segment: matplotlib's cost is per path)
        segments, rgba = [], []
        for b, alpha in enumerate(TAIL_ALPHA):
            end = f - b * TAIL_BAND
            if end <= 0 or not k:
                break
            part = panel.x[max(end - TAIL_BAND, 0) : end + 1, :, :2]  # (frames, k, 2)
            segments.append(part.transpose(1, 0, 2))
            rgba.append(np.column_stack([colours[:, :3], np.full(k, alpha)]))
        tails.set_segments([s for band in segments for s in band])
        tails.set_color(np.concatenate(rgba) if rgba else "none")
        return dots, tails

    return update


def _setup_1d(ax, panel, points, colours):
    """Position against time: each path grows from t = 1 (left) to the current t."""
    ax.set(xlabel="t", ylabel="x")
    ax.set_xlim(1.03, -0.05)
    if points is not None and len(points):
        ax.scatter(np.zeros(len(points)), points[:, 0], marker="*", s=160, c="k", zorder=3)
    k = panel.x.shape[1]
    paths = LineCollection([], linewidths=0.7, colors=colours, alpha=0.7, zorder=1)
    ax.add_collection(paths)
    dots = ax.scatter(np.ones(k), panel.x[0, :, 0], s=10, c=colours, zorder=2)
    rows = np.arange(0, panel.steps + 1, max(1, panel.steps // PATH_POINTS))  # a few hundred points a path

    def update(f):
        dots.set_offsets(np.column_stack([np.full(k, panel.t[f]), panel.x[f, :, 0]]))
        done = rows[rows < panel.rows[f]]  # saved rows already passed, then the current point
        t = np.append(panel.ts[done], panel.t[f])
        x = np.concatenate([panel.traj[done, :, 0], panel.x[f, None, :, 0]])
        paths.set_segments(np.stack([np.broadcast_to(t[:, None], x.shape), x], axis=-1).transpose(1, 0, 2))
        return dots, paths

    return update


def _freeze_background(fig, axes, titles):
    """Draw what never changes (axes, ticks, labels, the suptitle)
    once, as a picture behind the figure, and stop drawing it per frame.

    Text is most of matplotlib's drawing time, and ``Animation.save`` redraws
    the whole figure for every frame (it never blits); with this each frame
    draws only the particles, the stars and the panel titles.
    """
    moving = [c for ax in axes for c in ax.collections] + list(titles)
    for artist in moving:
        artist.set_visible(False)
    fig.canvas.draw()
    background = np.asarray(fig.canvas.buffer_rgba()).copy()
    for artist in moving:
        artist.set_visible(True)
    for ax in axes:
        ax.set_axis_off()  # spines, ticks, labels and the white axes patch
    for text in fig.texts:  # the suptitle
        text.set_visible(False)
    fig.figimage(background, origin="upper", zorder=-1)
    # Draw each frame once, in the writer's savefig: no layout pass (the
    # layout is fixed now) and no extra draw from FuncAnimation's draw_idle.
    fig.set_layout_engine(None)  # "none" would leave a placeholder engine
    fig.canvas.draw_idle = lambda *args, **kwargs: None


def trajectories_gif(
    trajectories: dict[str, np.ndarray], name: str, t_min: float, path: str, points=None
) -> int:
    """Write a GIF of the particles of each run moving from t = 1 to t = 0,
    one panel per run; returns the number of distinct frames drawn.

    ``trajectories`` maps ``.../{label}-{steps}.npy`` (or ``{label}-{steps}``)
    to an array of shape ``(steps + 1, k, d)`` on the run's time grid
    (``t_min`` as in :func:`stepdiff.sampling.time_grid`); ``points`` (m, d),
    optional, are drawn as stars. 1-D data is drawn as position against t.
    The file appears only once complete.
    """
    if not trajectories:
        raise ValueError(f"{name}: no trajectories to animate")
    steps = max(run_of(key)[1] for key in trajectories)
    u = frame_rows(steps) / steps
    panels = [_Panel(key, traj, t_min, u) for key, traj in trajectories.items()]
    dims = {p.x.shape[2] for p in panels}
    if len(dims) != 1:
        raise ValueError(f"{name}: runs of different dimensions {sorted(dims)}")
    dim = dims.pop()
    points = None if points is None else np.asarray(points, dtype=float).reshape(-1, dim)
    every = [p.traj.reshape(-1, dim) for p in panels] + ([points] if points is not None else [])
    every = np.concatenate(every)
    n = len(panels)
    fig, axes = plt.subplots(
        1, n, figsize=(PANEL_INCHES * n, PANEL_INCHES + 0.3), squeeze=False, sharex=True, sharey=True, dpi=DPI
    )
    try:
        updates = []
        for ax, panel in zip(axes[0], panels):
            colours = _colours(panel.traj[-1], points, panel.x.shape[1])
            if dim == 1:
                ax.set_ylim(*_limits(every[:, 0]))
                updates.append(_setup_1d(ax, panel, points, colours))
            else:
                lo, hi = _limits(every[:, :2])
                ax.set(xlim=(lo, hi), ylim=(lo, hi))
                updates.append(_setup_2d(ax, panel, points, colours))
            if ax is not axes[0, 0]:  # shared y axis
                ax.set_ylabel("")
            ax.tick_params(labelsize=7)
            ax.xaxis.label.set_size(8)
            ax.yaxis.label.set_size(8)
        titles = [ax.set_title(panel.title(0), fontsize=9) for ax, panel in zip(axes[0], panels)]
        fig.suptitle(f"{name}: particles from t = 1 to t = 0", fontsize=10)
        fig.tight_layout()
        fig.tight_layout()  # again: equal-aspect panels move once the first pass shrinks them
        _freeze_background(fig, axes[0], titles)

        def draw(f):
            artists = []
            for update, title, panel in zip(updates, titles, panels):
                artists += update(f)
                title.set_text(panel.title(f))
            return artists

        frames = len(u)
        order = [0] * HOLD_START + list(range(frames)) + [frames - 1] * HOLD_END
        animation = FuncAnimation(fig, draw, frames=order, blit=False, repeat=False)
        with atomic(path, ".gif") as tmp:  # Pillow picks the format from the suffix
            animation.save(tmp, writer=PillowWriter(fps=FPS), dpi=DPI)
    finally:
        plt.close(fig)
    return frames
