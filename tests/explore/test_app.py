"""The explorer's endpoints, through Flask's test client, on tiny trained checkpoints."""
import io
import json
import socket
import threading
import urllib.request
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from PIL import Image

from pegasus_lab.cli.explore import build_app, explore, open_server
from pegasus_lab.errors import ConfigError
from pegasus_lab.cli.train import train
from tests.conftest import compose_config, smoke


def _checkpoint(tmp_path, model, extra=()) -> Path:
    cfg = compose_config("train", [*smoke(model), *extra], tmp_path)
    train(cfg)
    return Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"


def _explore_cfg(ckpt, **settings):
    return OmegaConf.create({"ckpt": str(ckpt), "host": "127.0.0.1", "port": 8050,
                             "num_sliders": 4, "map_points": 50, "seed": 0, "device": "cpu",
                             "data": {}, **settings})


def _client(tmp_path, model, extra=()):
    app = build_app(_explore_cfg(_checkpoint(tmp_path, model, extra)))
    app.testing = True
    return app.test_client()


def _image(response):
    assert response.status_code == 200 and response.mimetype == "image/png"
    return Image.open(io.BytesIO(response.data))


@pytest.fixture(scope="module")
def gan_ckpt(tmp_path_factory):
    return _checkpoint(tmp_path_factory.mktemp("gan"), "study_acgan")


@pytest.fixture(scope="module")
def gan(gan_ckpt):
    app = build_app(_explore_cfg(gan_ckpt))
    app.testing = True
    return app.test_client()


@pytest.fixture(scope="module")
def vae_map(tmp_path_factory):
    return _client(tmp_path_factory.mktemp("vae"), "study_cvae",
                   ["model.encoder.latent_dim=2"])


def test_page_and_info(gan):
    assert b"pegasus_lab explorer" in gan.get("/").data
    info = gan.get("/api/info").get_json()
    assert info["num_sliders"] == 4 and info["has_map"] is False
    assert info["classes"] == ["disc", "square", "hstripes", "vstripes"]


def test_sliders_move_the_generated_image(gan):
    a = _image(gan.get("/api/generate?z=0,0,0,0&label=1"))
    b = _image(gan.get("/api/generate?z=2.5,-2,1,0&label=1"))
    c = _image(gan.get("/api/generate?z=0,0,0,0&label=3"))
    assert a.size == (64, 64)  # 16² images, shown 4× larger
    assert a.tobytes() != b.tobytes() and a.tobytes() != c.tobytes()


def test_bad_requests_are_told_why(gan):
    r = gan.get("/api/generate?z=a,b")
    assert r.status_code == 400 and b"comma-separated" in r.data
    assert gan.get("/api/generate?z=0,0,0,0,0,0").status_code == 400
    assert gan.get("/api/generate?label=9").status_code == 400
    r = gan.get("/api/generate?z=0,nan")  # float() reads it; the image would be NaN
    assert r.status_code == 400 and b"z must be finite numbers" in r.data
    assert gan.get("/api/manifold.png").status_code == 404


def test_vae_map_manifold_embeddings_and_click(vae_map):
    info = vae_map.get("/api/info").get_json()
    assert info["has_map"] and info["num_sliders"] == 2
    grid = _image(vae_map.get("/api/manifold.png?n=5&label=0"))
    assert grid.size == (5 * 18 + 2, 5 * 18 + 2)
    points = vae_map.get("/api/embeddings").get_json()
    assert len(points["points"]) > 0 and len(points["points"][0]) == 3
    assert points["classes"] == ["disc", "square", "hstripes", "vstripes"]
    one = _image(vae_map.get("/api/decode?z0=0.5&z1=-1&label=2"))
    assert one.size == (64, 64)
    assert vae_map.get("/api/decode?z0=1").status_code == 400
    assert vae_map.get("/api/decode?z0=inf&z1=0").status_code == 400


@pytest.mark.parametrize("query,says", [("n=0", b"n must lie in [1, 40]"),
                                        ("n=41", b"n must lie in [1, 40]"),
                                        ("n=five", b"n must be an integer"),
                                        ("span=nan", b"span must lie in"),
                                        ("span=-1", b"span must lie in")])
def test_bad_map_requests_are_told_why(vae_map, query, says):
    r = vae_map.get(f"/api/manifold.png?{query}")
    assert r.status_code == 400 and says in r.data


@pytest.mark.parametrize("key,value,says", [
    ("port", 99999, "port must be an integer from 1 to 65535, got 99999"),
    ("port", 0, "port must be an integer from 1 to 65535, got 0"),
    ("map_points", 0, "map_points must be a positive integer, got 0"),
    ("num_sliders", -1, "num_sliders must be 0 or a positive integer, got -1"),
    ("seed", -1, "seed must be an integer from 0 to 4294967295, got -1"),
])
def test_bad_settings_are_said_before_the_checkpoint_loads(tmp_path, key, value, says):
    with pytest.raises(ConfigError, match=says):
        explore(_explore_cfg(tmp_path / "none.ckpt", **{key: value}))


def test_a_port_in_use_is_said_before_the_checkpoint_loads(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as other_program:
        port = other_program.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot serve the explorer on 127.0.0.1:{port}: "
                                              "Address already in use"):
            explore(_explore_cfg(tmp_path / "none.ckpt", port=port))


def test_the_server_serves_the_page_on_its_port(gan_ckpt):
    with socket.create_server(("127.0.0.1", 0)) as probe:  # a port free a moment ago
        port = probe.getsockname()[1]
    server = open_server(_explore_cfg(gan_ckpt, port=port))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{port}"
        assert b"pegasus_lab explorer" in urllib.request.urlopen(base + "/", timeout=30).read()
        info = json.load(urllib.request.urlopen(base + "/api/info", timeout=30))
        assert info["num_sliders"] == 4
    finally:
        server.shutdown()
        thread.join(timeout=30)


def test_ctrl_c_stops_the_explorer_as_it_says_it_does(gan_ckpt, monkeypatch, capsys):
    """Its way to stop, not an error: no `error: interrupted` line, status 0, port freed."""
    from pegasus_lab.cli import explore as command
    opened = []

    def serving_until_ctrl_c(cfg):
        server = open_server(cfg)
        opened.append(server)
        monkeypatch.setattr(server, "serve_forever", lambda: (_ for _ in ()).throw(
            KeyboardInterrupt))
        return server

    monkeypatch.setattr(command, "open_server", serving_until_ctrl_c)
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    assert explore(_explore_cfg(gan_ckpt, port=port)) is None
    assert capsys.readouterr().out.splitlines()[-1] == "explorer stopped"
    with socket.create_server(("127.0.0.1", port)):  # free again
        pass
