"""Lightning callbacks: figures during training, and the config stored in checkpoints."""
