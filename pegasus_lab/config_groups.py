"""The project's Hydra configs on disk (`conf/`): where they are, a group's options, and which
options set a key (for the hints after a key a run's config lacks)."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf


def config_dir() -> str:
    """`conf/` inside an installed wheel, else the repository's top-level `conf/`."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "conf", package.parent / "conf"):
        if (candidate / "train.yaml").is_file():
            return str(candidate)
    raise FileNotFoundError(f"no Hydra configs next to {package}")


def group_options(group: str) -> list[str]:
    """The options of a config group (`conf/<group>/*.yaml`), shared bases (`_…`) left out."""
    return sorted(p.stem for p in (Path(config_dir()) / group).glob("*.yaml")
                  if not p.stem.startswith("_"))


def options_with_key(group: str, key: str) -> list[str]:
    """The options of config group `group` that set `key` (dotted, e.g. `r1_gamma` of
    `model`), each read with the options of its group it builds on (`defaults: [dcgan]`);
    [] where `group` is no group."""
    if not (Path(config_dir()) / group).is_dir():
        return []

    def read(option: str, seen: tuple = ()) -> DictConfig:
        path = Path(config_dir()) / group / f"{option}.yaml"
        if option in seen or not path.is_file():
            return OmegaConf.create()
        own = OmegaConf.load(path)
        bases = [read(d, (*seen, option)) for d in own.get("defaults") or []
                 if isinstance(d, str) and d != "_self_"]
        return OmegaConf.merge(*bases, own)

    def has(node, parts: list[str]) -> bool:
        for part in parts:
            if not isinstance(node, DictConfig) or part not in node:
                return False
            node = node._get_node(part)
        return True

    found = []
    for option in group_options(group):
        try:
            if has(read(option), key.split(".")):
                found.append(option)
        except Exception:  # noqa: BLE001 - a hint only
            continue
    return found
