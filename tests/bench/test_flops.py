"""bench.flops counts the arithmetic of paper-2's iteration: its counter agrees with torch's
own, each exact rewrite needs 4/9 of the plain pair's multiply-adds, and the script's table
holds together on tiny networks."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.flops import FlopCount, main
from pegasus_lab.nets.fused_ops import ConvMeanPool, UpsampleConv


def test_the_counter_agrees_with_torchs_flop_counter():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(8 * 14 * 14, 5))
    x = torch.randn(4, 3, 16, 16)
    with FlopCount() as ours:
        net(x).sum().backward()
    with FlopCounterMode(display=False) as theirs:
        net(x).sum().backward()
    assert ours.flops == theirs.get_total_flops() > 0


@pytest.mark.parametrize("layer", [ConvMeanPool, UpsampleConv])
def test_each_rewrite_needs_four_ninths_of_the_arithmetic_per_image(layer):
    # forward and backward; the rewritten kernel is made from the 3×3 one once per call, a
    # cost that does not grow with the batch: compared is what each further image adds
    module = layer(8, 8).to("meta")

    def flops(fused, batch):
        module.fused = fused
        x = torch.empty(batch, 8, 16, 16, device="meta", requires_grad=True)
        with FlopCount() as count:
            module(x).sum().backward()
        return count.flops

    per_image = {fused: (flops(fused, 6) - flops(fused, 2)) / 4 for fused in (False, True)}
    assert per_image[False] > 0 and per_image[True] * 9 == per_image[False] * 4


def test_table_on_tiny_networks(tmp_path, tiny_fid_weights):
    weights, sha = tiny_fid_weights
    results = main(["--smoke", "--out", str(tmp_path / "f.json"), "--fid-weights", str(weights),
                    "--fid-sha256", sha, "--fid-samples", "100"])
    plain, rewrites, norm_kernel, no_norm = rows = results["rows"]
    assert 0 < rewrites["total"] < plain["total"]
    assert norm_kernel["total"] == rewrites["total"]  # the same arithmetic…
    assert no_norm["ops"] < norm_kernel["ops"] < rewrites["ops"]  # …in fewer operators
    for r in rows:
        assert r["total"] == pytest.approx(r["n_critic"] * r["critic_step"] + r["generator_step"])
    assert no_norm["total"] == rewrites["total"]  # a norm layer is no arithmetic
    assert (tmp_path / "f.json").exists()
    # the stand-in extractor: a 3×3 conv from 3 to 16 channels on the 23² pooled image
    assert results["fid"]["per_image"] == 2 * 21 * 21 * 16 * 3 * 9
    assert results["fid"]["total"] == 100 * results["fid"]["per_image"]
    assert "FID extractor" in results["table"]
    p0 = results["paper0"]
    assert p0["per_iteration"] > 0 and p0["images"] == 17100
    assert p0["per_epoch"] == p0["per_iteration"] * (17100 // p0["batch_size"])
    assert p0["total"] == 250 * p0["per_epoch"] and "paper-0 VAE-GAN" in results["table"]
