"""bench/optimizers.py: paper-2's optimizer steps timed for each way torch's Adam runs. No
timing is asserted: that every variant steps every network's optimizer as asked."""
import functools

import torch

from bench.optimizers import VARIANTS, time_optimizer_steps


def test_every_variant_steps_each_network_as_often_as_asked():
    torch.manual_seed(0)
    networks = {"critic": torch.nn.Linear(4, 1), "generator": torch.nn.Linear(2, 4)}
    before = {n: [p.detach().clone() for p in net.parameters()] for n, net in networks.items()}
    made = []

    def factory(params, **options):
        made.append(options)
        return torch.optim.Adam(params, lr=1e-3, **options)

    steps = ["critic"] * 5 + ["generator"]
    result = time_optimizer_steps(networks, {n: factory for n in networks}, steps, iters=2,
                                  warmup=1)
    assert made == [o for o in VARIANTS.values() for _ in networks]  # each network, each way
    assert result["steps_per_iteration"] == 6
    assert result["parameter_tensors"] == {"critic": 2, "generator": 2}
    assert all(result[f"{v}_ms"] > 0 for v in VARIANTS)
    assert result["fused_vs_foreach"] == result["foreach_ms"] / result["fused_ms"]
    for name, net in networks.items():  # stepped with the gradients given
        assert all(not torch.equal(p, q) for p, q in zip(net.parameters(), before[name]))


def test_the_experiments_own_optimizer_settings_are_kept():
    networks = {"critic": torch.nn.Linear(3, 3)}
    seen = []
    factory = functools.partial(torch.optim.Adam, lr=2e-4, betas=(0.0, 0.9))

    def recording(params, **options):
        opt = factory(params=params, **options)
        seen.append(opt.defaults)
        return opt

    time_optimizer_steps(networks, {"critic": recording}, ["critic"], iters=1, warmup=0)
    assert all(d["lr"] == 2e-4 and d["betas"] == (0.0, 0.9) for d in seen)
    assert [d["fused"] for d in seen] == [None, None, True]
    assert [d["foreach"] for d in seen] == [False, True, None]
