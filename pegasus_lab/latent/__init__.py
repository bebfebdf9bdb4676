"""Latent-space arithmetic: interpolation and blends."""
