"""Train the from-scratch code bi-encoder (embedder/scratch.py) with contrastive learning.

    coderag embedder train-scratch --tokenizer code-tokenizer --data pairs.jsonl --out scratch-v1 --max-steps 20000

The tokenizer comes first (`coderag embedder tokenizer --input pairs.jsonl --out code-tokenizer`).
That runs on one GPU (by default the one with the most free memory). Several GPUs on one node
use the standard launcher (DistributedDataParallel, one process per GPU) on the same command:

    torchrun --standalone --nproc_per_node=8 "$(command -v coderag)" embedder train-scratch \\
        --tokenizer code-tokenizer --data pairs.jsonl --out scratch-v1 --batch-size 256 --max-steps 20000

A tiny configuration runs on a laptop CPU in seconds (the tests do this):

    coderag embedder train-scratch --tokenizer tok --data triplets.csv --out /tmp/m --hidden 64 --layers 2 \\
        --heads 2 --ffn 128 --max-length 64 --batch-size 8 --max-steps 20

The loop: AdamW with linear warm-up then cosine decay, bf16 autocast on CUDA, gradient clipping,
a checkpoint every --save-steps steps (resume with --resume), a retrieval evaluation every
--eval-every steps, and a stop with a clear error on a NaN loss (the last checkpoint is kept).
In-batch negatives are those of each process's own batch. The finished model is a standard
sentence-transformers directory plus training.json.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from embedder.retrieval import (
    bundled_retrieval_metrics,
    prepare_bundled,
    triplet_retrieval_metrics,
)
from embedder.scratch import (
    ScratchConfig,
    ScratchEncoder,
    contrastive_loss,
    save_sentence_transformer,
)
from embedder.workdir import prepare_run, start_run
from eval.retrieval import RetrievalEvaluation
from rag.errors import ConfigError, DataError, ModelError
from rag.io import write_json_atomic
from rag.models import model_fingerprint
from rag.publish import publish_directory
from rag.settings import Settings
from synth.triplets import TripletSet, load_triplets

CHECKPOINT = "checkpoint.pt"


@dataclass
class ScratchTrainConfig:
    """Training hyperparameters; `model` is the network's shape."""

    data: list[Path]
    tokenizer: Path
    out: Path
    model: ScratchConfig = field(default_factory=ScratchConfig)
    batch_size: int = 128
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_steps: int = 500
    max_steps: int = 10000
    temperature: float = 0.05
    hard_negative_weight: float = 0.5
    grad_clip: float = 1.0
    save_every: int = 1000
    eval_every: int = 1000  # 0: no retrieval evaluation at all (not even at the end)
    log_every: int = 50
    eval_template: str | None = None  # None: settings.index.template
    eval_data: Path | None = None
    device: str = "auto"
    compile: bool = False
    seed: int = 1337
    resume: bool = False
    overwrite: bool = False
    show_progress: bool = True

    def hyperparameters(self) -> dict[str, Any]:
        """What training.json records: every field but the inputs, the output and the run switches."""
        skip = ("data", "tokenizer", "out", "model", "resume", "overwrite", "show_progress", "eval_data")
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}


# -- devices and processes ----------------------------------------------------------------------


@dataclass
class Runtime:
    device: torch.device
    rank: int = 0
    world: int = 1

    @property
    def master(self) -> bool:
        return self.rank == 0

    @property
    def ddp(self) -> bool:
        return self.world > 1


def choose_device(cuda_free_memory: Sequence[int], mps_available: bool) -> str:
    """What `auto` means: the CUDA device with the most free memory, else Apple MPS, else the CPU."""
    if cuda_free_memory:
        return f"cuda:{int(np.argmax(cuda_free_memory))}"
    return "mps" if mps_available else "cpu"


def pick_device(requested: str = "auto") -> torch.device:
    """The requested device; for `auto`, `choose_device` on this machine's free memory per CUDA device."""
    if requested != "auto":
        return torch.device(requested)
    free = [torch.cuda.mem_get_info(i)[0] for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    mps = getattr(torch.backends, "mps", None)
    return torch.device(choose_device(free, bool(mps and mps.is_available())))


def setup_runtime(requested: str) -> Runtime:
    """One process, or one of several started by torchrun (RANK/LOCAL_RANK/WORLD_SIZE set)."""
    if int(os.environ.get("RANK", -1)) == -1:
        return Runtime(device=pick_device(requested))
    from torch.distributed import init_process_group

    rank, local_rank, world = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"]), int(os.environ["WORLD_SIZE"])
    if torch.cuda.is_available():
        device = torch.device(f"cuda:{local_rank}")
        torch.cuda.set_device(device)
        init_process_group(backend="nccl")
    else:
        device = torch.device("cpu")
        init_process_group(backend="gloo")
    return Runtime(device=device, rank=rank, world=world)


def autocast_for(device: torch.device) -> Any:
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return nullcontext()


# -- data ----------------------------------------------------------------------------------------


class Batches:
    """Random batches of tokenised (query, positive[, negative]) rows; each process draws its own shard."""

    def __init__(self, rows: TripletSet, tokenizer_dir: Path, max_length: int, batch_size: int, seed: int, rank: int, world: int) -> None:
        from tokenizers import Tokenizer

        path = tokenizer_dir / "tokenizer.json"
        if not path.is_file():
            raise ConfigError(
                f"{tokenizer_dir} is not a tokenizer directory (no tokenizer.json)", hint="train one with `coderag embedder tokenizer`"
            )
        self.tokenizer = Tokenizer.from_file(str(path))
        self.tokenizer.enable_truncation(max_length)
        pad_id = self.tokenizer.token_to_id("[PAD]")
        self.tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token="[PAD]")
        self.rows = rows.rows
        self.use_negatives = bool(rows.rows) and all(r.neg for r in rows.rows)
        self.batch_size = min(batch_size, len(self.rows))
        self.rng = np.random.default_rng(seed)
        self.rank, self.world = rank, world
        self.order: np.ndarray = np.empty(0, dtype=np.int64)
        self.cursor = 0

    def encode(self, texts: list[str], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        encodings = self.tokenizer.encode_batch(texts)
        ids = torch.tensor([e.ids for e in encodings], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in encodings], dtype=torch.long)
        return ids.to(device, non_blocking=True), mask.to(device, non_blocking=True)

    def next(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(ids, mask, n): n queries, then their n positives, then n negatives when every row has one."""
        span = self.batch_size * self.world
        if self.cursor + span > len(self.order):
            self.order = self.rng.permutation(len(self.rows))
            self.cursor = 0
        chosen = self.order[self.cursor : self.cursor + span][self.rank :: self.world]
        self.cursor += span
        rows = [self.rows[i] for i in chosen]
        texts = [r.query for r in rows] + [r.pos for r in rows] + ([r.neg for r in rows] if self.use_negatives else [])
        ids, mask = self.encode(texts, device)
        return ids, mask, len(rows)

    def state(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "order": self.order.tolist(), "cursor": self.cursor}

    def load_state(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.order = np.asarray(state["order"], dtype=np.int64)
        self.cursor = int(state["cursor"])


def read_training_rows(paths: list[Path]) -> TripletSet:
    """All rows of the given triplet/pair files, as one set (a file's problems are DataErrors)."""
    if not paths:
        raise DataError("no training data given (--data FILE, repeatable)")
    sets = [load_triplets(p) for p in paths]
    merged = TripletSet(path=paths[0], rows=[r for s in sets for r in s.rows], read=sum(s.read for s in sets))
    merged.empty = sum(s.empty for s in sets)
    merged.duplicates = sum(s.duplicates for s in sets)
    merged.extra["files"] = [str(p) for p in paths]
    return merged


# -- evaluation ---------------------------------------------------------------------------------


class InMemoryEncoder:
    """The model being trained, behind the `Encoder` interface the retrieval metrics use."""

    name = "training"
    fingerprint = ""

    def __init__(self, model: ScratchEncoder, batches: Batches, device: torch.device) -> None:
        self.model, self.batches, self.device = model, batches, device
        self.dimension = model.config.embedding_dim

    @torch.no_grad()
    def encode(self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        self.model.eval()
        parts = []
        for start in range(0, len(texts), batch_size):
            ids, mask = self.batches.encode(texts[start : start + batch_size], self.device)
            with autocast_for(self.device):
                parts.append(self.model(ids, mask).float().cpu().numpy())
        self.model.train()
        return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, self.dimension), np.float32)


def evaluate(
    model: ScratchEncoder,
    batches: Batches,
    device: torch.device,
    yardstick: RetrievalEvaluation,
    template: str,
    eval_set: TripletSet | None,
) -> dict[str, Any]:
    """Retrieval metrics of the model being trained: the bundled test split (`yardstick`), and the --eval-data triplets if given."""
    encoder = InMemoryEncoder(model, batches, device)
    metrics = {"bundled": bundled_retrieval_metrics(encoder, yardstick, template)}
    if eval_set is not None:
        metrics["eval_data"] = triplet_retrieval_metrics(encoder, eval_set)
    return metrics


# -- the loop -----------------------------------------------------------------------------------


def learning_rate(step: int, config: ScratchTrainConfig) -> float:
    """Linear warm-up to `lr`, then cosine decay to lr/10 at max_steps."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps))
    return config.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def make_optimizer(model: ScratchEncoder, config: ScratchTrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices only (not on biases and LayerNorm weights)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.98), eps=1e-6, fused=device.type == "cuda")


def save_checkpoint(
    path: Path, model: ScratchEncoder, optimizer: torch.optim.Optimizer, step: int, batches: Batches, history: list[dict[str, Any]]
) -> None:
    """model + optimizer + data order, written to a temporary file and renamed into place."""
    tmp = path.with_suffix(".tmp")
    state = {
        "model": model.state_dict(),
        "model_config": model.config.to_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "data": batches.state(),
        "history": history,
    }
    torch.save(state, tmp)
    os.replace(tmp, path)


def train(settings: Settings, config: ScratchTrainConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run (or resume) training and publish the model to `config.out`; returns training.json's content
    (an empty dict in every process but the first when torchrun starts several).

    `settings` give the default evaluation template and where the bundled metrics cache relevance.
    """
    runtime = setup_runtime(config.device)
    rows = read_training_rows(config.data)
    eval_set = load_triplets(config.eval_data) if config.eval_data else None
    work = prepare_run(config.out, overwrite=config.overwrite, resume=config.resume)

    torch.manual_seed(config.seed + runtime.rank)
    if runtime.device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    batches = Batches(rows, config.tokenizer, config.model.max_length, config.batch_size, config.seed, runtime.rank, runtime.world)
    template = config.eval_template or settings.index.template
    yardstick = prepare_bundled(settings) if runtime.master and config.eval_every else None
    if runtime.master:
        start_run(work, resume=config.resume)
    _barrier(runtime)
    config.model.vocab_size = batches.tokenizer.get_vocab_size()
    config.model.pad_token_id = batches.tokenizer.token_to_id("[PAD]") or 0
    model = ScratchEncoder(config.model).to(runtime.device)
    optimizer = make_optimizer(model, config, runtime.device)

    step, history = 0, []
    checkpoint = work / CHECKPOINT
    if config.resume and checkpoint.is_file():
        state = torch.load(checkpoint, map_location=runtime.device, weights_only=True)
        if state["model_config"] != config.model.to_dict():
            raise ConfigError(f"{checkpoint} was trained with another model shape: {state['model_config']}")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        batches.load_state(state["data"])
        step, history = int(state["step"]), list(state["history"])
        if runtime.master:
            log(f"resumed from {checkpoint} at step {step}")
    if step >= config.max_steps:
        raise ConfigError(f"the checkpoint is at step {step}; raise --max-steps above it to train further")

    trained: torch.nn.Module = model
    if config.compile:
        trained = cast(torch.nn.Module, torch.compile(trained))  # an OptimizedModule; torch types the return loosely
    if runtime.ddp:
        from torch.nn.parallel import DistributedDataParallel

        trained = DistributedDataParallel(trained, device_ids=[runtime.device.index] if runtime.device.type == "cuda" else None)

    if runtime.master:
        log(
            f"model: {model.num_parameters() / 1e6:.1f}M parameters ({config.model.layers} layers × {config.model.hidden}, "
            f"vocab {config.model.vocab_size}); {len(rows.rows)} training rows; device {runtime.device} × {runtime.world}"
        )
    from tqdm.auto import tqdm

    bar = tqdm(total=config.max_steps, initial=step, desc="training", unit="step", disable=not (config.show_progress and runtime.master))
    started = time.perf_counter()
    model.train()
    loss_value = float("nan")
    while step < config.max_steps:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, config)
        ids, mask, n = batches.next(runtime.device)
        with autocast_for(runtime.device):
            vectors = trained(ids, mask).float()  # one forward pass for queries, positives and negatives
        loss = contrastive_loss(
            vectors[:n],
            vectors[n : 2 * n],
            vectors[2 * n :] if len(vectors) > 2 * n else None,
            temperature=config.temperature,
            hard_negative_weight=config.hard_negative_weight,
        )
        if not _all_finite(loss, runtime):
            kept = f"last good checkpoint kept at {checkpoint}" if checkpoint.is_file() else f"no checkpoint yet (run directory {work})"
            raise ModelError(f"training stopped: loss became {loss.item()} at step {step + 1}; {kept}", hint="lower --lr, then --resume")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        step += 1
        loss_value = loss.item() if step % config.log_every == 0 or step == config.max_steps else loss_value
        bar.update(1)
        if step % config.log_every == 0 and runtime.master:
            bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}")
        if yardstick is not None and step % config.eval_every == 0:
            loss_value = loss.item()  # the history records this step's loss, not the last logged one
            metrics = evaluate(model, batches, runtime.device, yardstick, template, eval_set)
            history.append({"step": step, "loss": loss_value, **metrics})
            bundled = metrics["bundled"]
            bar.write(f"step {step}: loss {loss_value:.4f}  recall@3 {bundled['recall@3']:.3f}  mrr@10 {bundled['mrr@10']:.3f}")
        if runtime.master and config.save_every and step % config.save_every == 0:
            save_checkpoint(checkpoint, model, optimizer, step, batches, history)
    bar.close()
    seconds = time.perf_counter() - started

    metadata: dict[str, Any] = {}
    if runtime.master:
        final = evaluate(model, batches, runtime.device, yardstick, template, eval_set) if yardstick is not None else {}
        built = work / "model"
        if built.exists():
            shutil.rmtree(built)
        built.mkdir()
        save_sentence_transformer(model.cpu(), config.tokenizer, built)
        metadata = {
            "kind": "from-scratch",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "model": config.model.to_dict(),
            "parameters": model.num_parameters(),
            "tokenizer": str(config.tokenizer.resolve()),
            "data": rows.summary(),
            "hyperparameters": {**config.hyperparameters(), "eval_template": template},
            "devices": f"{runtime.device.type} × {runtime.world}",
            "steps": step,
            "train_seconds": round(seconds, 1),
            "final_loss": None if math.isnan(loss_value) else round(loss_value, 5),
            "history": history,
            "metrics": {"after": final},
            "fingerprint": model_fingerprint(built),
        }
        write_json_atomic(built / "training.json", metadata)
        publish_directory(built, config.out)
        shutil.rmtree(work, ignore_errors=True)
    _shutdown(runtime)
    return metadata


def _all_finite(loss: torch.Tensor, runtime: Runtime) -> bool:
    finite = torch.isfinite(loss.detach()).to(torch.int32)
    if runtime.ddp:
        import torch.distributed as dist

        dist.all_reduce(finite, op=dist.ReduceOp.MIN)
    return bool(finite.item())


def _barrier(runtime: Runtime) -> None:
    if runtime.ddp:
        import torch.distributed as dist

        dist.barrier()


def _shutdown(runtime: Runtime) -> None:
    if runtime.ddp:
        from torch.distributed import destroy_process_group

        destroy_process_group()
