"""The device's peak FLOP/s, to state a measured rate as a share of it: known accelerators'
dense (no sparsity) peaks from their data sheets, and on any other device the rate the
calibration workload reaches (matmuls of a small network's size: a practical peak)."""

from __future__ import annotations

#: (device-kind substring, dense bf16 FLOP/s, fp32 FLOP/s without tensor cores), first match
#: wins. float32 matmuls may run on tensor cores (TF32) and beat the fp32 figure.
KNOWN_PEAKS: tuple[tuple[str, float, float], ...] = (
    ("H100 PCIe", 756e12, 51.2e12),
    ("H100", 989e12, 66.9e12),  # SXM (the "80GB HBM3" card)
    ("H200", 989e12, 66.9e12),
    ("A100", 312e12, 19.5e12),
    ("L4", 121e12, 30.3e12),
)


def known_peak(device_kind: str, dtype: str) -> float | None:
    """The data-sheet peak of ``device_kind`` (``jax.devices()[0].device_kind``) for compute
    in ``dtype`` (bfloat16 or float32), or None for a device not in the table."""
    for name, bf16, fp32 in KNOWN_PEAKS:
        if name.lower() in device_kind.lower():
            return bf16 if dtype in ("bfloat16", "float16") else fp32
    return None
