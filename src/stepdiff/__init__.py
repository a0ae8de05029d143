"""stepdiff: diffusion models from first principles (Nakkiran et al., 2024).

The spine is data -> denoiser -> sampler -> samples -> metrics/figures.
Submodules are imported explicitly (``from stepdiff import sampling``) so
that numpy-only rules never import torch.
"""

__version__ = "0.1.0"
