import pytest
import torch
import torch.nn.functional as F

from pegasus_lab.errors import CheckpointError
from pegasus_lab.metrics.inception import (CPU_CHUNK, FID_WEIGHTS_SHA256, InceptionFeatures,
                                          preprocess, preprocess_nhwc)
from tests.conftest import CIFAR_MINI, SHARED_FID_PARTS
from tests.helpers import CopyRecorder


def test_preprocessing_on_a_known_image():
    # a 2×2 image: black, white / white, black, in all channels
    img = torch.tensor([[0, 255], [255, 0]], dtype=torch.uint8).expand(1, 3, 2, 2)
    x = preprocess(img)
    assert x.shape == (1, 3, 299, 299)
    # pixel values map 0 → −1 and 255 → +1; bilinear (align_corners=False) keeps the corners'
    # quarter-pixel neighbourhoods at the source values
    assert x[0, 0, 0, 0] == -1.0 and x[0, 0, 0, -1] == 1.0 and x[0, 0, -1, 0] == 1.0
    assert torch.allclose(x[0, 0, 149, 149], torch.tensor(0.0), atol=1e-6)  # the centre blends
    ref = F.interpolate(img.float() / 255, size=(299, 299), mode="bilinear",
                        align_corners=False) * 2 - 1
    assert torch.allclose(x, ref, atol=1e-5)  # pytorch-fid: resize in [0,1], then 2x − 1


def test_grey_images_become_three_channels():
    x = preprocess(torch.full((2, 1, 32, 32), 255, dtype=torch.uint8))
    assert x.shape == (2, 3, 299, 299) and torch.allclose(x, torch.ones_like(x))


@pytest.mark.parametrize("channels", [3, 1])
def test_nhwc_preprocessing_is_the_same_without_copying_the_resized_batch(channels):
    # the GPU path: NHWC for the extractor, laid out at 32² before the resize rather than
    # copied at 299² after it
    torch.manual_seed(0)
    images = torch.randint(0, 256, (4, channels, 32, 32), dtype=torch.uint8)
    with CopyRecorder() as recorder:
        x = preprocess_nhwc(images)
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(x, preprocess(images))
    assert recorder.copies and all(c.shape[-2:] == (32, 32) for c in recorder.copies)


def test_the_weights_take_the_layout_of_the_device_they_move_to(tiny_fid_weights):
    # NCHW on the CPU, whatever they were before; NHWC on a GPU (the next test)
    extractor = InceptionFeatures(*tiny_fid_weights)
    extractor.net.to(memory_format=torch.channels_last)
    conv = [p for p in extractor.net.parameters() if p.ndim == 4]
    assert conv and not all(p.is_contiguous() for p in conv)
    extractor.to("cpu")
    assert all(p.is_contiguous() for p in extractor.net.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_on_a_gpu_the_weights_are_nhwc_and_the_features_the_cpus(tiny_fid_weights):
    torch.manual_seed(0)
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    extractor = InceptionFeatures(*tiny_fid_weights)  # fp32: IEEE on the GPU as well
    expected = extractor(images)
    extractor.to("cuda")
    assert all(p.is_contiguous(memory_format=torch.channels_last)
               for p in extractor.net.parameters() if p.ndim == 4)
    got = extractor(images.cuda()).cpu()
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-5)
    extractor.to("cpu")
    assert all(p.is_contiguous() for p in extractor.net.parameters())


def test_missing_weights_say_how_to_get_them(tmp_path):
    with pytest.raises(CheckpointError, match="make fid-weights"):
        InceptionFeatures(tmp_path / "none.pt")


def test_wrong_weights_are_refused(tiny_fid_weights):
    path, _ = tiny_fid_weights
    with pytest.raises(CheckpointError, match="expected " + FID_WEIGHTS_SHA256):
        InceptionFeatures(path)  # the default expects the real file's sha256


def test_loads_a_torchscript_extractor_and_is_batch_independent(tiny_fid_weights):
    ext = InceptionFeatures(*tiny_fid_weights)
    assert ext.num_features == 16
    imgs = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    together = ext(imgs)
    alone = torch.cat([ext(imgs[i:i + 1]) for i in range(4)])
    assert torch.allclose(together, alone, atol=1e-5)
    ext.train()
    assert not ext.training  # stays in inference mode


class _BatchSizes(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net, self.sizes = net, []

    def forward(self, x):
        self.sizes.append(len(x))
        return self.net(x)


def test_on_the_cpu_a_large_batch_goes_through_in_chunks_with_the_same_features(
        tiny_fid_weights):
    ext = InceptionFeatures(*tiny_fid_weights)
    imgs = torch.randint(0, 256, (2 * CPU_CHUNK + 3, 3, 32, 32), dtype=torch.uint8)
    alone = torch.cat([ext(imgs[i:i + 1]) for i in range(len(imgs))])
    ext.net = _BatchSizes(ext.net)
    together = ext(imgs)
    assert ext.net.sizes == [CPU_CHUNK, CPU_CHUNK, 3]
    assert together.shape == alone.shape and torch.allclose(together, alone, atol=1e-5)


@pytest.mark.skipif(not SHARED_FID_PARTS.exists(), reason="../shared FID weights not present")
def test_the_real_weights_give_2048_pool_features(tmp_path):
    from pegasus_lab.data.folder import ImageFolderSource
    weights = tmp_path / "inception.pt"
    with open(weights, "wb") as out:
        for part in sorted(SHARED_FID_PARTS.glob("*.part*")):
            out.write(part.read_bytes())
    ext = InceptionFeatures(weights)
    images, _ = ImageFolderSource(CIFAR_MINI).materialise(32, 3, [0, 1, 40, 80])
    feats = ext(images)
    assert feats.shape == (4, 2048) and torch.isfinite(feats).all() and (feats >= 0).all()
    assert not torch.allclose(feats[0], feats[1])


def test_precision_is_checked_and_the_cpu_features_do_not_depend_on_it(tiny_fid_weights):
    with pytest.raises(ValueError, match="precision"):
        InceptionFeatures(*tiny_fid_weights, precision="fp16")
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    a = InceptionFeatures(*tiny_fid_weights, precision="fp32")(images)
    b = InceptionFeatures(*tiny_fid_weights, precision="tf32")(images)
    assert torch.equal(a, b)
