"""The adversarial losses by name (methods/adversarial_loss.py) and the GANs that take them."""
import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from pegasus_lab.errors import ConfigError
from pegasus_lab.methods.adversarial_loss import LOSSES, AdversarialLoss
from tests.conftest import compose_config, smoke
from tests.helpers import fit_steps

LOGITS = torch.tensor([-3.0, -0.5, 0.0, 0.25, 2.0])


def test_bce_is_the_cross_entropy_the_papers_train_with_bit_for_bit():
    loss = AdversarialLoss("bce")
    ones, zeros = torch.ones_like(LOGITS), torch.zeros_like(LOGITS)
    assert torch.equal(loss.real(LOGITS), F.binary_cross_entropy_with_logits(LOGITS, ones))
    assert torch.equal(loss.fake(LOGITS), F.binary_cross_entropy_with_logits(LOGITS, zeros))
    assert torch.equal(loss.generator(LOGITS), loss.real(LOGITS))  # non-saturating
    assert torch.equal(loss.score(LOGITS), torch.sigmoid(LOGITS).mean())


def test_hinge_terms():
    loss, l = AdversarialLoss("hinge"), LOGITS.tolist()
    assert loss.real(LOGITS).item() == pytest.approx(sum(max(0, 1 - x) for x in l) / len(l))
    assert loss.fake(LOGITS).item() == pytest.approx(sum(max(0, 1 + x) for x in l) / len(l))
    assert loss.generator(LOGITS).item() == pytest.approx(-sum(l) / len(l))
    assert loss.score(LOGITS).item() == pytest.approx(sum(l) / len(l))
    # scores beyond the margin cost the discriminator nothing
    assert loss.real(torch.tensor([1.5, 7.0])).item() == 0
    assert loss.fake(torch.tensor([-1.0, -4.0])).item() == 0


def test_least_squares_terms():
    loss, l = AdversarialLoss("least_squares"), LOGITS.tolist()
    assert loss.real(LOGITS).item() == pytest.approx(sum((x - 1) ** 2 for x in l) / len(l) / 2)
    assert loss.fake(LOGITS).item() == pytest.approx(sum(x ** 2 for x in l) / len(l) / 2)
    assert loss.generator(LOGITS).item() == pytest.approx(loss.real(LOGITS).item())
    # at the targets (1 for real, 0 for generated) both terms vanish
    assert loss.real(torch.ones(3)).item() == 0 and loss.fake(torch.zeros(3)).item() == 0


@pytest.mark.parametrize("name", [None, "wasserstein", "Hinge", 3, True])
def test_other_names_are_refused(name):
    with pytest.raises(ConfigError, match="adversarial_loss must be one of bce, hinge, "
                                          "least_squares"):
        AdversarialLoss(name)


@pytest.mark.parametrize("name", LOSSES)
def test_each_network_lowers_its_own_loss_on_a_fixed_opponent(tmp_path, name):
    """The signs: Adam on the discriminator's terms separates real images from a fixed
    generator's, and Adam on the generator's term then raises the fixed discriminator's scores
    of its images."""
    torch.manual_seed(0)
    model = instantiate(compose_config(
        "train", [*smoke("dcgan"), f"model.adversarial_loss={name}"], tmp_path).model)
    loss = model.adversarial_loss
    real = torch.rand(16, 3, 16, 16) * 2 - 1
    z = torch.randn(16, model.latent_dim)
    with torch.no_grad():
        fake = model.generator(z)
    opt = torch.optim.Adam(model.discriminator.parameters(), lr=1e-3)

    def d_loss():
        return loss.real(model.discriminator(real)) + loss.fake(model.discriminator(fake))

    before = d_loss().item()
    for _ in range(15):
        opt.zero_grad()
        d_loss().backward()
        opt.step()
    assert d_loss().item() < 0.8 * before
    model.discriminator.eval()  # its batch statistics fixed too
    opt = torch.optim.Adam(model.generator.parameters(), lr=1e-3)
    scored = lambda: model.discriminator(model.generator(z))
    before, score_before = loss.generator(scored()).item(), scored().mean().item()
    for _ in range(15):
        opt.zero_grad()
        loss.generator(scored()).backward()
        opt.step()
    assert loss.generator(scored()).item() < before and scored().mean().item() > score_before


@pytest.mark.parametrize("model_name", ["cdcgan", "study_gan", "study_acgan"])
@pytest.mark.parametrize("name", ["hinge", "least_squares"])
def test_each_gan_trains_with_it_from_its_config(tmp_path, model_name, name):
    torch.manual_seed(0)
    cfg = compose_config("train", [*smoke(model_name), f"model.adversarial_loss={name}"],
                         tmp_path)
    trainer = fit_steps(cfg, tmp_path, 3)
    assert trainer.lightning_module.adversarial_loss.name == name
    metrics = trainer.callback_metrics
    assert all(torch.isfinite(v) for k, v in metrics.items() if k.startswith("train/"))
    if name == "least_squares":  # both terms are squares
        key = "train/d_loss_step" if model_name == "cdcgan" else "train/d_source_step"
        assert metrics[key] > 0


def test_ac_gan_s_generator_takes_the_generator_term_not_the_discriminator_s(tmp_path):
    """Hinge's generator loss is −D(G(z)), not the discriminator's max(0, 1 − D(G(z)))."""
    cfg = compose_config("train", [*smoke("study_acgan"), "model.adversarial_loss=hinge"],
                         tmp_path)
    model = instantiate(cfg.model).eval()
    torch.manual_seed(3)
    out = model.generator_losses(8)
    torch.manual_seed(3)
    fake, labels = model._fake(8)
    source, classes = model.discriminator(fake)
    assert out["g_source"].item() == pytest.approx(-source.mean().item(), abs=1e-6)
    assert out["g_class"].item() == pytest.approx(F.cross_entropy(classes, labels).item(),
                                                  abs=1e-6)
