import torch

from pegasus_lab.metrics.memorisation import nearest, summary


def test_nearest_neighbour_finds_the_planted_duplicate():
    g = torch.Generator().manual_seed(0)
    bank = torch.rand(500, 3, 8, 8, generator=g)
    queries = torch.rand(20, 3, 8, 8, generator=g)
    queries[7] = bank[123] + 1e-4  # a (nearly) copied training image
    dist, idx = nearest(queries, bank, chunk=6)
    assert idx[7] == 123 and dist[7] < 1e-2
    assert dist.argmin() == 7
    ref = torch.cdist(queries.flatten(1), bank.flatten(1)).min(1)
    assert torch.equal(idx, ref.indices) and torch.allclose(dist, ref.values)


def test_summary_flags_copies():
    heldout = torch.linspace(1.0, 2.0, 100)
    copies = torch.full((50,), 0.01)
    report = summary(copies, heldout)
    assert report["generated_below_heldout_p1"] == 1.0 and report["median_ratio"] < 0.02
    assert summary(heldout, heldout)["generated_below_heldout_p1"] < 0.05
