"""Data layer: image sources, class filters, tensor caches and the LightningDataModule."""
