"""What the entry points share (cli/common.py): output paths checked first, a quiet console,
the exit status of a multirun, a draw's name."""
import os
import sys

import pytest

from pegasus_lab.cli.common import check_writable
from pegasus_lab.errors import ConfigError


def test_a_path_in_folders_not_yet_made_is_fine_and_nothing_is_created(tmp_path):
    out = tmp_path / "new" / "deeper" / "fid.json"
    assert check_writable(out, "out") == out
    assert os.listdir(tmp_path) == []


def test_a_folder_is_not_a_file_name(tmp_path):
    with pytest.raises(ConfigError, match=r"out=.* is a folder: give a file name in it"):
        check_writable(tmp_path, "out")


def test_a_file_in_the_way_of_the_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"notes.txt is a file, not a folder"):
        check_writable(tmp_path / "notes.txt" / "figures" / "grid.png", "out")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root writes into read-only folders")
def test_a_folder_that_takes_no_new_file(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(ConfigError, match="no new file can be made in"):
            check_writable(locked / "grid.png", "out")
    finally:
        locked.chmod(0o700)


def test_library_notices_are_quiet_and_others_are_not():
    import warnings
    from pegasus_lab.cli.common import LIBRARY_NOTICES, quiet_library_notices
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet_library_notices()
        for module, category, message in LIBRARY_NOTICES:
            warnings.warn_explicit(f"{message} old API", category, "lib.py", 1, module=module)
        warnings.warn_explicit("old API", FutureWarning, "mine.py", 1, module="pegasus_lab.x")
        warnings.warn_explicit("other", UserWarning, "lib.py", 2,
                               module="lightning.pytorch.utilities._pytree")
        warnings.warn_explicit("Metric `FID` is slow", UserWarning, "lib.py", 3,
                               module="torchmetrics.utilities.prints")  # another message
    assert [(w.filename, w.lineno) for w in seen] == [("mine.py", 1), ("lib.py", 2),
                                                      ("lib.py", 3)]


def test_lightning_s_adverts_are_quiet_and_its_other_messages_are_not(caplog):
    import logging
    from lightning.pytorch.utilities.rank_zero import rank_zero_info
    from pegasus_lab.cli.common import quiet_library_notices
    quiet_library_notices()
    quiet_library_notices()  # every command calls it; once or twice, the same
    with caplog.at_level(logging.INFO):
        rank_zero_info("💡 Tip: For seamless cloud logging, try installing [litlogger]")
        rank_zero_info("GPU available: False, used: False")
    assert [r.getMessage() for r in caplog.records] == ["GPU available: False, used: False"]
    assert len(logging.getLogger("lightning.pytorch.utilities.rank_zero").filters) == 1


@pytest.mark.parametrize("user,other,status", [(1, 0, 2), (2, 1, 1), (0, 1, 1), (0, 0, 1)])
def test_a_multirun_whose_jobs_failed_on_user_errors_only_exits_with_2(user, other, status,
                                                                        monkeypatch):
    from pegasus_lab.cli import common

    def hydra_main():  # Hydra's status when a multirun's job failed
        raise SystemExit(1)
    monkeypatch.setattr(common, "_failed_jobs", {"user": user, "other": other})
    monkeypatch.setattr(sys, "argv", ["pegasus-train", "-m", "seed=1,2"])
    with pytest.raises(SystemExit) as stop:
        common.run_command(hydra_main, "train")
    assert stop.value.code == status


def test_a_draw_other_than_the_default_says_how_in_its_name():
    from pegasus_lab.cli.common import draw_label
    from tests.conftest import compose_config
    label = lambda *args: draw_label(compose_config("sample", ["ckpt=x.ckpt", *args]))
    assert label() == "" and label("truncation=0.5") == "_truncation0.5"
    assert label("average=false") == "_no-average"
    assert label("average=false", "truncation=0.5") == "_truncation0.5_no-average"
    assert draw_label(compose_config("evaluate", ["average=false"])) == "_no-average"


def test_average_false_samples_from_the_trained_weights(tmp_path):
    from hydra.utils import instantiate

    from pegasus_lab.cli.common import use_average
    from pegasus_lab.methods.ema import from_average
    from tests.conftest import compose_config, smoke
    model = instantiate(compose_config("train", [*smoke("cdcgan"), "model.ema_decay=0.5"],
                                       tmp_path).model)
    use_average(model, True, "x.ckpt")
    assert from_average(model)
    use_average(model, False, "x.ckpt")
    assert not model.sample_from_average and not from_average(model)
    plain = instantiate(compose_config("train", smoke("cdcgan"), tmp_path).model)
    assert not from_average(plain)
    with pytest.raises(ConfigError, match=r"^average=false: the conditional DCGAN of x.ckpt "
                                          r"keeps no average of generator weights"):
        use_average(plain, False, "x.ckpt")
