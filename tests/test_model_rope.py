"""2D RoPE and sin-cos position encodings against straightforward references."""

import math

import torch

from slife.model.posenc import apply_rope, grid_positions, rope_tables, sincos_2d


def rope_by_rotation_matrices(x: torch.Tensor, pos: torch.Tensor, base: float) -> torch.Tensor:
    """Per token, build the (D x D) block rotation explicitly and multiply: x (N, D), pos (N, 2)."""
    n, d = x.shape
    half = d // 2
    out = torch.empty_like(x, dtype=torch.float64)
    for t in range(n):
        r = torch.zeros(d, d, dtype=torch.float64)
        for axis in range(2):
            off = axis * half
            for j in range(half // 2):
                theta = float(pos[t, axis]) * base ** (-2 * j / half)
                a, b = off + j, off + j + half // 2  # rotate-half pairing inside the axis half
                r[a, a], r[a, b] = math.cos(theta), -math.sin(theta)
                r[b, a], r[b, b] = math.sin(theta), math.cos(theta)
        out[t] = r @ x[t].double()
    return out


def test_rope_matches_rotation_matrices():
    torch.manual_seed(0)
    d = 16
    pos = grid_positions(3, 4)
    x = torch.randn(2, 3, pos.shape[0], d)  # (B, H, N, D)
    cos, sin = rope_tables(pos, d, base=100.0)
    got = apply_rope(x, cos, sin)
    for b in range(2):
        for h in range(3):
            want = rope_by_rotation_matrices(x[b, h], pos, 100.0)
            torch.testing.assert_close(got[b, h].double(), want, atol=1e-5, rtol=1e-5)


def test_rope_per_sample_positions_match_shared():
    torch.manual_seed(1)
    pos = grid_positions(4, 4)
    x = torch.randn(2, 2, 16, 8)
    shared = apply_rope(x, *rope_tables(pos, 8))
    batched = apply_rope(x, *rope_tables(pos.expand(2, 16, 2), 8))
    torch.testing.assert_close(shared, batched)


def test_rope_dot_product_depends_only_on_offset():
    torch.manual_seed(2)
    d = 32
    q, k = torch.randn(d), torch.randn(d)

    def score(pq, pk):
        pos = torch.tensor([pq, pk])
        cos, sin = rope_tables(pos, d, base=100.0)
        rq = apply_rope(q.view(1, 1, 1, d), cos[:1], sin[:1])
        rk = apply_rope(k.view(1, 1, 1, d), cos[1:], sin[1:])
        return float((rq * rk).sum())

    s1 = score((2, 3), (5, 1))  # offset (+3, -2)
    s2 = score((7, 9), (10, 7))  # same offset
    s3 = score((0, 0), (3, -2))
    assert abs(s1 - s2) < 1e-4 and abs(s1 - s3) < 1e-4
    assert abs(s1 - score((2, 3), (6, 1))) > 1e-3  # a different offset changes the score
    # norms are preserved (a rotation)
    cos, sin = rope_tables(torch.tensor([[4, 6]]), d)
    assert abs(float(apply_rope(q.view(1, 1, 1, d), cos, sin).norm()) - float(q.norm())) < 1e-4


def test_rope_keeps_dtype_under_bf16():
    x = torch.randn(1, 1, 4, 8, dtype=torch.bfloat16)
    assert apply_rope(x, *rope_tables(grid_positions(2, 2), 8)).dtype == torch.bfloat16


def test_sincos_2d_layout():
    emb = sincos_2d(8, 2, 3)  # (6, 8): first half column, second half row
    assert emb.shape == (6, 8)
    n = 1 * 3 + 2  # row 1, col 2
    omega = [1.0, 1.0 / 100.0]  # 10000 ** (-i / 2) for i < 2
    want_col = [math.sin(2 * w) for w in omega] + [math.cos(2 * w) for w in omega]
    want_row = [math.sin(1 * w) for w in omega] + [math.cos(1 * w) for w in omega]
    torch.testing.assert_close(emb[n], torch.tensor(want_col + want_row, dtype=torch.float32))
