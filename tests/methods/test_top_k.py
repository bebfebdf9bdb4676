"""Top-k training of the generator (methods/top_k.py) and the GANs that take it."""
import re

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from pegasus_lab.errors import ConfigError, find_user_error
from pegasus_lab.methods.adversarial_loss import LOSSES, AdversarialLoss
from pegasus_lab.methods.top_k import TopK
from tests.conftest import compose_config, smoke
from tests.helpers import fit_steps

GANS = ["dcgan", "study_acgan", "acwgan_gp", "study_wgan"]


def test_the_share_decays_each_epoch_down_to_its_least():
    top_k = TopK(decay=0.5, least=0.3)
    assert [top_k.share_at(e) for e in range(4)] == [1.0, 0.5, 0.3, 0.3]
    top_k.set_epoch(1)
    assert top_k.share.item() == 0.5


def test_the_k_highest_scores_share_the_weight():
    top_k = TopK(decay=0.5)
    scores = torch.tensor([0.1, 3.0, -1.0, 2.0, 0.5])
    assert torch.equal(top_k.weights(scores), torch.full((5,), 0.2))  # epoch 0: all of them
    top_k.set_epoch(1)  # k = ⌈0.5 · 5⌉ = 3
    assert torch.allclose(top_k.weights(scores), torch.tensor([0, 1, 0, 1, 1]) / 3)
    tied = torch.tensor([1.0, 1.0, 1.0, 0.0])  # k = 2: ties by position
    assert torch.equal(top_k.weights(tied), torch.tensor([0.5, 0.5, 0.0, 0.0]))


@pytest.mark.parametrize("name", LOSSES)
def test_the_dropped_images_get_no_gradient_and_the_kept_ones_their_mean(name):
    loss, top_k = AdversarialLoss(name), TopK(decay=0.5)
    top_k.set_epoch(1)
    logits = torch.tensor([0.3, -2.0, 1.5, -0.5], requires_grad=True)
    weights = top_k.weights(logits)  # keeps 0.3 and 1.5
    value = loss.generator(logits, weights)
    kept = logits[[0, 2]]
    assert value.item() == pytest.approx(loss.generator(kept).item(), rel=1e-6)
    value.backward()
    assert logits.grad[1] == 0 and logits.grad[3] == 0 and logits.grad[0] != 0


@pytest.mark.parametrize("decay,least,says", [
    (0.0, 0.5, "top_k_decay must lie in \\(0, 1\\], got 0.0"), (1.5, 0.5, "top_k_decay"),
    ("fast", 0.5, "top_k_decay"), (0.99, 0.0, "top_k_least must lie in"),
    (None, 2, "top_k_least must lie in"),  # said while top-k is off too
])
def test_bad_settings_are_config_errors(tmp_path, decay, least, says):
    with pytest.raises(Exception) as caught:  # Hydra's, around the model's
        instantiate(compose_config("train", [*smoke("dcgan"), f"model.top_k_decay={decay}",
                                             f"model.top_k_least={least}"], tmp_path).model)
    error = find_user_error(caught.value)
    assert isinstance(error, ConfigError) and re.match(says, str(error)), caught.value


@pytest.mark.parametrize("name", GANS)
def test_off_by_default(tmp_path, name):
    model = instantiate(compose_config("train", smoke(name), tmp_path).model)
    assert model.top_k is None and not any("top_k" in k for k in model.state_dict())


@pytest.mark.parametrize("name", ["dcgan", "study_wgan"])  # AdversarialPair's, WGAN's
def test_each_gan_trains_with_it_and_its_share_follows_the_epochs(tmp_path, name):
    torch.manual_seed(0)
    cfg = compose_config("train", [*smoke(name), "model.top_k_decay=0.5",
                                   "model.top_k_least=0.3", "data.source.per_class=10"],
                         tmp_path)
    trainer = fit_steps(cfg, tmp_path, 1_000, epochs=2)
    model = trainer.lightning_module
    assert trainer.current_epoch == 2 and model.top_k.share.item() == 0.5  # set at epoch 1
    assert trainer.callback_metrics["train/top_k_share"] == 0.5  # logged, a curve
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert "top_k.share" not in model.state_dict()  # follows from the epoch


@pytest.mark.parametrize("name", ["cdcgan", "study_acgan", "acwgan_gp"])
def test_the_generator_s_losses_count_the_kept_images_only(tmp_path, name):
    """Its adversarial term and its class term, on the half the discriminator (critic)
    scores highest in the second epoch."""
    model = instantiate(compose_config("train", [*smoke(name), "model.top_k_decay=0.5"],
                                       tmp_path).model)
    model.top_k.set_epoch(1)
    torch.manual_seed(3)
    out = model.generator_loss(8) if name == "cdcgan" else model.generator_losses(8)
    torch.manual_seed(3)
    labels = model.random_labels(8) if name == "acwgan_gp" else model._labels(8)
    fake = model.generator(torch.randn(8, model.latent_dim), labels)
    if name == "cdcgan":
        scores = model.discriminator(fake, labels)
        kept = torch.argsort(scores, descending=True)[:4]
        assert out.item() == pytest.approx(
            model.adversarial_loss.generator(scores[kept]).item(), rel=1e-5)
        return
    scores, classes = (model.critic if name == "acwgan_gp" else model.discriminator)(fake)
    kept = torch.argsort(scores, descending=True)[:4]
    adversarial, aux = ("generator_wasserstein", "generator_aux") if name == "acwgan_gp" \
        else ("g_source", "g_class")
    expected = -scores[kept].mean() if name == "acwgan_gp" else \
        model.adversarial_loss.generator(scores[kept])
    assert out[adversarial].item() == pytest.approx(expected.item(), rel=1e-5)
    assert out[aux].item() == pytest.approx(
        F.cross_entropy(classes[kept], labels[kept]).item(), rel=1e-5)
