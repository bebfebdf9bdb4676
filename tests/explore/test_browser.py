"""The explorer page in a real headless browser (Debian's chromium), when one is installed."""
import shutil
import subprocess
import threading

import pytest
from werkzeug.serving import make_server

from tests.explore.test_app import _client  # noqa: F401  (the same tiny checkpoint recipe)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="no headless chromium installed")
def test_the_page_renders_a_generated_image(tmp_path):
    client = _client(tmp_path, "study_gan")
    server = make_server("127.0.0.1", 0, client.application)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/"
        dom = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
             "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    finally:
        server.shutdown()
    assert 'id="sample"' in dom and "/api/generate?z=" in dom  # the sliders' script ran
    assert 'data-loaded="64"' in dom  # and the browser decoded the 64-pixel PNG
