"""Shareable single-life models: a folder with ``model.safetensors``, ``config.json`` and a model card.

``export_model(run_or_checkpoint, out_dir)`` writes the folder; ``from_pretrained(path_or_repo_id)``
loads it back. safetensors holds tensors only (no pickle), so loading a folder someone sent you cannot
run code; ``config.json`` is plain JSON checked field by field. The decoder is included: CAS and
zero-shot matching read its cross-attention.

``config.json``::

    format        "slife-export/1"
    model_config  slife.model.config.ModelConfig fields
    life, hours_seen, step, pairs_seen   where the weights come from
    train_config  the run's TrainConfig (as trained)
    results       optional numbers measured on the model (e.g. a study's CAS / GT alignment)
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from slife.atomic import write_bytes_atomic, write_text_atomic
from slife.errors import SlifeError

FORMAT = "slife-export/1"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
CARD = "README.md"


class ExportError(SlifeError):
    """An exported model folder is missing a file or holds something slife did not write."""


def export_model(
    run_or_checkpoint: str | Path,
    out_dir: str | Path,
    results: dict[str, Any] | None = None,
    licence: str | None = None,
    force: bool = False,
) -> Path:
    """Write ``out_dir/{model.safetensors, config.json, README.md}`` from a run (its ``last.pt``) or a
    checkpoint file; returns ``out_dir``. ``results``: numbers to record in the card and config.

    A non-empty ``out_dir`` is refused unless ``force`` (then it is replaced whole). The folder is
    written beside ``out_dir`` and renamed into place, so a crash never mixes old and new files."""
    from safetensors.torch import save

    from slife.model.checkpoint import CheckpointMeta, load_model, resolve_checkpoint

    out = Path(out_dir)
    _check_target(out, force)
    path = resolve_checkpoint(run_or_checkpoint)
    model, meta = load_model(path)
    info = CheckpointMeta.of(meta, path)
    config = {
        "format": FORMAT,
        "model_config": info.model_config,
        "life": info.life,
        "hours_seen": info.hours_seen,
        "step": info.step,
        "pairs_seen": info.pairs_seen,
        "train_config": info.train_config,
        "results": results or {},
        "source": path.name,
    }
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = out.with_name(f".{out.name}.tmp{os.getpid()}")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        write_bytes_atomic(stage / WEIGHTS, save(tensors, metadata={"format": FORMAT}))
        write_text_atomic(stage / CONFIG, json.dumps(config, indent=1, default=_json_default) + "\n")
        write_text_atomic(stage / CARD, model_card(config, licence))
        _move_into_place(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out


def _check_target(out: Path, force: bool) -> None:
    """Refuse to write over a file, or over a non-empty folder unless ``force``."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out}: exists and is not a folder")
    if out.is_dir() and not force:
        held = sorted(p.name for p in out.iterdir())
        if held:
            shown = ", ".join(held[:3]) + (", ..." if len(held) > 3 else "")
            raise ExportError(f"{out}: folder not empty ({shown}); choose a new --out or pass --force to replace it")


def _move_into_place(stage: Path, out: Path) -> None:
    """Rename the finished ``stage`` folder to ``out``; an existing ``out`` is renamed aside first and
    deleted only once the new folder is in place."""
    if not out.exists():
        os.rename(stage, out)
        return
    old = out.with_name(f".{out.name}.old{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    os.rename(out, old)
    try:
        os.rename(stage, out)
    except BaseException:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def model_card(config: dict[str, Any], licence: str | None = None) -> str:
    """The README.md of an exported model: what it is, what it was trained on, how to load it."""
    mc, tc = config["model_config"], config.get("train_config") or {}
    hours = config.get("hours_seen")
    shifted = (tc.get("data") or {}).get("shifted") or {}
    lines = [
        f"# slife single-life CroCo: {config.get('life') or 'unknown life'}",
        "",
        "A cross-view-completion (CroCo) ViT trained from random initialisation on one life (one person's "
        "video) with [slife](https://example.invalid/slife), following Han et al., *Unique Lives, Shared "
        "World: Learning from Single-Life Videos* (2025).",
        "",
        "| | |",
        "| --- | --- |",
        f"| life | {config.get('life')} |",
        f"| video seen | {'-' if hours is None else f'{hours:.4g} h'} |",
        f"| steps, pairs | {config.get('step')}, {config.get('pairs_seen')} |",
        f"| model | {mc.get('img_size')} px, patch {mc.get('patch_size')}, encoder {mc.get('enc_dim')} x "
        f"{mc.get('enc_depth')}, decoder {mc.get('dec_dim')} x {mc.get('dec_depth')}, mask ratio {mc.get('mask_ratio')} |",
        f"| pairs | {(tc.get('data') or {}).get('sampler', '-')}"
        + (f"; shifted pairs: warm-up {shifted.get('warmup')}, share {shifted.get('share')}" if shifted.get("warmup") or shifted.get("share") else "")
        + " |",
        f"| licence of the data | {licence or 'as the life it was trained on (not recorded)'} |",
        "",
    ]  # fmt: skip
    results = config.get("results") or {}
    if results:
        lines += ["## Measured", "", "| | |", "| --- | --- |"]
        lines += [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in results.items()]
        lines.append("")
    else:
        lines += ["No alignment numbers were recorded with this export.", ""]
    lines += [
        "## Load",
        "",
        "```python",
        "from slife.model import from_pretrained",
        "model, config = from_pretrained('PATH_TO_THIS_FOLDER')",
        "```",
        "",
        "`model.safetensors` holds the encoder and the decoder (CAS and zero-shot matching read the "
        "decoder's cross-attention); `config.json` the model and training configuration.",
        "",
    ]
    return "\n".join(lines)


def from_pretrained(path_or_repo_id: str | Path, map_location: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model of an exported folder (eval mode) and its ``config.json``. A string that is not a
    folder is taken as a Hugging Face Hub repo id when ``huggingface_hub`` is installed."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from slife.config import from_dict
    from slife.model.checkpoint import check_fits, check_weights
    from slife.model.config import ModelConfig
    from slife.model.croco import CroCo

    folder = _resolve_folder(path_or_repo_id)
    cfg_path, weights_path = folder / CONFIG, folder / WEIGHTS
    for p in (cfg_path, weights_path):
        if not p.is_file():
            raise ExportError(f"{p}: missing; an exported slife model folder holds {CONFIG} and {WEIGHTS}")
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{cfg_path}: not JSON: {exc}") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ExportError(f"{cfg_path}: not a slife export (format {config.get('format') if isinstance(config, dict) else None!r})")
    if not isinstance(config.get("model_config"), dict):
        raise ExportError(f"{cfg_path}: model_config must be a mapping")
    cfg = from_dict(ModelConfig, config["model_config"], f"{cfg_path}:model_config")
    check_fits(cfg, weights_path.stat().st_size // 2, weights_path)  # at least 2 bytes a weight
    try:
        state = load_file(str(weights_path), device=str(map_location))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ExportError(f"{weights_path}: cannot read the weights: {exc}") from exc
    try:
        check_weights(state, weights_path)
    except SlifeError as exc:
        raise ExportError(str(exc)) from None
    model = CroCo(cfg)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ExportError(f"{weights_path}: weights do not fit {CONFIG}'s model_config: {exc}") from exc
    return model.to(map_location).eval(), config


def _resolve_folder(path_or_repo_id: str | Path) -> Path:
    path = Path(path_or_repo_id)
    if path.is_dir():
        return path
    text = str(path_or_repo_id)
    if path.exists() or text.startswith((".", "/", "~")) or text.count("/") != 1:
        raise ExportError(f"{path}: no such exported model folder")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ExportError(
            f"{text}: no such folder; to load it as a Hugging Face Hub repo id, pip install huggingface_hub"
        ) from None
    try:
        return Path(snapshot_download(text, allow_patterns=[CONFIG, WEIGHTS, CARD]))
    except Exception as exc:  # network, missing repo: the hub raises many types
        raise ExportError(f"{text}: cannot download from the Hugging Face Hub: {exc}") from exc
