"""pegasus-explore: serve a checkpoint's latent explorer to the browser (Flask).

GAN explorer: sliders move latent coordinates (and a class for conditional models) and the
generated image follows. VAE map (2-D latents): the decoded manifold beside the held-out
images' embeddings coloured by class; clicking the map decodes that point."""
from __future__ import annotations

import socket

import hydra
from omegaconf import DictConfig, OmegaConf
from werkzeug.serving import BaseWSGIServer, make_server

from pegasus_lab.checkpoints import model_from_checkpoint
from pegasus_lab.cli.common import (check_values, log, pick_device, ready_datamodule,
                                    report_user_errors, run_command)
from pegasus_lab.config_groups import config_dir
from pegasus_lab.errors import ConfigError, PegasusError, require_int, require_seed
from pegasus_lab.explore.app import create_app, embed


def _check_settings(cfg: DictConfig) -> None:
    """Said before the checkpoint loads (and before the port is taken)."""
    check_values(cfg)
    require_int("num_sliders", cfg.num_sliders, 0)
    require_int("map_points", cfg.map_points, 1)
    require_seed("seed", cfg.seed)


def build_app(cfg: DictConfig):
    _check_settings(cfg)
    model, stored = model_from_checkpoint(cfg.ckpt, pick_device(cfg.device))
    embeddings, classes = None, model.class_names
    if model.latent_dim == 2 and hasattr(model, "encode"):
        try:
            dm = ready_datamodule(OmegaConf.merge(stored.data, cfg.get("data") or {}))
            embeddings, classes = embed(model, dm, cfg.map_points), dm.classes
        except PegasusError as err:  # the map still shows the manifold without its points
            log.warning("map without embeddings: %s", err)
    return create_app(model, embeddings, classes, cfg.num_sliders, cfg.seed)


def _listen(host: str, port: int) -> socket.socket:
    """The explorer's socket, bound before the checkpoint loads: a port another program holds,
    or an address this machine lacks, is one config error (not the web server's exit 1)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)  # as werkzeug
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen()
        return sock
    except OSError as err:
        sock.close()
        raise ConfigError(f"cannot serve the explorer on {host}:{port}: "
                          f"{err.strerror or err} (choose another port=… or host=…)") from err


def open_server(cfg: DictConfig) -> BaseWSGIServer:
    """The explorer's web server, listening but not yet serving."""
    _check_settings(cfg)
    require_int("port", cfg.port, 1, 65535)
    with _listen(cfg.host, cfg.port) as sock:
        app = build_app(cfg)
        return make_server(cfg.host, cfg.port, app, threaded=True, fd=sock.fileno())


def explore(cfg: DictConfig) -> None:
    server = open_server(cfg)
    host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host  # an IPv6 address in a URL
    print(f"explorer: http://{host}:{cfg.port}/  (Ctrl-C stops it)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # the way to stop it, as said: an end, not an error
        print("explorer stopped")
    finally:
        server.server_close()


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="explore")
def _hydra_main(cfg: DictConfig) -> None:
    report_user_errors(explore, cfg)


def main() -> None:
    run_command(_hydra_main, "explore")


if __name__ == "__main__":
    main()
