"""Training: the loss of Eq. 5, a plain loop, exact resume, and DDP through torchrun.

The loss sums, over every frame and every supervised belief of that frame (LSTM PM's first frame:
the initial belief and the frame's belief; CPM: all stages), the squared error against the target
maps over all J+1 channels and pixels, divided by 2·B — Caffe's EuclideanLoss, so the paper's
learning rate 8e-5 means what it meant (reference-implementation.md §3, §11.8).

Clip i of the run is ``ClipDataset[i]``, a pure function of (seed, i); step s on rank r takes
clips (s·W + r)·B … +B. With the torch RNG saved in the checkpoint, ``--resume`` continues with
exactly the losses an uninterrupted run would have had.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from ..checkpoint import load_checkpoint, load_weights, read_checkpoint, save_checkpoint
from ..data import build_codec_policy, build_dataset, build_videos
from ..models import PoseMachine, build_model_from_config
from ..utils import LstmProbeError, progress_bar, write_json_atomic
from .distributed import init_distributed
from .dump import dump_model, weights_sha256


class TrainingError(LstmProbeError):
    pass


def pose_loss(stages: list[tuple[torch.Tensor, ...]], targets: torch.Tensor) -> torch.Tensor:
    """Σ_t Σ_stage ||b − y_t||² / (2B). stages[t]: beliefs (B, J+1, h, w); targets (B, T, J+1, h, w)."""
    batch = targets.shape[0]
    total = targets.new_zeros(())
    for t, beliefs in enumerate(stages):
        for b in beliefs:
            total = total + ((b - targets[:, t]) ** 2).sum()
    return total / (2 * batch)


def learning_rate(optim: dict, step: int) -> float:
    base = float(optim["lr"])
    warm = int(optim.get("warmup", 0))
    if warm and step < warm:
        return base * (step + 1) / warm
    if optim["schedule"] == "cosine":
        total = max(1, int(optim["steps"]) - warm)
        return base * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / total)))
    if optim["schedule"] == "step":
        return base * float(optim["gamma"]) ** (step // int(optim["step_size"]))
    if optim["schedule"] == "constant":
        return base
    raise TrainingError(f"unknown schedule {optim['schedule']!r} (cosine, step, constant)")


#: The per-gate biases of the authors' Scale layers (``scale_{g,i,o,f}_b``): lr_mult 1, no decay.
SCALE_BIAS = re.compile(r"(^|\.)lstm\.[gifo]_bias$")


def build_optimizer(model: torch.nn.Module, optim: dict) -> torch.optim.Optimizer:
    """Adam or SGD. With ``caffe_lr_mult`` the prototxts' multipliers: conv weights 1× with decay,
    conv biases 2× without decay, and the per-gate Scale biases (``lstm.{g,i,o,f}_bias``) 1×
    without decay (``param { lr_mult: 0 } param { lr_mult: 1 }`` of the Scale layers,
    LSTM_train.prototxt); ``scale_bias_lr_mult`` overrides that 1."""
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    wd = float(optim["weight_decay"])
    if optim.get("caffe_lr_mult"):
        weights = [p for _, p in params if p.ndim > 1]
        scale = [p for n, p in params if p.ndim <= 1 and SCALE_BIAS.search(n)]
        biases = [p for n, p in params if p.ndim <= 1 and not SCALE_BIAS.search(n)]
        groups = [
            {"params": weights, "lr_mult": 1.0, "weight_decay": wd},
            {"params": biases, "lr_mult": 2.0, "weight_decay": 0.0},
        ]
        if scale:
            mult = float(optim.get("scale_bias_lr_mult", 1.0))
            groups.append({"params": scale, "lr_mult": mult, "weight_decay": 0.0})
    else:
        groups = [{"params": [p for _, p in params], "lr_mult": 1.0, "weight_decay": wd}]
    lr = float(optim["lr"])
    if optim["name"] == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=float(optim["momentum"]))
    if optim["name"] == "adam":
        return torch.optim.Adam(groups, lr=lr)
    raise TrainingError(f"unknown optimizer {optim['name']!r} (adam, sgd)")


class _StepBatches:
    """Batch sampler: step s on rank r takes clip indices (s·W + r)·B … +B."""

    def __init__(self, start: int, stop: int, batch: int, rank: int, world: int):
        self.start, self.stop, self.batch, self.rank, self.world = start, stop, batch, rank, world

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self):
        for s in range(self.start, self.stop):
            first = (s * self.world + self.rank) * self.batch
            yield list(range(first, first + self.batch))


class TrainAccel:
    """How training runs its steps, from the run section: ``amp: bf16`` (autocast for the
    forward pass; the loss, the optimiser and the weights stay fp32), ``channels_last: true``
    (weights and activations in NHWC, as GPU tensor cores want them) and ``compile: true``
    (:func:`torch.compile` of the network, DDP-wrapped or not). All off by default: the CPU
    numbers and the exact resume are those of plain fp32."""

    def __init__(self, amp: str | None = None, channels_last: bool = False, compile: bool = False):
        if amp not in (None, "bf16"):
            raise TrainingError(f"run.amp must be bf16 or null, got {amp!r}")
        self.amp, self.channels_last, self.compile = amp, channels_last, compile

    @classmethod
    def from_run(cls, run_cfg: dict) -> TrainAccel:
        return cls(run_cfg.get("amp") or None, bool(run_cfg.get("channels_last", False)),
                   bool(run_cfg.get("compile", False)))  # fmt: skip

    def layout(self, model: torch.nn.Module) -> None:
        if self.channels_last:
            model.to(memory_format=torch.channels_last)

    def compiled(self, net: torch.nn.Module) -> torch.nn.Module:
        return torch.compile(net) if self.compile else net

    def autocast(self, device: torch.device):
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.amp == "bf16")

    def fp32(self, stages):
        """The supervised beliefs in fp32 (the loss is summed in fp32 under bf16 autocast)."""
        if self.amp is None:
            return stages
        return [tuple(b.float() for b in beliefs) for beliefs in stages]


_init_distributed = init_distributed  # the same env handling as dumps


def train(
    cfg: dict,
    out_dir: str | Path,
    resume: bool = False,
    device: str | None = None,
    progress: bool = True,
    max_steps: int | None = None,
    overwrite: bool = False,
) -> dict:
    """Run (or continue) a training run in ``out_dir`` -> summary dict.

    ``max_steps`` stops early after that many steps of this call (the schedule still spans
    ``optim.steps``); used by tests and to split a run into parts. A folder that already holds a
    run is refused unless ``resume`` (continue it) or ``overwrite`` (start it anew) is given, so
    two runs never write into one ``metrics.jsonl``.
    """
    out_dir = Path(out_dir)
    check_training_config(cfg)
    ckpt_path = out_dir / "checkpoint.pt"
    run_files = [out_dir / n for n in ("checkpoint.pt", "metrics.jsonl", "config.json")]
    if not resume and not overwrite and any(p.exists() for p in run_files):
        raise TrainingError(
            f"{out_dir} already holds a run: give --resume to continue it or --overwrite to "
            "start it anew"
        )
    rank, world, dev = _init_distributed(device)
    optim_cfg, run_cfg = cfg["optim"], cfg["run"]
    torch.manual_seed(int(run_cfg["seed"]))
    model = build_model_from_config(cfg["model"])
    if run_cfg.get("init_from"):
        init_from_checkpoint(model, run_cfg["init_from"])
    model.to(dev)
    optimizer = build_optimizer(model, optim_cfg)
    start = 0
    if resume and ckpt_path.exists():
        payload = read_checkpoint(ckpt_path)
        _check_resumable(ckpt_path, payload, model, cfg)
        load_weights(model, payload["state_dict"], ckpt_path)
        ts = payload["train_state"]
        optimizer.load_state_dict(ts["optimizer"])
        start = int(ts["step"])
        torch.set_rng_state(ts["rng_torch"])
        if rank == 0:
            _truncate_log(out_dir / "metrics.jsonl", start)
        if rank == 0 and progress:
            print(f"resuming {out_dir} at step {start}")
    elif rank == 0 and (resume or overwrite):  # killed before its first checkpoint, or anew
        _truncate_log(out_dir / "metrics.jsonl", 0)
        ckpt_path.unlink(missing_ok=True)
        if resume:
            print(f"nothing to resume in {out_dir}: starting from step 0")
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out_dir / "config.json", cfg)
    fast = TrainAccel.from_run(run_cfg)
    fast.layout(model)  # before DDP, which buckets the parameters as they are laid out
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[dev.index] if dev.type == "cuda" else None
        )
    net = fast.compiled(net)
    batch, steps = int(optim_cfg["batch_size"]), int(optim_cfg["steps"])
    dataset = build_dataset(
        cfg, model.config.input_size, steps * batch * world, int(run_cfg["seed"])
    )
    stop = steps if max_steps is None else min(steps, start + max_steps)
    workers = int(run_cfg["workers"])
    loader = DataLoader(
        dataset,
        batch_sampler=_StepBatches(start, stop, batch, rank, world),
        num_workers=workers,
        pin_memory=dev.type == "cuda",
        # workers kept for the whole run, each ``run.prefetch`` batches ahead (the GPU never waits)
        persistent_workers=workers > 0,
        prefetch_factor=int(run_cfg.get("prefetch", 2)) if workers > 0 else None,
        # its own generator: worker seeding must not draw from the global RNG (exact resume)
        generator=torch.Generator().manual_seed(int(run_cfg["seed"])),
    )
    bar = progress_bar(progress and rank == 0, total=stop - start, desc=f"train {model.name}",
                       unit="step")  # fmt: skip
    log_path = out_dir / "metrics.jsonl"
    tb = _tensorboard(out_dir) if rank == 0 else None
    net.train()
    t_last = time.perf_counter()
    data_time, last_loss = 0.0, float("nan")
    step = start
    for step, sample in enumerate(loader, start):
        t_data = time.perf_counter()
        data_time += t_data - t_last
        frames = sample["image"].to(dev, non_blocking=True)
        targets = sample["target"].to(dev, non_blocking=True)
        if run_cfg.get("pretrain_single_image"):  # the same image at every stage
            frames = frames[:, :1].expand_as(frames).contiguous()
            targets = targets[:, :1].expand_as(targets).contiguous()
        lr = learning_rate(optim_cfg, step)
        for g in optimizer.param_groups:
            g["lr"] = lr * g.get("lr_mult", 1.0)
        with fast.autocast(dev):
            out = net(frames)
        loss = pose_loss(fast.fp32(out["stages"]), targets)
        if not torch.isfinite(loss):
            raise TrainingError(
                f"loss became {loss.item()} at step {step}: stopping (lower optim.lr or "
                f"optim.grad_clip; the last good checkpoint is {ckpt_path})"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(
            model.parameters(), float(optim_cfg["grad_clip"])
        )
        optimizer.step()
        last_loss = loss.item()
        now = time.perf_counter()
        if rank == 0:
            record = {
                "step": step + 1,
                "loss": last_loss,
                "lr": lr,
                "grad_norm": float(grad_norm),
                "clips_per_s": batch * world / max(now - t_last, 1e-9),
                "data_share": (t_data - t_last) / max(now - t_last, 1e-9),
            }
            with open(log_path, "a") as f:
                f.write(json.dumps(record) + "\n")
            if tb is not None:
                for k, v in record.items():
                    if k != "step":
                        tb.add_scalar(f"train/{k}", v, record["step"])
            bar.update(1)
            if not bar.disable:
                bar.set_postfix(loss=f"{last_loss:.3f}", clips_s=f"{record['clips_per_s']:.1f}")
            done = step + 1
            if done % int(run_cfg["checkpoint_every"]) == 0 or done == stop:
                _save(ckpt_path, model, cfg, done, optimizer)
            every = int(run_cfg.get("probe_every") or 0)
            if every and model.has_memory and done % every == 0:
                probe_dump(model, cfg, out_dir, done, dev)
                model.train()
        t_last = time.perf_counter()
    bar.close()
    if tb is not None:
        tb.close()
    if world > 1:
        dist.barrier()
    return {"steps": stop, "loss": last_loss, "checkpoint": str(ckpt_path), "data_time": data_time}


def probe_dump(model: PoseMachine, cfg: dict, out_dir: Path, step: int, device) -> Path:
    """Instrumented training: dump the memory of a fixed probe set of clips at this step into
    ``OUT/probes/step_NNNNNN`` (the dump format), so the dashboard can show the memory forming."""
    n = int(cfg["run"].get("probe_videos", 2))
    if cfg["data"]["source"].startswith("synthetic"):
        frames = max(24, int(cfg["data"].get("synthetic", {}).get("num_frames", 24)))
        videos = list(build_videos(cfg, num_videos=n, split="val", num_frames=frames))
    else:
        videos = list(build_videos(cfg))[:n]
    model.eval()
    _, policy = build_codec_policy(cfg, model.config.input_size)
    meta = {"step": step, "run": str(out_dir)}
    return dump_model(
        model,
        videos,
        out_dir / "probes" / f"step_{step:06d}",
        {"path": str(out_dir / "checkpoint.pt"), "sha256": weights_sha256(model), "meta": meta},
        cfg["model"].get("preset"),
        policy,
        device=device,
        progress=False,
    )


def _check_resumable(path: Path, payload: dict, model: PoseMachine, cfg: dict) -> None:
    """A checkpoint resumes this run only if it holds training state of the same model."""
    ts = payload.get("train_state")
    if not isinstance(ts, dict) or not {"optimizer", "step", "rng_torch"} <= set(ts):
        raise TrainingError(f"{path}: holds no training state (optimizer, step, RNG) to resume")
    info = payload.get("model", {})
    if info.get("name") != model.name or info.get("config") != model.config.to_dict():
        raise TrainingError(
            f"{path}: holds a {info.get('name')!r} run of preset {info.get('preset')!r} with "
            f"another architecture than this config ({model.name}, {cfg['model'].get('preset')}): "
            "choose another --out"
        )


def check_training_config(cfg: dict) -> None:
    """Refuse impossible training settings before anything runs or is written."""
    o, r, d = cfg["optim"], cfg["run"], cfg["data"]
    checks = {
        "optim.batch_size": (o.get("batch_size"), 1),
        "optim.steps": (o.get("steps"), 1),
        "run.checkpoint_every": (r.get("checkpoint_every"), 1),
        "run.workers": (r.get("workers"), 0),
        "data.clip_length": (d.get("clip_length"), 1),
    }
    for key, (value, low) in checks.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise TrainingError(f"{key} must be a whole number ≥ {low}, got {value!r}")
    for key, value in (("optim.lr", o.get("lr")), ("optim.grad_clip", o.get("grad_clip"))):
        try:  # YAML reads "1e30" (no dot) as a string; float() takes it, as the loop does
            number = math.nan if isinstance(value, bool) else float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not 0 < number < math.inf:
            raise TrainingError(f"{key} must be a positive finite number, got {value!r}")


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines past the checkpoint's step (written by a run killed after its last save)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                keep.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            break  # a line cut by the kill, and everything after it
    from ..utils import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text("".join(f"{line}\n" for line in keep))


def _tensorboard(out_dir: Path):
    """A TensorBoard writer into OUT/tensorboard when the tensorboard package is installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out_dir / "tensorboard"))


def _save(path: Path, model: PoseMachine, cfg: dict, step: int, optimizer) -> None:
    from ..checkpoint import training_record  # what the weights have seen

    save_checkpoint(
        path,
        model,
        preset=cfg["model"].get("preset"),
        meta={"step": step, "config": cfg, "trained_on": training_record(cfg, model)},
        train_state={
            "step": step,
            "optimizer": optimizer.state_dict(),
            "rng_torch": torch.get_rng_state(),
        },
    )


def init_from_checkpoint(model: PoseMachine, path: str | Path) -> list[str]:
    """Copy every tensor whose name and shape match from another model's checkpoint (e.g. CPM ->
    LSTM PM's ConvNet1, or a single-image model -> the video model). Returns the copied names."""
    src, _ = load_checkpoint(path)
    theirs, own = src.state_dict(), model.state_dict()
    copied = [k for k, v in theirs.items() if k in own and own[k].shape == v.shape]
    if not copied:
        raise TrainingError(f"{path}: no layer matches this model by name and shape")
    own.update({k: theirs[k] for k in copied})
    model.load_state_dict(own)
    return copied
