"""Metrics: Inception features (extractor separate from the maths), FID/KID through
torchmetrics, the Inception Score when its weights load, and the pegasus score."""
