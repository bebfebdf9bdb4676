"""Paper-3's memorisation check as a figure: generated images beside their nearest training
images, and how far generated vs held-out real images lie from the training set."""
from __future__ import annotations

from collections.abc import Callable

import torch

from pegasus_lab.errors import ConfigError
from pegasus_lab.metrics.generated import generated_uint8
from pegasus_lab.metrics.memorisation import nearest, summary


@torch.no_grad()
def memorisation_check(model, datamodule, featurise: Callable[[torch.Tensor], torch.Tensor],
                       num_generated: int, num_pairs: int, seed: int = 0,
                       truncation: float | None = None) -> dict:
    """{"pairs": [0, 1] images (generated, nearest training) interleaved, "distances": dict of
    generated / held-out real distances, "report": numbers}. `truncation`: the generated
    images' latents within ±truncation (nearer the mode: do those copy training images?)."""
    if datamodule.val_idx is None or len(datamodule.val_idx) == 0:
        raise ConfigError("the memorisation check compares with held-out images: use "
                          "data.val_fraction > 0")
    train_images, _ = datamodule.uint8_images(datamodule.train_idx)
    heldout, _ = datamodule.uint8_images(datamodule.val_idx)
    generated = torch.cat(list(generated_uint8(model, num_generated, 250, seed,
                                               truncation=truncation))).cpu()
    bank = featurise(train_images)
    d_gen, nn_gen = nearest(featurise(generated), bank)
    d_held, _ = nearest(featurise(heldout), bank)
    k = min(num_pairs, len(generated))
    pairs = torch.stack([generated[:k], train_images[nn_gen[:k]]], 1).flatten(0, 1)
    report = {**summary(d_gen, d_held), "generated_distances": d_gen.tolist(),
              "heldout_distances": d_held.tolist(),
              "nearest_train_index": datamodule.train_idx[nn_gen.numpy()].tolist()}
    return {"pairs": pairs.float() / 255,
            "distances": {"generated": d_gen, "held-out real": d_held}, "report": report}
