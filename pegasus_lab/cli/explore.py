"""pegasus-explore: serve a checkpoint's latent explorer to the browser (Flask).

GAN explorer: sliders move latent coordinates (and a class for conditional models) and the
generated image follows. VAE map (2-D latents): the decoded manifold beside the held-out
images' embeddings coloured by class; clicking the map decodes that point."""
from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from pegasus_lab.checkpoints import model_from_checkpoint
from pegasus_lab.cli.common import (config_dir, log, pick_device, ready_datamodule,
                                    report_user_errors, require_all_values)
from pegasus_lab.errors import PegasusError, require_int
from pegasus_lab.explore.app import create_app, embed


def build_app(cfg: DictConfig):
    require_all_values(cfg)
    require_int("num_sliders", cfg.num_sliders, 0)  # said before the checkpoint loads
    require_int("map_points", cfg.map_points, 1)
    model, stored = model_from_checkpoint(cfg.ckpt, pick_device(cfg.device))
    embeddings, classes = None, model.class_names
    if model.latent_dim == 2 and hasattr(model, "encode"):
        try:
            dm = ready_datamodule(OmegaConf.merge(stored.data, cfg.get("data") or {}))
            embeddings, classes = embed(model, dm, cfg.map_points), dm.classes
        except PegasusError as err:  # the map still shows the manifold without its points
            log.warning("map without embeddings: %s", err)
    return create_app(model, embeddings, classes, cfg.num_sliders, cfg.seed)


def explore(cfg: DictConfig) -> None:
    require_int("port", cfg.port, 1, 65535)
    app = build_app(cfg)
    print(f"explorer: http://{cfg.host}:{cfg.port}/  (Ctrl-C stops it)")
    app.run(host=cfg.host, port=cfg.port, debug=False)


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="explore")
def _hydra_main(cfg: DictConfig) -> None:
    report_user_errors(explore, cfg)


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
