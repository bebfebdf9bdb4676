from PIL import Image

from pegasus_lab.callbacks.curve_png import draw_curve


def test_draws_a_curve(tmp_path):
    path = draw_curve([3.0, 2.0, 2.5, 1.0], tmp_path / "c.png", "train/discriminator_epoch")
    img = Image.open(path)
    assert img.size == (640, 360)
    colours = {c for _, c in img.getcolors(100000)}
    assert (30, 90, 200) in colours  # the line is there


def test_single_value(tmp_path):
    assert draw_curve([1.0], tmp_path / "one.png", "x").exists()
