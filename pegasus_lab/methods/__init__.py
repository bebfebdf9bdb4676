"""Training logic: one LightningModule per method, manual optimization."""
