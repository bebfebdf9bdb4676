"""pegasus_lab: Lightning + Hydra experiments on generative image models."""

__version__ = "0.1.0"
