"""accelerate + DeepSpeed set-up that also works on CPU (gloo), with two traps avoided: never ``cpu=True`` (accelerate
then silently drops DeepSpeed), and an explicit gloo process group when there is no GPU (otherwise accelerate finds
no device backend and every CPU process believes it is rank 0 of 1)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from ffr_data import rendezvous
from ffr_data.errors import ConfigError

NAMED = ("zero2", "zero3")


def deepspeed_config(name_or_path: str, micro_batch: int, world: int, clip: float) -> dict[str, Any]:
    """A complete DeepSpeed config: a named one shipped with ffr-train or a JSON file, 'auto' values filled in.
    Gradient accumulation is driven by the trainer (an explicit boundary on the last micro-batch of each step, see
    ``update.py``), so DeepSpeed's own count is 1 and ``train_batch_size`` is one micro-batch per rank."""
    if name_or_path in NAMED:
        text = resources.files("ffr_train").joinpath(f"ds_configs/{name_or_path}.json").read_text()
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise ConfigError(f"dist.deepspeed: {path} is neither a file nor one of {NAMED}")
        text = path.read_text()
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"dist.deepspeed: {name_or_path} is not valid JSON ({exc.msg})") from None
    fill = {"train_micro_batch_size_per_gpu": micro_batch, "gradient_accumulation_steps": 1,
            "gradient_clipping": clip, "train_batch_size": micro_batch * world}
    for key, value in fill.items():
        if cfg.get(key, "auto") == "auto":
            cfg[key] = value
    if cfg.get("bf16", {}).get("enabled") == "auto":
        cfg["bf16"]["enabled"] = torch.cuda.is_available()
    zero = cfg.get("zero_optimization", {})
    for key in list(zero):
        if zero[key] == "auto":
            del zero[key]
    return cfg


def _single_process_rendezvous() -> None:
    """DeepSpeed started without a launcher tries MPI discovery; give it a one-process group on loopback."""
    if "RANK" in os.environ:
        return
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    os.environ.update(rendezvous.mark_own(port))


def make_accelerator(deepspeed: str | None, micro_batch: int, clip: float, trackers: Sequence[str] = (),
                     project_dir: str | None = None):
    saved_env = {k: v for k, v in os.environ.items() if k.startswith("ACCELERATE_")}
    try:
        return _make_accelerator(deepspeed, micro_batch, clip, trackers, project_dir)
    finally:
        # DeepSpeedPlugin writes ACCELERATE_* variables that would leak into the next trainer in this process
        for key in [k for k in os.environ if k.startswith("ACCELERATE_")]:
            del os.environ[key]
        os.environ.update(saved_env)


def _make_accelerator(deepspeed: str | None, micro_batch: int, clip: float, trackers: Sequence[str],
                      project_dir: str | None):
    from accelerate import Accelerator, DeepSpeedPlugin, InitProcessGroupKwargs

    rendezvous.drop_inherited_rendezvous()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    # Launched on several CPU processes, accelerate finds no device backend and would treat every rank as rank 0.
    handlers = [InitProcessGroupKwargs(backend="gloo")] if world > 1 and not torch.cuda.is_available() else []
    plugin = None
    if deepspeed:
        _single_process_rendezvous()
        plugin = DeepSpeedPlugin(hf_ds_config=deepspeed_config(deepspeed, micro_batch, world, clip))
    mixed = "bf16" if torch.cuda.is_available() else "no"
    # accelerate keeps one process-wide state: a second trainer in the same process (a notebook, the tests) would
    # silently inherit the first one's settings, DeepSpeed or not. Start from a clean state every time.
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    # Without a GPU, accelerate sets up data parallelism (MULTI_CPU, DDP over gloo) only when told cpu=True; without
    # it each process would train alone. With DeepSpeed, cpu=True must not be given (it drops DeepSpeed).
    multi_cpu = world > 1 and not torch.cuda.is_available() and not deepspeed
    accelerator = Accelerator(deepspeed_plugin=plugin, kwargs_handlers=handlers, mixed_precision=mixed,
                              log_with=list(trackers) or None, project_dir=project_dir, cpu=multi_cpu)
    if deepspeed and accelerator.distributed_type.value != "DEEPSPEED":
        raise ConfigError(f"dist.deepspeed={deepspeed} was asked for but accelerate set up "
                          f"{accelerator.distributed_type.value}")
    if world > 1 and accelerator.distributed_type.value == "NO":
        raise ConfigError(f"{world} processes were launched but accelerate set up no data parallelism")
    return accelerator


def rank_seed(seed: int, rank: int) -> int:
    """The sampling seed of one rank: different on every rank (each draws its own rollouts), fixed by (seed, rank) so
    a run is reproducible, and the run's seed itself on rank 0 (one process behaves as before)."""
    return seed + 1_000_003 * rank


def zero_stage(accelerator) -> int:
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    return int(plugin.zero_stage) if plugin is not None else 0


def prepare_reference(accelerator, ref_model):
    """A frozen reference model placed like the policy (sharded under ZeRO-3)."""
    ref_model.eval().requires_grad_(False)
    if zero_stage(accelerator) == 3:
        import deepspeed

        ds_cfg = dict(accelerator.state.deepspeed_plugin.deepspeed_config)
        ds_cfg.pop("optimizer", None)
        ds_cfg.pop("scheduler", None)
        engine, *_ = deepspeed.initialize(model=ref_model, config=ds_cfg)
        engine.eval()
        return engine
    return ref_model.to(accelerator.device)
