"""Paper-4's study: many models × data sets, trained by one Hydra multirun, compared in one table."""
