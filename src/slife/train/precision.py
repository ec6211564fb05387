"""Which autocast dtype training uses: bf16 where the hardware computes it natively, else fp32.

``precision: bf16`` (the default) means bf16 autocast on CUDA GPUs with bf16 (fp16 + loss scaling on
older GPUs) and on CPUs with bf16 units (AVX512-BF16 or AMX), where oneDNN runs bf16 matmuls natively
(measured on an AMD EPYC with AVX512-BF16: the `tiny` training step 2.2x faster than fp32). Other CPUs
(AVX2) only emulate bf16, about 10x slower than fp32, so they train in fp32.
"""

from __future__ import annotations

import torch


def cpu_has_native_bf16() -> bool:
    """True if this CPU has bf16 dot-product units (AVX512-BF16 or AMX tiles)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch.cpu, PyTorch >= 2.1
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` (``bf16``, ``fp16``, ``fp32``) on ``device``; None = fp32."""
    if precision == "fp32":
        return None
    if device.type == "cuda":
        if precision == "bf16" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16  # fp16 asked for, or bf16 unsupported (pre-Ampere): fp16 with loss scaling
    if device.type == "cpu" and precision == "bf16" and cpu_has_native_bf16():
        return torch.bfloat16
    return None  # fp16 on CPU, or a CPU without bf16 units: fp32
