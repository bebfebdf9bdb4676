import torch
from PIL import Image, ImageDraw, ImageFont

from pegasus_lab.plots import draw_curve, draw_histograms


def test_draws_a_curve(tmp_path):
    path = draw_curve([3.0, 2.0, 2.5, 1.0], tmp_path / "c.png", "train/discriminator_epoch")
    img = Image.open(path)
    assert img.size == (640, 360)
    colours = {c for _, c in img.getcolors(100000)}
    assert (30, 90, 200) in colours  # the line is there


def test_single_value(tmp_path):
    assert draw_curve([1.0], tmp_path / "one.png", "x").exists()


def test_histograms(tmp_path):
    path = draw_histograms({"a": torch.randn(100), "b": torch.randn(50) + 2}, tmp_path / "h.png",
                           "distances")
    colours = {c for _, c in Image.open(path).getcolors(100000)}
    assert (30, 90, 200) in colours and (220, 90, 30) in colours


def test_every_character_drawn_is_in_the_default_font(tmp_path, monkeypatch):
    """The legend's em dash was drawn as the font's box for a missing glyph."""
    drawn = []
    text = ImageDraw.ImageDraw.text
    monkeypatch.setattr(ImageDraw.ImageDraw, "text",
                        lambda self, xy, s, *a, **k: drawn.append(s) or text(self, xy, s, *a, **k))
    draw_curve([3.0, 1.0], tmp_path / "c.png", "val/loss")
    draw_histograms({"generated": torch.rand(9), "held-out real": torch.rand(9)},
                    tmp_path / "h.png", "distance to the nearest training image (pixels)")
    font = ImageFont.load_default()
    missing = bytes(font.getmask("\ue000"))  # a private-use code point: no font has it
    drawn_glyphs = set("".join(drawn)) - {" "}  # a blank, whatever the font
    assert [c for c in drawn_glyphs if bytes(font.getmask(c)) == missing] == []
