"""Baseline files: found by name (``baselines/<name>.yaml``) or path, read by the guarded
YAML reader of ``suites.yaml_files``."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from pmarl_bench.agents.base import AgentConfig
from pmarl_bench.errors import ConfigError, from_validation, unknown_key
from pmarl_bench.suites.cell import network_config
from pmarl_bench.suites.schema import Baseline
from pmarl_bench.suites.yaml_files import _as_mapping, read_yaml
from pmarl_bench.trainer.config import PPOConfig

PPO_FIELDS = [f for f in PPOConfig.model_fields if f != "total_env_steps"]


#: the project's own baselines (a suite written elsewhere, e.g. by the Python API, finds them)
SHIPPED_BASELINES = Path(__file__).resolve().parents[2] / "baselines"


def find_baseline(ref: str, suite_dir: Path) -> Path:
    if ref.endswith((".yaml", ".yml")) or "/" in ref:
        path = Path(ref) if Path(ref).is_absolute() else suite_dir / ref
        if not path.is_file():
            raise ConfigError(f"no baseline file {str(path)!r}")
        return path
    dirs = [suite_dir.parent / "baselines", suite_dir / "baselines", Path.cwd() / "baselines",
            SHIPPED_BASELINES]  # fmt: skip
    for d in dirs:
        if (d / f"{ref}.yaml").is_file():
            return d / f"{ref}.yaml"
    available = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.yaml")})
    raise ConfigError(f"no baseline {ref!r}; available: {', '.join(available) or '(none found)'}")


def load_baseline(path: Path) -> tuple[Baseline, AgentConfig, dict]:
    data = _as_mapping(read_yaml(path), path)
    try:
        baseline = Baseline(**data)
    except ValidationError as err:
        raise from_validation(err, f"{path}: ", Baseline) from None
    network = network_config(baseline.network, f"{path}: network")
    check_ppo_keys(baseline.ppo, f"{path}: ppo")
    return baseline, network, baseline.ppo


def check_ppo_keys(data: dict, where: str) -> None:
    for key in data:
        if key == "total_env_steps":
            raise ConfigError(
                "set the budget with `steps` (suite or env entry) or --steps", f"{where}.{key}"
            )
        if key not in PPO_FIELDS:
            raise ConfigError(unknown_key(key, PPO_FIELDS), f"{where}.{key}")
