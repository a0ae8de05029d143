"""The figure job: an experiment's figure and animation, from its runs'
arrays and its metrics table only (restyling reruns no sampler)."""

from __future__ import annotations

from .. import plots
from ..animate import trajectories_gif
from ..data import from_config

KEYS = {"figure": ("data", "source", "t_min")}


def run(
    params: dict, name: str, train, samples: dict, trajectories: dict, loss, table, figure, animation
) -> int:
    """Histograms (1-D), trajectories (point masses) or scatter panels (2-D)
    into ``figure``; the paths as a GIF into ``animation``. ``samples`` and
    ``trajectories`` are keyed ``"{label}-{steps}"``. Returns the frame count."""
    law, masses = from_config(params["data"]), params["data"]["kind"] == "point_masses"
    if masses:
        fig = plots.trajectories_figure(law, trajectories, name)
    elif law.dim == 1:
        fig = plots.histogram_figure(law, table, samples, name)
    else:
        # a flow: show where it starts (the recorded cloud's first row: the run's own starts)
        source = next(iter(trajectories.values())).cloud[0] if "source" in params else None
        fig = plots.scatter_figure(train, samples, loss, name, source, trajectories)
    plots.save(fig, figure)
    # the figure draws each run's paths (n_trajectories), the animation its cloud (up to 2000
    # samples); point masses keep one view of the whole path (the figure's), others zoom in
    points = params["data"]["points"] if masses else None
    return trajectories_gif(trajectories, name, params["t_min"], animation, points=points, zoom=not masses)
