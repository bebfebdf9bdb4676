"""Thin Hydra entry points: pegasus-train, pegasus-sample."""
