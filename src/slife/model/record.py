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


class CrossAttentionRecorder:
    """Context manager recording the cross-attention logits of decoder blocks ``layers`` (None = all).

    Every block is hooked (so every block runs the explicit path and the recorded numbers do not
    depend on which layers are kept); only ``layers`` are stored. Each forward pass overwrites what the previous one recorded; :meth:`logits` stacks the last pass.
    Hooks are removed on exit (also on error), so the model runs fused again afterwards.
    """

    def __init__(self, model: nn.Module, layers: Sequence[int] | None = None) -> None:
        blocks = getattr(model, "dec_blocks", None)
        if blocks is None:
            raise ValueError(f"{type(model).__name__} has no decoder blocks (dec_blocks) to record")
        self.layers = resolve_layers(layers, len(blocks))
        self._modules = [blk.cross_attn.scores for blk in blocks]
        self._handles: list[Any] = []
        self._seen: dict[int, Tensor] = {}

    def __enter__(self) -> "CrossAttentionRecorder":
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

    def logits(self) -> Tensor:
        """(L, B, H, N_tgt, N_src) float32 logits of the last forward pass, one entry per recorded layer."""
        missing = [i for i in self.layers if i not in self._seen]
        if missing:
            raise RuntimeError(f"no cross-attention recorded for decoder layers {missing}: run the model inside the recorder")
        return torch.stack([self._seen[i].float() for i in self.layers])

    def maps(self) -> Tensor:
        """(L, B, H, N_tgt, N_src) float32 softmax maps (rows sum to 1) of the last forward pass."""
        return self.logits().softmax(dim=-1)
