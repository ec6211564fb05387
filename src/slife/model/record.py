"""Read a CroCo decoder's cross-attention by forward hooks, without changing how the model is called.

:class:`CrossAttentionRecorder` hooks the :class:`~slife.model.layers.Scores` module of the chosen
decoder blocks' cross-attention. A hooked block switches to the explicit attention path (softmax in
float32, exactly the numbers of an unhooked explicit pass) and the hook keeps its logits
q k^T / sqrt(d) (B, H, N_tgt, N_src), before softmax. Unhooked, the model runs its fused kernels.

    with CrossAttentionRecorder(model) as rec:
        model(src, tgt, mask=mask)
    rec.logits()   # (L, B, H, N_tgt, N_src) float32, pre-softmax
    rec.maps()     # softmax of the same: each row sums to 1
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn


def resolve_layers(layers: Sequence[int] | None, depth: int, what: str = "decoder layers") -> list[int]:
    """``layers`` (None = all) checked against a depth of ``depth``: distinct indices in [0, depth)."""
    if layers is None:
        return list(range(depth))
    out = [int(i) for i in layers]
    bad = [i for i in out if not 0 <= i < depth]
    if bad or not out or len(set(out)) != len(out):
        raise ValueError(f"{what}: need distinct indices in [0, {depth}), got {list(layers)}")
    return out


class OutputRecorder:
    """Context manager keeping the output of every module in ``modules`` (its last call) whose index
    is in ``keep`` (None = all); the others are hooked too (a hooked :class:`Scores` switches its
    block to the explicit path, so every block reads the same way whatever is kept)."""

    def __init__(self, modules: Sequence[nn.Module], keep: Sequence[int] | None = None, what: str = "modules") -> None:
        self._modules = list(modules)
        self.layers = resolve_layers(keep, len(self._modules), what)
        self._handles: list[Any] = []
        self._seen: dict[int, Tensor] = {}

    def __enter__(self) -> "OutputRecorder":
        keep = set(self.layers)
        for layer, module in enumerate(self._modules):
            self._handles.append(module.register_forward_hook(self._hook(layer, layer in keep)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, layer: int, keep: bool) -> Any:
        def hook(module: nn.Module, inputs: Any, output: Tensor) -> None:
            if keep:
                self._seen[layer] = output.detach()

        return hook

    def outputs(self) -> list[Tensor]:
        """The kept modules' outputs of the last forward pass, in the order of ``keep``."""
        missing = [i for i in self.layers if i not in self._seen]
        if missing:
            raise RuntimeError(f"nothing recorded for layers {missing}: run the model inside the recorder")
        return [self._seen[i] for i in self.layers]


class CrossAttentionRecorder(OutputRecorder):
    """Context manager recording the cross-attention logits of decoder blocks ``layers`` (None = all).

    Every block is hooked (so every block runs the explicit path and the recorded numbers do not
    depend on which layers are kept); only ``layers`` are stored. Each forward pass overwrites what
    the previous one recorded. Hooks are removed on exit (also on error), so the model runs fused again.
    """

    def __init__(self, model: nn.Module, layers: Sequence[int] | None = None) -> None:
        blocks = getattr(model, "dec_blocks", None)
        if blocks is None:
            raise ValueError(f"{type(model).__name__} has no decoder blocks (dec_blocks) to record")
        super().__init__([blk.cross_attn.scores for blk in blocks], layers, "decoder layers")

    def logits(self) -> Tensor:
        """(L, B, H, N_tgt, N_src) float32 logits of the last forward pass, one entry per recorded layer."""
        try:
            return torch.stack([t.float() for t in self.outputs()])
        except RuntimeError as exc:
            raise RuntimeError(f"no cross-attention recorded: {exc}") from None

    def maps(self) -> Tensor:
        """(L, B, H, N_tgt, N_src) float32 softmax maps (rows sum to 1) of the last forward pass."""
        return self.logits().softmax(dim=-1)


def block_outputs(model: nn.Module, src: Tensor, tgt: Tensor) -> dict[str, Tensor]:
    """Patch features of ``tgt`` after every encoder block (``enc0``, ...: the encoder on the whole
    target) and every decoder block (``dec0``, ...: the decoder with the target unmasked and ``src`` as
    the second view): name -> (B, N, dim) float32. Call under ``torch.no_grad()``."""
    mask = torch.zeros(tgt.shape[0], model.num_patches, dtype=torch.bool, device=tgt.device)
    with OutputRecorder(model.enc_blocks) as enc:
        model.encode(tgt)
    with OutputRecorder(model.dec_blocks) as dec:
        model(src, tgt, mask=mask)
    out = {f"enc{i}": t.float() for i, t in enumerate(enc.outputs())}
    out.update({f"dec{i}": t.float() for i, t in enumerate(dec.outputs())})
    return out
