"""Metrics: Inception features (extractor separate from the maths), FID (float64, its square
root by symmetric eigendecompositions) and KID through torchmetrics, the Inception Score when
its weights load, and the pegasus score."""
