"""Live latent explorers served to a browser (paper-4's two applications)."""
