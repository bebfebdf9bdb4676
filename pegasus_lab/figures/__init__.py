"""Figures drawn from a trained model: sample grids, walks, picks, memorisation, pegasi.
Each function returns [0, 1] images (and what else it measured); saving is the caller's."""
