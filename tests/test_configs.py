"""Every config composes, and every model and data config builds through its _target_."""

import shutil

import pytest
from omegaconf import OmegaConf
from hydra.utils import instantiate

from pegasus_lab.argument_types import check_argument_types
from pegasus_lab.data.datamodule import ImageDataModule
from pegasus_lab.errors import ConfigError, find_user_error
from pegasus_lab.methods.base import GenerativeModule
from tests.conftest import CONF, SMOKE, compose_config, smoke


def _names(group):
    return sorted(p.stem for p in (CONF / group).glob("*.yaml") if not p.stem.startswith("_"))


@pytest.mark.parametrize("experiment", _names("experiment"))
def test_every_experiment_composes(experiment, tmp_path):
    cfg = compose_config("train", [f"experiment={experiment}"], tmp_path)
    for key in ("data", "model", "trainer", "callbacks", "paths", "seed"):
        assert key in cfg
    assert cfg.task_name == experiment or cfg.task_name.startswith(experiment.split("_")[0])
    # the model builds from the experiment's own config (init_from is given at run time)
    if "pretrained_ckpt" in cfg.keys():  # given at run time
        cfg.model.init_from = None
    check_argument_types(cfg)  # each value of a kind its target's annotations take
    assert isinstance(instantiate(cfg.model), GenerativeModule)


@pytest.mark.parametrize("experiment", _names("experiment"))
def test_debug_smoke_cuts_any_experiment_to_a_few_cpu_batches(experiment, tmp_path):
    smoke_trainer = compose_config("train", ["trainer=smoke"], tmp_path).trainer
    cfg = compose_config("train", [f"experiment={experiment}", "debug=smoke"], tmp_path)
    assert cfg.trainer.accelerator == "cpu"
    assert cfg.trainer.limit_train_batches == smoke_trainer.limit_train_batches == 3
    assert cfg.trainer.max_epochs == smoke_trainer.max_epochs == 2
    assert cfg.trainer.log_every_n_steps == smoke_trainer.log_every_n_steps
    assert cfg.trainer.max_steps == 2 * 3  # finite: the WGANs decay their rates over it
    # the rest of the experiment is its own (its data, model and task)
    paper = compose_config("train", [f"experiment={experiment}"], tmp_path)
    assert cfg.model == paper.model and cfg.data == paper.data
    assert cfg.task_name == paper.task_name
    assert cfg.smoke_run is True and paper.smoke_run is False  # resume=auto keeps them apart


def test_a_trainer_choice_alone_keeps_the_experiment_s_length(tmp_path):
    # why debug=smoke exists: the experiment, applied after the trainer group, sets its epochs
    cfg = compose_config("train", ["experiment=paper0_vaegan", "trainer=smoke"], tmp_path)
    assert cfg.trainer.max_epochs == 250 and cfg.trainer.limit_train_batches == 3
    # and a trainer chosen on the command line wins over debug=smoke's
    cfg = compose_config("train", ["experiment=paper0_vaegan", "debug=smoke", "trainer=cpu"],
                         tmp_path)
    assert cfg.trainer.max_epochs == 2 and cfg.trainer.limit_train_batches is None


@pytest.mark.parametrize("data", _names("data"))
def test_every_data_config_builds_lazily(data, tmp_path):
    overrides = [f"data={data}"]
    if data == "image_folder":
        overrides.append(f"data.source.root={tmp_path}")
    cfg = compose_config("train", overrides, tmp_path)
    check_argument_types(cfg.data)
    dm = instantiate(cfg.data)  # sources read nothing until used
    assert isinstance(dm, ImageDataModule)
    assert list(dm.value_range) == list(cfg.model.input_range)


@pytest.mark.parametrize("model", _names("model"))
def test_every_model_builds_for_synthetic_data(model, tmp_path):
    cfg = compose_config("train", smoke(model), tmp_path)
    check_argument_types(cfg.model)
    assert isinstance(instantiate(cfg.model), GenerativeModule)


@pytest.mark.parametrize("model,key", [
    ("acwgan_gp", "gp_weight"), ("acwgan_gp", "aux_weight_real"), ("acwgan_gp", "aux_weight_fake"),
    ("acwgan_gp", "aux_weight_generator"), ("study_wgan", "clip_value"),
    ("vae_conv", "kl_weight"), ("vaegan", "gamma"), ("vaegan", "kl_weight"),
    ("study_acgan", "class_weight"), ("study_cvae", "kl_weight"),
])
def test_a_negative_loss_weight_is_a_config_error(model, key, tmp_path):
    """A sign slip (`model.gp_weight=-10`) would train another objective without a word."""
    cfg = compose_config("train", [*smoke(model), f"model.{key}=-1"], tmp_path)
    with pytest.raises(Exception) as err:
        instantiate(cfg.model)
    found = find_user_error(err.value)
    assert isinstance(found, ConfigError)
    assert f"{key} must be a finite number of at least 0, got -1" in str(found)


@pytest.mark.parametrize("model,key,optimizer,extra", [
    ("vae_conv", "optimizer", "Adam", []), ("vaegan", "decoder_optimizer", "RMSprop", []),
    ("dcgan", "generator_optimizer", "Adam", []),
    ("study_gan", "discriminator_optimizer", "Adam", []),
    ("acwgan_gp", "critic_optimizer", "Adam", ["model.lr_decay=false"]),  # no Trainer here
])
def test_a_key_the_optimizer_does_not_take_is_a_config_error(model, key, optimizer, extra,
                                                               tmp_path):
    """`+model.optimizer.lrr=1` reaches the optimizer when training starts: one line naming
    the key, not a TypeError's traceback from inside Lightning."""
    cfg = compose_config("train", [*smoke(model), f"+model.{key}.lrr=1", *extra], tmp_path)
    module = instantiate(cfg.model)
    with pytest.raises(ConfigError) as err:
        module.configure_optimizers()
    assert str(err.value).startswith(f"model.{key}: {optimizer}.__init__() got an unexpected "
                                     f"keyword argument 'lrr'; did you mean model.{key}.lr? "
                                     "(the keys under")


@pytest.mark.parametrize("trainer", _names("trainer"))
def test_every_trainer_config_composes(trainer, tmp_path):
    cfg = compose_config("train", [f"trainer={trainer}"], tmp_path)
    assert cfg.trainer._target_.endswith("Trainer")
    check_argument_types(cfg.trainer)


def test_paper1_offline_from_cifar10_jpegs_as_the_readme_shows(tmp_path, cifar_mini):
    """README, paper 1: CIFAR-10 from its JPEG export (`data/cifar10/{train,test}`) in place
    of torchvision's files, STL-10 left out: stage 2 reads the horses and birds of both."""
    for split in ("train", "test"):
        shutil.copytree(cifar_mini, tmp_path / "cifar10" / split)
    cfg = compose_config("train", [
        "experiment=paper1_finetune", "pretrained_ckpt=none.ckpt", "data.source.optional=[stl10]",
        "data.source.parts.cifar10={_target_:pegasus_lab.data.folder.ImageFolderSource,"
        f"root:{tmp_path / 'cifar10'}}}"], tmp_path)
    dm = instantiate(cfg.data)
    dm.setup("fit")
    assert dm.classes == ["horse", "bird"]
    count = {c: sum(1 for _ in (cifar_mini / c).iterdir()) for c in ("horse", "bird")}
    assert len(dm.source) == 2 * (count["horse"] + count["bird"])  # both splits
    assert sorted(dm.source.labels().tolist()) == [0] * 2 * count["horse"] + \
        [1] * 2 * count["bird"]


def test_paper1_numbers_are_the_papers(tmp_path):
    pre = compose_config("train", ["experiment=paper1_pretrain"], tmp_path)
    fine = compose_config("train", ["experiment=paper1_finetune"], tmp_path)
    assert pre.trainer.max_epochs == 100 and fine.trainer.max_epochs == 300
    assert pre.data.image_size == fine.data.image_size == 32
    assert set(pre.data.source.parts) == {"cifar10", "stl10"}
    assert pre.data.source.parts.cifar10.split == "both"
    assert list(fine.data.classes) == ["horse", "bird"]
    assert fine.data.source.parts.stl10.split == "labeled"
    spec = fine.interpolation
    assert (spec.from_class, spec.to_class, spec.from_count, spec.to_count) == (
        "horse", "bird", 8, 21)
    assert (spec.start, spec.stop, spec.steps, spec.method) == (0.4, 0.7, 8, "slerp")
    assert fine.model.reconstruction == "bce"
    assert OmegaConf.is_missing(fine, "pretrained_ckpt")


def test_sample_config_composes():
    cfg = compose_config("sample", ["ckpt=x.ckpt"])
    assert cfg.mode == "grid" and cfg.interpolation.to_count == 21


def test_paper0_numbers_are_the_papers(tmp_path):
    for overrides in ([], ["data=cifar10_folder"]):  # online and offline CIFAR-10
        cfg = compose_config("train", ["experiment=paper0_vaegan", *overrides], tmp_path)
        assert list(cfg.data.classes) == ["horse", "bird", "airplane"]
        assert cfg.data.source.split == "both" and cfg.trainer.max_epochs == 250
    assert cfg.model.discriminator.feature_layer == 3
    base = compose_config("train", ["experiment=paper0_vae_pixel"], tmp_path)
    assert base.model.encoder == cfg.model.encoder and base.model.decoder == cfg.model.decoder
    blend = compose_config("sample", ["ckpt=x"]).blend
    assert blend.body_weight == 0.65 and list(blend.wing_classes) == ["bird", "airplane"]


def test_paper3_numbers_are_the_papers(tmp_path):
    from hydra.utils import instantiate
    for experiment in ("paper3_stl10", "paper3_cifar10"):
        cfg = compose_config("train", [f"experiment={experiment}"], tmp_path)
        assert cfg.data.image_size == 64 and cfg.model.generator.latent_dim == 100
        assert list(cfg.model.generator_optimizer.betas) == [0.5, 0.999]
        assert cfg.model.generator_optimizer.lr == 2e-4 and cfg.data.val_fraction > 0
        model = instantiate(cfg.model)
        assert sum(p.numel() for p in model.generator.parameters()) == 3_576_704
        assert sum(p.numel() for p in model.discriminator.parameters()) == 2_765_568


def test_tensorboard_event_files_reach_the_disk_every_ten_seconds(tmp_path):
    """Not SummaryWriter's 120 s: curves show while a run trains, and a Ctrl-C that cut the
    writer thread's wake-up short waits at most this long."""
    cfg = compose_config("train", ["logger=tensorboard"], tmp_path)
    writer = instantiate(cfg.logger.tensorboard).experiment
    try:
        assert writer.flush_secs == 10
    finally:
        writer.close()


@pytest.mark.parametrize("seconds", [0, -1])
def test_a_flush_interval_that_never_pauses_is_refused(seconds, tmp_path):
    # the writer's thread then flushes without a pause (paper-2's smoke run: 106 s, not 15 s)
    from pegasus_lab.cli.train import build
    cfg = compose_config("train", [*SMOKE, f"logger.tensorboard.flush_secs={seconds}"], tmp_path)
    with pytest.raises(ConfigError, match=r"^logger.tensorboard.flush_secs must be a finite "
                                          rf"number of at least 0.1, got {seconds}$"):
        build(cfg)
