"""Bad input of every kind ends as one line naming the file or option, exit 2, nothing
written, within seconds: a corpus of malformed suite and baseline files, values the code
cannot run, command-line options, and damaged or hostile results folders.

Each row is (name, how to make the command, the words the error line must contain). The
commands run in this process (typer's runner): the corpus takes seconds, not minutes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import submitit  # noqa: F401  (its logger binds sys.stderr on import: pytest's, not a runner's)
import yaml
from typer.testing import CliRunner

from pmarl_bench.cli import app
from pmarl_bench.results import metrics_frame, write_cell

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "suites" / "smoke.yaml"
runner = CliRunner()

BASE = {
    "name": "tiny",
    "seeds": 1,
    "steps": 4096,
    "envs": [{"id": "n_back-v0", "ppo": {"num_envs": 8, "rollout_length": 16}}],
    "agents": [{"baseline": "mlp"}],
}


def suite_with(tmp: Path, change) -> Path:
    """The base suite with ``change(data)`` applied, written to a file."""
    data = json.loads(json.dumps(BASE))
    change(data)
    path = tmp / "suite.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def env_option(**options):
    def change(data):
        data["envs"][0] = {"id": "grid_return-v0", "options": {"width": 9, "height": 9, **options}}

    return change


def setter(*keys, value):
    def change(data):
        target = data
        for k in keys[:-1]:
            target = target[k]
        target[keys[-1]] = value

    return change


def raw(tmp: Path, content: bytes, name: str = "suite.yaml") -> Path:
    path = tmp / name
    path.write_bytes(content)
    return path


def run_suite_file(make):
    return lambda tmp: ["run", str(make(tmp)), "--results-dir", str(tmp / "res")]


def run_with(change, *extra):
    return lambda tmp: [
        "run", str(suite_with(tmp, change)), "--results-dir", str(tmp / "res"), *extra
    ]  # fmt: skip


def bomb(levels: int = 7) -> bytes:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return ("\n".join(lines) + "\n").encode()


def fifo(tmp: Path) -> Path:
    path = tmp / "fifo.yaml"
    os.mkfifo(path)
    return path


def bad_baseline(tmp: Path) -> Path:
    raw(tmp, b"name: b\nnetwork: {kind: mlp}\ndescription: \xe9\n", "bad_baseline.yaml")
    return suite_with(tmp, setter("agents", 0, "baseline", value=str(tmp / "bad_baseline.yaml")))


# -- damaged and hostile results folders --------------------------------------------------
def cell(root: Path, agent: str = "mlp", suite: str = "toy", env: str = "recall") -> Path:
    returns = np.linspace(0, 1, 8)[None].repeat(2, 0)
    frame = metrics_frame({"episode_return": returns}, suite=suite, env=env, agent=agent,
                          seeds=[0, 1], env_steps_per_update=10)  # fmt: skip
    path = root / suite / env / agent
    manifest = {"suite": suite, "env": env, "agent": agent, "seeds": [0, 1], "config_hash": "x"}
    write_cell(path, frame, manifest)
    return path


def damaged(how):
    def make(tmp: Path):
        path = cell(tmp / "res")
        how(path)
        return ["report", str(tmp / "res" / "toy"), "--out", str(tmp / "out"), "--no-videos"]

    return make


def report_out(where):
    def make(tmp: Path):
        cell(tmp / "res")
        out = where(tmp)
        return ["report", str(tmp / "res" / "toy"), "--out", str(out), "--no-videos"]

    return make


def not_a_report(tmp: Path) -> Path:
    (tmp / "mine").mkdir()
    (tmp / "mine" / "thesis.tex").write_text("years of work")
    return tmp / "mine"


def a_file(tmp: Path) -> Path:
    (tmp / "file").write_text("x")
    return tmp / "file"


def planted_link(where: str, *extra: str):
    """``run`` of the base suite where ``res/<where>`` is a link to someone's folder outside."""

    def make(tmp: Path):
        link = tmp / "res" / where
        link.parent.mkdir(parents=True)
        link.symlink_to(not_a_report(tmp))
        return ["run", str(suite_with(tmp, lambda d: None)), "--results-dir", str(tmp / "res"),
                *extra]  # fmt: skip

    return make


def suite_folder_a_file(tmp: Path) -> list[str]:
    (tmp / "res").mkdir()
    (tmp / "res" / "tiny").write_text("x")
    return ["run", str(suite_with(tmp, lambda d: None)), "--results-dir", str(tmp / "res")]


HUGE = "9" * 5000  # past the 4,300 digits Python parses


def flow_bomb(levels: int = 7) -> str:
    """An alias bomb on one line (a ``--set`` value): 9**levels values once expanded."""
    items = ["&a0 [x, x, x, x, x, x, x, x, x]"]
    items += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "[" + ", ".join(items) + "]"


def huge_in_baseline(tmp: Path) -> Path:
    raw(tmp, f"name: b\nnetwork: {{kind: mlp, width: {HUGE}}}\n".encode(), "b.yaml")
    return suite_with(tmp, setter("agents", 0, "baseline", value=str(tmp / "b.yaml")))


def huge_in_tuned(tmp: Path) -> Path:
    tuned = {"protocol": {"sweep": "x", "chosen": "per task", "criterion": "iqm",
                          "tuning_seeds": [1000], "grid": {"lr": [0.1]}},
             "settings": {"n_back": {"mlp": {"lr": 0}}}}  # fmt: skip
    text = yaml.safe_dump(tuned).replace("lr: 0\n", f"lr: {HUGE}\n")
    raw(tmp, text.encode(), "t.tuned.yaml")
    return suite_with(tmp, setter("tuned", value="t.tuned.yaml"))


def damaged_journal(tmp: Path) -> list[str]:
    from test_study import SUITE

    (tmp / "r" / "o-tune").mkdir(parents=True)
    (tmp / "r" / "o-tune" / "optuna.journal").write_bytes(b"garbage\x00\xff{not json\n")
    return ["tune", str(raw(tmp, SUITE.encode(), "o.yaml")), "--results-dir", str(tmp / "r")]


def logs(tmp: Path) -> list[str]:
    (tmp / "logs").mkdir(exist_ok=True)
    return ["--slurm-logs", str(tmp / "logs")]


def local_slurm(tmp: Path) -> list[str]:
    """The SLURM launcher tried through submitit's local executor (no sbatch needed)."""
    return ["--launcher", "slurm", "--submitit-cluster", "local", *logs(tmp)]


def enjoy_cell(change):
    """A finished cell of the smoke suite, without training: a manifest and no checkpoint."""

    def make(tmp: Path):
        from pmarl_bench.suites import load_suite

        spec = load_suite(ROOT / "suites" / "smoke.yaml").cells[0]
        path = tmp / "res" / "smoke" / spec.env_name / spec.agent_name
        path.mkdir(parents=True)
        manifest = {"status": "complete", "suite": "smoke", "env": spec.env_name,
                    "agent": spec.agent_name, "seeds": list(spec.seeds), "config_hash": "x",
                    "config": spec.resolved_config(),
                    "checkpoints": [{"label": "final", "update": 1, "env_steps": 1}]}  # fmt: skip
        change(manifest)
        (path / "manifest.json").write_text(json.dumps(manifest))
        return ["enjoy", str(path), "--video-path", str(tmp / "v" / "x.gif")]

    return make


CORPUS = [
    # suite and baseline files
    ("missing file", lambda t: ["run", str(t / "none.yaml")], "none.yaml: no such file"),
    ("a folder", lambda t: ["run", str(t)], "not a regular file (a folder)"),
    ("a FIFO", lambda t: ["run", str(fifo(t))], "not a regular file (a FIFO)"),
    ("latin-1 bytes", run_suite_file(lambda t: raw(t, b"name: caf\xe9\n")), "not UTF-8 text"),
    ("UTF-16", run_suite_file(lambda t: raw(t, "name: x\n".encode("utf-16"))), "UTF-16 text"),
    ("random bytes", run_suite_file(lambda t: raw(t, os.urandom(2 << 20))), "file too large"),
    ("deep nesting", run_suite_file(lambda t: raw(t, b"[" * 5000 + b"]" * 5000)),
     "nested more than 32 levels deep"),
    ("alias bomb", run_suite_file(lambda t: raw(t, bomb())), "more than 100,000 values"),
    ("recursive alias", run_suite_file(lambda t: raw(t, b"a: &a [*a]\n")),
     "refers to a value that contains it"),
    ("malformed YAML", run_suite_file(lambda t: raw(t, b"name: [x\n")), "malformed YAML"),
    ("two documents", run_suite_file(lambda t: raw(t, b"a: 1\n---\nb: 2\n")), "malformed YAML"),
    ("a list", run_suite_file(lambda t: raw(t, b"- 1\n")), "expected a mapping"),
    ("bad baseline file", run_suite_file(bad_baseline), "bad_baseline.yaml: not UTF-8 text"),
    ("duplicate key", run_suite_file(lambda t: raw(t, b"name: a\nseeds: 1\nname: b\n")),
     "line 3: duplicate key 'name' (first on line 1)"),
    ("duplicate key, one line", run_suite_file(lambda t: raw(t, b"ppo: {lr: 1, lr: 2}\n")),
     "line 1: duplicate key 'lr'"),
    ("5000-digit integer", run_suite_file(lambda t: raw(t, f"seeds: {HUGE}\n".encode())),
     "line 1: an integer of 5,000 digits (at most 20)"),
    ("5000 digits in a baseline", run_suite_file(huge_in_baseline), "b.yaml: line 2: an integer"),
    ("5000 digits in tuned:", run_suite_file(huge_in_tuned), "t.tuned.yaml: line", "5,000 digits"),
    ("--set 5000 digits", run_with(lambda d: None, "--set", f"steps={HUGE}"),
     "--set steps: line 1: an integer of 5,000 digits"),
    ("--set alias bomb", run_with(lambda d: None, "--set", f"ppo={flow_bomb()}"),
     "--set ppo: holds more than 100,000 values"),
    ("--set deep nesting", run_with(lambda d: None, "--set", "ppo=" + "[" * 5000 + "]" * 5000),
     "--set ppo: nested more than 32 levels deep"),
    ("--set unknown key", run_with(lambda d: None, "--set", "envs.n_back.ppo.lrr=1"),
     "--set envs.n_back.ppo.lrr: unknown key; did you mean 'lr'? allowed: num_envs"),
    ("--set bad value", run_with(lambda d: None, "--set", "agents.mlp.network.width=0"),
     "--set agents.mlp.network.width: "),
    ("--set duplicate key", run_with(lambda d: None, "--set", "ppo={lr: 1, lr: 2}"),
     "--set ppo: line 1: duplicate key 'lr'"),
    ("name ends in a newline", run_with(setter("agents", 0, "name", value="probe\n")),
     "agents[0].name", "use up to 100 letters"),
    # wrong keys say where they are and what is allowed there
    ("env key", run_with(setter("envs", 0, "colour", value=1)),
     "envs[0].colour: unknown key; allowed: id, name, options"),
    ("agent key", run_with(setter("agents", 0, "colour", value=1)),
     "agents[0].colour: unknown key; allowed: baseline, name, network, ppo"),
    ("budget key", run_with(setter("budgets", value={"big": {"envs": {"n_back": {"x": 1}}}})),
     "budgets.big.envs.n_back.x: unknown key; allowed: options, steps, ppo"),
    ("view 4", run_with(env_option(view=4)), "view must be odd so the agent is at its centre"),
    # values the code cannot run
    ("num_epochs 0", run_with(setter("ppo", value={"num_epochs": 0})), "ppo.num_epochs"),
    ("lr inf", run_with(setter("ppo", value={"lr": float("inf")})), "ppo.lr"),
    ("p_match 2", run_with(setter("envs", 0, "params", value={"p_match": 2})),
     "params.p_match: must be in [0, 1] (got 2)"),
    ("p_match -1", run_with(setter("envs", 0, "params", value={"p_match": -1})),
     "params.p_match: must be in [0, 1]"),
    ("width 10^6", run_with(env_option(width=10**6)), "options.width"),
    ("view > map", run_with(env_option(view=11)), "view 11 is larger than the 9x9 map"),
    ("too many agents", run_with(env_option(num_agents=40)),
     "41 agents and objects do not fit in the free cells"),
    ("task name /", run_with(setter("envs", 0, value={"id": "multitask-v0", "options": {
        "tasks": [{"id": "scouts-v0", "name": "a/b"}]}})), "use letters, digits"),
    ("temp name", run_with(setter("agents", 0, "name", value="x.tmp-1")),
     "marks temporary folders"),
    ("name with @", run_with(setter("agents", 0, "name", value="mlp@running")),
     "use up to 100 letters"),
    ("seed 2^64", run_with(setter("seeds", value=[0, 2**64])), "each at most 2**31 - 1"),
    ("seed 2^31", run_with(setter("seeds", value=[2**31])), "each at most 2**31 - 1"),
    ("episode_length 1e12", run_with(lambda d: None, "--set", "envs.n_back.options."
                                     "episode_length=1e12"), "episode_length 1,000,000,000,000"),
    # runaway sizes: refused before any folder or compile (the preflight)
    ("grid of 10^6 trials", run_with(setter("sweep", value={"grid": {
        "lr": [i / 1e4 + 1e-4 for i in range(1000)], "ent_coef": [i / 1e4 for i in range(1000)]
    }})), "a grid of 1,000,000 combinations; at most 1,024"),
    ("grid of 10^14 trials", run_with(setter("sweep", value={"grid": {
        f"{k}": [i / 1e6 + 1e-6 for i in range(100)] for k in
        ("lr", "ent_coef", "vf_coef", "clip_eps", "gae_lambda", "max_grad_norm", "gamma")
    }})), "at most 1,024"),
    ("width 10^9", run_with(setter("agents", 0, value={"baseline": "mlp", "network": {
        "width": 10**9}})), "n_back/mlp: needs at least", "parameters per run", "--no-preflight"),
    ("--set width 10^9", run_with(lambda d: None, "--set", "agents.mlp.network.width=1e9"),
     "n_back/mlp: needs at least"),
    ("seeds x envs past int32", run_with(setter("seeds", value=10_000), "--set",
                                         "envs.n_back.ppo.num_envs=1000000", "--set",
                                         "steps=1e8"),
     "rollout rows per update, past int32"),
    ("tune: width 10^9 swept", lambda t: ["tune", str(suite_with(t, setter("sweep", value={
        "grid": {"network.width": [10**9], "lr": [1e-3]}}))), "--results-dir", str(t / "r")],
     "n_back/mlp.width-1e+09: needs at least"),
    ("tune: trials x seeds", lambda t: ["tune", str(suite_with(t, setter("sweep", value={
        "sample": {"lr": {"low": 1e-4, "high": 1e-2}}, "trials": 1024, "seeds": 100}))),
        "--results-dir", str(t / "r")], "100 seeds x 1,024 trials = 102,400 runs"),
    ("seeds 10^6", run_with(setter("seeds", value=10**6)), "a count of seeds from 1 to 10,000"),
    ("steps 1e13", run_with(setter("steps", value=10**13)), "steps"),
    ("cudnn on CPU", run_with(setter("agents", 0, value={"baseline": "transformer", "network":
        {"attention": "cudnn"}})), "cudnn needs an NVIDIA GPU"),
    # options
    ("--seeds huge", run_with(lambda d: None, "--seeds", "1000000000"), "--seeds: a count"),
    ("--steps 1e13", run_with(lambda d: None, "--steps", str(10**13)),
     "--steps: env steps per seed from 1 to 100,000,000,000"),
    ("--only ''", run_with(lambda d: None, "--only", ""), "--only: an empty pattern"),
    ("--device-memory 1e999", run_with(lambda d: None, "--device-memory", "1e999"),
     "--device-memory: a positive, finite size"),
    ("--results-dir a file", lambda t: ["run", str(suite_with(t, lambda d: None)),
                                        "--results-dir", str(a_file(t))],
     "--results-dir: ", "is a file, not a folder"),
    ("staging a link", planted_link("tiny/n_back/mlp@running"), "mlp@running is a symbolic link"),
    ("staging a link, --force", planted_link("tiny/n_back/mlp@running", "--force"),
     "never writes or deletes through a link"),
    ("cell a link", planted_link("tiny/n_back/mlp"), "n_back/mlp is a symbolic link"),
    ("failed a link", planted_link("tiny/n_back/mlp@failed"), "mlp@failed is a symbolic link"),
    ("env folder a link", planted_link("tiny/n_back"), "tiny/n_back is a symbolic link"),
    ("suite folder a link", planted_link("tiny"), "res/tiny is a symbolic link"),
    ("suite folder a file", suite_folder_a_file,
     "--results-dir: ", "res/tiny is a file, not a suite's results folder"),
    ("--snapshot-every x", run_with(lambda d: None, "--snapshot-every", "soon"),
     "--snapshot-every: not a duration"),
    # damaged results folders
    ("zero-byte parquet", damaged(lambda p: (p / "metrics.parquet").write_bytes(b"")),
     "no finished cells", "metrics.parquet is unreadable"),
    ("corrupt parquet", damaged(lambda p: (p / "metrics.parquet").write_bytes(b"PAR1" * 99)),
     "metrics.parquet is unreadable"),
    ("manifest a list", damaged(lambda p: (p / "manifest.json").write_text("[1, 2]")),
     "manifest.json is unreadable or no JSON object"),
    ("truncated manifest", damaged(lambda p: (p / "manifest.json").write_text('{"suite": "to')),
     "manifest.json is unreadable or no JSON object"),
    ("mistyped manifest", damaged(lambda p: (p / "manifest.json").write_text(json.dumps(
        {"status": "complete", "suite": "toy", "env": 3, "agent": "mlp"}))), "manifest.json: env"),
    ("wrong columns", damaged(lambda p: (p / "metrics.parquet").write_bytes(
        _parquet({"a": [1]}))), "metrics.parquet lacks the columns suite"),
    ("missing results", lambda t: ["report", str(t / "nothing")], "no such results folder"),
    ("--out = results", report_out(lambda t: t / "res" / "toy"),
     "would overwrite the results it reads"),
    ("--out inside results", report_out(lambda t: t / "res" / "toy" / "recall"),
     "would overwrite the results it reads"),
    ("--out around results", report_out(lambda t: t / "res"), "would overwrite the results"),
    ("--out a file", report_out(a_file), "is a file, not a folder"),
    ("--out in /proc", report_out(lambda t: Path("/proc/pmarl-report")),
     "--out: cannot create anything in /proc"),
    ("--out someone's folder", report_out(not_a_report), "holds files that are not a pmarl"),
    ("damaged Optuna journal", damaged_journal, "optuna.journal: the Optuna journal is damaged"),
    # enjoy, play, bench, list
    ("enjoy: no config", enjoy_cell(lambda m: m.pop("config")), "config: missing or damaged"),
    ("enjoy: no checkpoint", enjoy_cell(lambda m: None), "checkpoint final is missing or damaged"),
    ("enjoy: no seeds", enjoy_cell(lambda m: m.pop("seeds")), "seeds: missing or damaged"),
    ("enjoy: bad seeds", enjoy_cell(lambda m: m.update(seeds="0")),
     "this cell is damaged: manifest.json: seeds"),
    ("enjoy: .xyz", lambda t: ["enjoy", "a/b/c", "--video-path", str(t / "o.xyz")],
     "unsupported video format '.xyz'"),
    ("play: .xyz", lambda t: ["play", "n_back-v0", "--video-path", str(t / "o.xyz")],
     "unsupported video format '.xyz'"),
    ("play: unknown env", lambda t: ["play", "no_such_env-v0"], "unknown env 'no_such_env-v0'"),
    ("bench --save a folder", lambda t: ["bench", "--save", str(t), "--dry-run"],
     "--save: ", "is a folder"),
    ("bench --dry-run over a result", lambda t: ["bench", "--dry-run", "--save", str(
        raw(t, b'{"dry_run": false, "cases": {}}', "baseline.json"))],
     "--save: ", "baseline.json holds a measured result"),
    ("bench --save in /proc", lambda t: ["bench", "--save", "/proc/pmarl/b.json", "--dry-run"],
     "--save: cannot create /proc/pmarl/b.json"),
    ("bench --save under a file", lambda t: ["bench", "--save", str(a_file(t) / "x.json")],
     "--save: cannot create"),
    ("bench --profile a file", lambda t: ["bench", "--profile", str(a_file(t))],
     "--profile: ", "is a file, not a folder"),
    ("run a tuned file", lambda t: ["run", str(ROOT / "suites" / "memory.tuned.yaml")],
     "memory.tuned.yaml holds settings chosen by `pmarl-bench tune`, not a suite"),
    # the SLURM launcher's options
    ("--partition without slurm", lambda t: ["run", str(SMOKE), "--partition", "gpu"],
     "--partition/--slurm-option: only applies with --executor slurm"),
    ("--gpus-per-cell locally", lambda t: ["run", str(SMOKE), "--gpus-per-cell", "1"],
     "--gpus-per-cell: only applies with --executor ray or slurm"),
    ("slurm: no sbatch", lambda t: ["run", str(SMOKE), "--launcher", "slurm", *logs(t)],
     "--executor slurm: sbatch is not on PATH"),
    ("slurm: not KEY=VALUE", lambda t: ["run", str(SMOKE), *local_slurm(t), "--slurm-option",
                                        "account"], "--slurm-option: not KEY=VALUE: 'account'"),
    ("slurm: unknown option", lambda t: ["run", str(SMOKE), *local_slurm(t), "--slurm-option",
                                         "acount=abc"],
     "--slurm-option: submitit refused a setting: Unknown argument 'acount'"),
    ("slurm: half a GPU", lambda t: ["run", str(SMOKE), *local_slurm(t), "--gpus-per-cell",
                                     "0.5"], "--gpus-per-cell: a whole number of GPUs"),
    ("slurm: bad --time", lambda t: ["run", str(SMOKE), *local_slurm(t), "--time", "3 days"],
     "--time: not a duration: '3 days'"),
    ("list: no baselines", lambda t: ["list", "--baselines-dir", str(t / "none")],
     "--baselines-dir: no such folder"),
]  # fmt: skip


def _parquet(columns: dict) -> bytes:
    import io

    import pandas as pd

    buffer = io.BytesIO()
    pd.DataFrame(columns).to_parquet(buffer)
    return buffer.getvalue()


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


@pytest.mark.parametrize(("make", "words"), [(c[1], c[2:]) for c in CORPUS],
                         ids=[c[0] for c in CORPUS])  # fmt: skip
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, make, words):
    args = make(tmp_path)
    before = _files(tmp_path)
    result = runner.invoke(app, args)
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("backend: ")]  # run announces its device
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    line = " ".join(lines[0].split())
    for w in words:
        assert w in line, line
    assert line.count("(got ") <= 1, line  # the value is shown once
    assert "Traceback" not in result.output
    assert _files(tmp_path) == before  # nothing written (nor removed)


NO_HEAVY_IMPORTS = """
import sys
sys.argv = ["pmarl-bench", *sys.argv[1:]]
from pmarl_bench.cli import main
try:
    main()
except SystemExit as stop:
    code = stop.code
heavy = sorted(m for m in ("jax", "pandas", "flax", "optax") if m in sys.modules)
print("exit", code, "loaded", heavy)
"""


@pytest.mark.parametrize("args", [
    ["run", "{suite}"], ["tune", "{suite}"], ["run", "{suite}", "--set", "steps=-1"], ["--help"],
], ids=["run", "tune", "run --set", "--help"])  # fmt: skip
def test_a_malformed_suite_is_refused_before_jax_or_pandas_load(tmp_path, args):
    """So a rejected command costs well under a second (BENCHMARKS.md: Issue 33)."""
    import subprocess
    import sys

    suite = suite_with(tmp_path, setter("envs", 0, "colour", value=1))
    if "--set" in args:
        suite = suite_with(tmp_path, lambda d: None)
    argv = [a.format(suite=suite) for a in args]
    out = subprocess.run([sys.executable, "-c", NO_HEAVY_IMPORTS, *argv], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)  # fmt: skip
    last = out.stdout.strip().splitlines()[-1]
    assert last == f"exit {0 if argv == ['--help'] else 2} loaded []", out.stdout + out.stderr


CHECK_NO_BACKEND = """
import sys
from jax._src import xla_bridge
started = []
real = xla_bridge.backends
xla_bridge.backends = lambda: started.append(1) or real()
sys.argv = ["pmarl-bench", *sys.argv[1:]]
from pmarl_bench.cli import main
try:
    main()
except SystemExit as stop:
    code = stop.code
print("exit", code, "backend", bool(started))
"""


@pytest.mark.parametrize("args", [
    ["list"],  # every registered env built
    ["run", "suites/memory.yaml", "--set", "envs.grid_return.options.view=4"],  # (transformer)
], ids=["list", "an env's option"])  # fmt: skip
def test_listing_and_checking_suites_start_no_jax_backend(args):
    """Building every env and agent to check a suite (or to list them) makes no device array:
    on a GPU machine, a refused command never initializes CUDA or takes its memory."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", CHECK_NO_BACKEND, *args], capture_output=True,
                         text=True, timeout=300, cwd=ROOT)  # fmt: skip
    last = out.stdout.strip().splitlines()[-1]
    assert last == f"exit {0 if args == ['list'] else 2} backend False", out.stdout + out.stderr


@pytest.mark.parametrize(("module", "run", "words"), [
    ("pygame", lambda: __import__("pmarl_bench.viewer").viewer.window(lambda: None, "t",
                                                                        command="play"),
     "play's window needs the `play` extra (pygame is not installed): uv sync --extra play"),
    ("ray", lambda: __import__("pmarl_bench.executors.ray").executors.ray._import_ray(),
     "--executor ray needs the `cluster` extra (ray is not installed): uv sync --extra "
     "cluster, or pip install 'pmarl-bench[cluster]'"),
    ("openskill", lambda: __import__("pmarl_bench.matches.ratings").matches.ratings.rate([], None),
     "pmarl-bench rate needs the `ratings` extra"),
    ("jaxmarl", lambda: __import__("pmarl_bench.envs").envs.make("jaxmarl:MPE_simple_spread_v3"),
     "a jaxmarl:<env> environment needs the `jaxmarl` extra"),
], ids=["play", "cluster", "ratings", "jaxmarl"])  # fmt: skip
def test_a_feature_without_its_extra_names_the_extra(monkeypatch, module, run, words):
    """Each optional feature, its package missing (as in `uv sync --no-dev` without the
    extra): one ConfigError naming the extra to install."""
    from pmarl_bench.errors import ConfigError

    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")  # (a display for play's check)
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails
    monkeypatch.setitem(sys.modules, f"{module}.models", None)
    with pytest.raises(ConfigError) as err:
        run()
    assert words in str(err.value)


def test_tune_with_optuna_without_its_extra_names_it(tmp_path, monkeypatch):
    from test_study import SUITE

    monkeypatch.setitem(sys.modules, "optuna", None)
    suite = raw(tmp_path, SUITE.encode(), "o.yaml")
    result = runner.invoke(app, ["tune", str(suite), "--results-dir", str(tmp_path / "r")])
    assert result.exit_code == 2, result.output
    assert "sweep.optuna needs the `tune` extra (optuna is not installed)" in result.output


def test_a_message_with_brackets_is_printed_whole(monkeypatch, tmp_path):
    """Rich reads '[cluster]' as markup: the CLI prints messages escaped."""
    monkeypatch.setitem(sys.modules, "ray", None)
    result = runner.invoke(app, ["run", str(ROOT / "suites" / "smoke.yaml"), "--executor", "ray",
                                 "--results-dir", str(tmp_path)])  # fmt: skip
    assert "pip install 'pmarl-bench[cluster]'" in result.output, result.output
