"""recipes/accelerate: every launch config is one accelerate itself accepts and launches as its comment says;
teacher placement for each launch mode (plain, DeepSpeed ZeRO-2, ZeRO-3 inference engine with a fake deepspeed)."""

import copy
import os
import shlex
import subprocess
import sys
import types
from pathlib import Path
from unittest import mock

import pytest
import torch
import yaml
from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file
from accelerate.commands.launch import _validate_launch_command, launch_command_parser
from accelerate.utils import DeepSpeedPlugin, DistributedType, FullyShardedDataParallelPlugin
from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env, prepare_simple_launcher_cmd_env
from conftest import tiny_bert
from test_trainer import make_trainer
from torch.nn.parallel import DistributedDataParallel

from hf_distill import cli
from hf_distill.placement import deepspeed_inference_engine, zero3_inference_config

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "recipes" / "accelerate"

# name -> (distributed_type, num_processes, mixed_precision, use_cpu, launcher accelerate picks)
EXPECTED = {
    "cpu.yaml": (DistributedType.NO, 1, "no", True, "simple"),
    "cpu_ddp_2proc.yaml": (DistributedType.MULTI_GPU, 2, "no", True, "torchrun"),
    "single_gpu.yaml": (DistributedType.NO, 1, "no", False, "simple"),
    "multi_gpu.yaml": (DistributedType.MULTI_GPU, 2, "no", False, "torchrun"),
    "multi_gpu_bf16.yaml": (DistributedType.MULTI_GPU, 2, "bf16", False, "torchrun"),
    "multi_gpu_fp16.yaml": (DistributedType.MULTI_GPU, 2, "fp16", False, "torchrun"),
    "deepspeed_zero2.yaml": (DistributedType.DEEPSPEED, 2, "bf16", False, "deepspeed"),
    "deepspeed_zero3.yaml": (DistributedType.DEEPSPEED, 2, "bf16", False, "deepspeed"),
    "fsdp.yaml": (DistributedType.FSDP, 2, "bf16", False, "torchrun"),
}


def launch_args(name):
    """accelerate's own parsing and merging of `accelerate launch --config_file <name> -m hf_distill pipeline`."""
    parser = launch_command_parser()
    args = parser.parse_args(["--config_file", str(CONFIG_DIR / name), "-m", "hf_distill", "pipeline"])
    args, defaults, mp_from_config = _validate_launch_command(args)
    return args, defaults, mp_from_config


def launcher_env(name):
    """The environment accelerate would give the training processes (nothing is started)."""
    args, defaults, mp_from_config = launch_args(name)
    if args.use_deepspeed:
        fields = list(defaults.deepspeed_config) + (["mixed_precision"] if mp_from_config else [])
        args.deepspeed_fields_from_accelerate_config = ",".join(fields)
        return args, prepare_deepspeed_cmd_env(args)[1]
    if args.multi_gpu or args.use_fsdp:
        return args, prepare_multi_gpu_env(args)
    return args, prepare_simple_launcher_cmd_env(args)[1]


def accelerate_vars(env):
    return {k: v for k, v in env.items() if k.startswith(("ACCELERATE_", "FSDP_"))}


def test_the_config_set():
    assert sorted(p.name for p in CONFIG_DIR.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_loads_and_is_consistent(name):
    path = CONFIG_DIR / name
    config = load_config_from_file(str(path))  # raises on unknown keys and unknown enum values
    assert isinstance(config, ClusterConfig)
    dist, n, precision, use_cpu, launcher = EXPECTED[name]
    assert (config.distributed_type, config.num_processes, config.mixed_precision, config.use_cpu) == (
        dist, n, precision, use_cpu
    )
    assert config.num_machines == 1 and config.machine_rank == 0
    assert (n == 1) == (dist == DistributedType.NO)
    assert bool(config.deepspeed_config) == (dist == DistributedType.DEEPSPEED)
    assert bool(config.fsdp_config) == (dist == DistributedType.FSDP)

    # what `accelerate launch --config_file` makes of it: launcher, process count, precision
    args, _, _ = launch_args(name)
    picked = "deepspeed" if args.use_deepspeed else "torchrun" if (args.multi_gpu or args.use_fsdp) else "simple"
    assert picked == launcher
    assert args.num_processes == n and args.mixed_precision == precision and not args.cpu
    args, env = launcher_env(name)
    assert env["ACCELERATE_MIXED_PRECISION"] == precision
    if launcher == "simple":
        assert env["ACCELERATE_USE_CPU"] == str(use_cpu)
    else:
        assert int(args.nproc_per_node) == n  # one process per device (per CPU share for cpu_ddp_2proc)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_comment_is_the_command_that_uses_it(name, monkeypatch):
    """Line 1 is the exact command; its hf_distill part names a stage, a recipe that exists and only known options."""
    first = (CONFIG_DIR / name).read_text().splitlines()[0]
    assert first.startswith("# accelerate launch ")
    argv = shlex.split(first[2:])
    assert argv[:4] == ["accelerate", "launch", "--config_file", f"recipes/accelerate/{name}"]
    assert argv[4:6] == ["-m", "hf_distill"]
    stage, rest = argv[6], argv[7:]
    assert stage in cli.STAGES
    recipe = rest[rest.index("--config") + 1]
    assert (ROOT / recipe).is_file()
    options = dict(zip(rest[::2], rest[1::2]))
    assert all(k.startswith("--") and (k == "--config" or k[2:] in cli.known_keys()) for k in options), options

    _, _, precision, use_cpu, _ = EXPECTED[name]
    recipe_keys = yaml.safe_load((ROOT / recipe).read_text())
    # the recipe trains on CPU; a GPU config must say so on the command line, and half precision must reach the
    # training arguments too (the trainer casts the teacher from args.bf16 / args.fp16)
    effective_cpu = options.get("--use_cpu", str(recipe_keys.get("use_cpu", False)).lower()) == "true"
    assert effective_cpu == use_cpu
    if precision in ("bf16", "fp16"):
        assert options.get(f"--{precision}") == "true"
    if use_cpu:  # parse the whole command as `hf-distill` would (GPU commands cannot be parsed on a CPU machine)
        monkeypatch.chdir(ROOT)
        model_args, data_args, config, *_ = cli.parse(argv[7:])
        assert config.use_cpu


def test_deepspeed_configs_build_plugins_and_a_zero3_teacher_config_without_auto():
    """From the launcher's environment to the ZeRO-3 teacher engine's config: stage 3, no optimizer, no 'auto'."""
    import transformers.integrations.deepspeed as hf_ds

    hidden = 384
    for name, stage in (("deepspeed_zero2.yaml", 2), ("deepspeed_zero3.yaml", 3)):
        _, env = launcher_env(name)
        with mock.patch.dict(os.environ, accelerate_vars(env)):
            plugin = DeepSpeedPlugin()
        plugin.set_mixed_precision(env["ACCELERATE_MIXED_PRECISION"])
        assert plugin.zero_stage == stage
        assert plugin.zero3_init_flag is False  # the teacher must load unpartitioned (the student copies its layers)
        # gradient accumulation and clipping are left to the training arguments
        assert plugin.deepspeed_config["gradient_accumulation_steps"] == "auto"
        assert plugin.deepspeed_config.get("gradient_clipping", "auto") == "auto"
    assert plugin.deepspeed_config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True

    # The Trainer fills the 'auto' values from the training arguments in its __init__ (propagate_args_to_deepspeed),
    # before `_place_teacher` runs. Run transformers' own filling code (HfTrainerDeepSpeedConfig.trainer_config_process)
    # on accelerate's config class: transformers' class itself refuses to exist without deepspeed installed.
    from accelerate.utils.deepspeed import HfDeepSpeedConfig

    from hf_distill import DistillationConfig

    class TrainerFill(HfDeepSpeedConfig):
        fill_match = hf_ds.HfTrainerDeepSpeedConfig.fill_match
        fill_only = hf_ds.HfTrainerDeepSpeedConfig.fill_only
        is_auto = hf_ds.HfTrainerDeepSpeedConfig.is_auto
        trainer_config_process = hf_ds.HfTrainerDeepSpeedConfig.trainer_config_process
        mismatches: list = []

    args = DistillationConfig(
        output_dir="unused", use_cpu=True, report_to=[], per_device_train_batch_size=8,
        gradient_accumulation_steps=2, max_grad_norm=1.0, bf16=True,
    )
    ds = TrainerFill(plugin.deepspeed_config)
    ds.mismatches = []
    ds.trainer_config_process(args)
    assert ds.mismatches == []
    # plus an optimizer and a scheduler, as a full DeepSpeed config has (an 'auto' left inside: they must go)
    optimizer = {"type": "AdamW", "params": {"lr": "auto"}}
    train_config = dict(ds.config, optimizer=optimizer, scheduler={"type": "WarmupLR"})
    teacher_config = zero3_inference_config(train_config, hidden)

    def autos(node, path=""):
        if isinstance(node, dict):
            return [a for k, v in node.items() for a in autos(v, f"{path}.{k}")]
        return [path] if node == "auto" else []

    assert autos(teacher_config) == []
    assert "optimizer" not in teacher_config and "scheduler" not in teacher_config
    zero = teacher_config["zero_optimization"]
    assert zero["stage"] == 3
    assert zero["reduce_bucket_size"] == hidden * hidden
    assert zero["stage3_param_persistence_threshold"] == 10 * hidden
    assert zero["stage3_prefetch_bucket_size"] == int(0.9 * hidden * hidden)
    assert teacher_config["bf16"]["enabled"] is True
    assert teacher_config["train_micro_batch_size_per_gpu"] == 8 and teacher_config["gradient_accumulation_steps"] == 2


def test_fsdp_config_builds_its_plugin():
    _, env = launcher_env("fsdp.yaml")
    with mock.patch.dict(os.environ, accelerate_vars(env)):
        plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2
    assert plugin.transformer_cls_names_to_wrap == ["BertLayer"]
    assert "FULL_STATE_DICT" in str(plugin.state_dict_type)
    # the layer class to wrap exists in the architecture of recipes/sst2_minilm.yaml (MiniLM is a BertModel)
    assert any(type(m).__name__ == "BertLayer" for m in tiny_bert(num_layers=1).modules())


@pytest.mark.parametrize("name", ["cpu.yaml", "cpu_ddp_2proc.yaml"])
def test_cpu_configs_start_the_processes_they_say(tmp_path, name):
    """The CPU configs really launch here: cpu.yaml one process, cpu_ddp_2proc.yaml two over gloo."""
    from test_ddp import accelerate_env, free_port

    probe = tmp_path / "probe.py"
    probe.write_text(  # each rank writes its own file: printed lines of two ranks can interleave or get lost
        "import sys\n"
        "from accelerate import PartialState\n"
        "s = PartialState(cpu=True)\n"
        "record = f'{s.process_index} {s.num_processes} {s.distributed_type.value} {s.backend}'\n"
        "open(f'{sys.argv[1]}/rank{s.process_index}.txt', 'w').write(record)\n"
    )
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIG_DIR / name),
        "--main_process_port", str(free_port()), str(probe), str(tmp_path),
    ]
    run = subprocess.run(cmd, cwd=ROOT, env=accelerate_env(), capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = sorted(p.read_text().split() for p in tmp_path.glob("rank*.txt"))
    n = EXPECTED[name][1]
    if n == 1:
        assert lines == [["0", "1", "NO", "None"]]
    else:
        assert lines == [[str(r), "2", "MULTI_CPU", "gloo"] for r in range(2)]


# -- teacher placement ----------------------------------------------------------------------------------------------
def assert_frozen_teacher(teacher):
    assert not isinstance(teacher, DistributedDataParallel)
    assert not teacher.training and not any(m.training for m in teacher.modules())
    assert not any(p.requires_grad for p in teacher.parameters())


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_place_teacher_plain_path(tmp_path, precision):
    """CPU / one GPU / DDP / FSDP / ZeRO-1-2: frozen, eval, on args.device, in the training dtype; trains a step.
    bf16 and fp16 both run on this CPU (torch 2.13), so both half dtypes are checked here."""
    teacher = tiny_bert(num_layers=4, hidden=32, seed=1).train()  # placement must switch it to eval
    student = tiny_bert(num_layers=2, hidden=16, seed=2)
    kw = {"bf16": True} if precision == "bf16" else {"fp16": True} if precision == "fp16" else {}
    trainer = make_trainer(
        tmp_path, student=student, teacher=teacher, hidden_weight=1.0, attention_weight=1.0, max_steps=1, **kw
    )
    placed = trainer.teacher
    assert placed is teacher  # moved in place, not wrapped
    assert_frozen_teacher(placed)
    assert {p.device for p in placed.parameters()} == {trainer.args.device}
    expected = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    assert {p.dtype for p in placed.parameters()} == {expected}
    assert {p.dtype for p in trainer.model.parameters()} == {torch.float32}  # the student keeps fp32 master weights
    trainer.train()
    assert_frozen_teacher(trainer.teacher)
    (logged,) = [h for h in trainer.state.log_history if "loss" in h]
    assert torch.isfinite(torch.tensor(logged["loss"]))


class FakeEngine(torch.nn.Module):
    def __init__(self, module, config):
        super().__init__()
        self.module = module
        self.config = config  # a DeepSpeedEngine keeps its raw config dict under .config


def fake_deepspeed(calls):
    def initialize(model=None, config=None, **kwargs):
        calls.append({"model": model, "config": config, **kwargs})
        return FakeEngine(model, config), None, None, None

    return types.SimpleNamespace(initialize=initialize)


def fake_accelerator(zero_stage, train_config):
    plugin = types.SimpleNamespace(zero_stage=zero_stage, deepspeed_config=train_config)
    return types.SimpleNamespace(state=types.SimpleNamespace(deepspeed_plugin=plugin), mixed_precision="no")


TRAIN_CONFIG = {
    "train_batch_size": "auto",
    "train_micro_batch_size_per_gpu": 8,
    "gradient_accumulation_steps": "auto",
    "optimizer": {"type": "AdamW", "params": {"lr": 1e-4}},
    "scheduler": {"type": "WarmupLR", "params": {"warmup_num_steps": 10}},
    "bf16": {"enabled": True},
    "zero_optimization": {
        "stage": 3,
        "reduce_bucket_size": "auto",
        "stage3_prefetch_bucket_size": 12345,
        "stage3_gather_16bit_weights_on_model_save": True,
    },
}


def test_zero3_inference_config():
    original = copy.deepcopy(TRAIN_CONFIG)
    config = zero3_inference_config(TRAIN_CONFIG, 32)
    assert TRAIN_CONFIG == original  # the training run's config is not touched
    assert "optimizer" not in config and "scheduler" not in config
    zero = config["zero_optimization"]
    assert zero["stage"] == 3
    assert zero["reduce_bucket_size"] == 32 * 32  # 'auto' -> from the hidden size
    assert zero["stage3_param_persistence_threshold"] == 320  # absent -> from the hidden size
    assert zero["stage3_prefetch_bucket_size"] == 12345  # explicit values are kept
    assert zero["stage3_gather_16bit_weights_on_model_save"] is True
    assert "train_batch_size" not in config and "gradient_accumulation_steps" not in config  # 'auto' dropped
    assert config["train_micro_batch_size_per_gpu"] == 8
    assert config["bf16"] == {"enabled": True}
    # a ZeRO-2 training config still gives the teacher a stage-3 engine
    assert zero3_inference_config({"zero_optimization": {"stage": 2}}, 16)["zero_optimization"]["stage"] == 3
    assert zero3_inference_config({}, 16)["train_micro_batch_size_per_gpu"] == 1


def test_deepspeed_inference_engine_with_a_fake_deepspeed(monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "deepspeed", fake_deepspeed(calls))
    teacher = tiny_bert(num_layers=2, hidden=32, seed=1).train()
    teacher.requires_grad_(False)
    engine = deepspeed_inference_engine(teacher, fake_accelerator(3, TRAIN_CONFIG))
    (call,) = calls
    assert call["model"] is teacher and engine.module is teacher
    assert "optimizer" not in call["config"] and "scheduler" not in call["config"]
    assert call["config"]["zero_optimization"]["stage"] == 3
    assert call["config"]["zero_optimization"]["reduce_bucket_size"] == 32 * 32
    assert not engine.training and not teacher.training
    assert engine.config is teacher.config  # callers read .config.num_hidden_layers etc.
    assert_frozen_teacher(engine)


@pytest.mark.parametrize("stage", [2, 3])
def test_place_teacher_under_deepspeed(tmp_path, monkeypatch, stage):
    """ZeRO-3: the teacher becomes a DeepSpeed inference engine; ZeRO-1/2: it is only moved, like everywhere else."""
    trainer = make_trainer(tmp_path)  # before the fake module exists: accelerate would take it for the real one
    calls = []
    monkeypatch.setitem(sys.modules, "deepspeed", fake_deepspeed(calls))
    trainer.is_deepspeed_enabled = True
    trainer.accelerator = fake_accelerator(stage, TRAIN_CONFIG)
    teacher = tiny_bert(num_layers=4, hidden=32, seed=1).train()
    placed = trainer._place_teacher(teacher)
    assert_frozen_teacher(placed)
    if stage == 3:
        assert isinstance(placed, FakeEngine) and placed.module is teacher
        assert placed.config is teacher.config
        (call,) = calls
        assert "optimizer" not in call["config"] and call["config"]["zero_optimization"]["stage"] == 3
    else:
        assert placed is teacher and calls == []
        assert {p.device for p in placed.parameters()} == {trainer.args.device}
