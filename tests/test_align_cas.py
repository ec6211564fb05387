"""CAS math on hand-made attention maps: hand-computed scores, ties, invariances, chance level."""

import numpy as np
import pytest
import torch

from slife.align.cas import cas, cas_per_layer, cas_per_pair, chance_cas, topk_sets
from slife.errors import SlifeError


def test_hand_made_maps_give_the_hand_computed_score() -> None:
    # one pair, 2 target patches, 4 source patches, k = 2
    a = torch.tensor([[[0.4, 0.3, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4]]])
    b = torch.tensor([[[0.5, 0.1, 0.3, 0.1], [0.0, 0.1, 0.2, 0.7]]])
    # row 0: A {0, 1}, B {0, 2} -> 1/2;  row 1: A {3, 2}, B {3, 2} -> 2/2;  mean 0.75
    assert cas(a, b, k=2) == pytest.approx(0.75)
    # k = 1: row 0 {0} vs {0} -> 1, row 1 {3} vs {3} -> 1
    assert cas(a, b, k=1) == pytest.approx(1.0)
    # k = 3: row 0 {0,1,2} vs {0,2,1 (tie 1/3 -> lower index 1)} -> 3/3; row 1 {3,2,1} vs {3,2,1} -> 1
    assert cas(a, b, k=3) == pytest.approx(1.0)


def test_mean_over_patches_then_pairs_with_two_pairs() -> None:
    eye = torch.eye(3).unsqueeze(0)  # target patch i attends to source i
    rolled = torch.roll(torch.eye(3), 1, dims=1).unsqueeze(0)  # target i -> source i+1
    a = torch.cat([eye, eye])
    b = torch.cat([eye, rolled])
    np.testing.assert_allclose(cas_per_pair(a, b, k=1), [1.0, 0.0])
    assert cas(a, b, k=1) == pytest.approx(0.5)
    # k = 2 with ties among the zeros (lower index wins): eye row 0 -> {0, 1}, rolled row 0 -> {1, 0}
    # eye rows {0,1},{1,0},{2,0}; rolled rows {1,0},{2,0},{0,1} -> overlaps 2,1,1 of 2 -> 2/3
    assert cas_per_pair(eye, rolled, k=2)[0] == pytest.approx(2 / 3)


def test_ties_go_to_the_lower_source_index() -> None:
    attn = torch.tensor([[0.2, 0.3, 0.3, 0.2, 0.0], [0.1, 0.1, 0.1, 0.1, 0.1]])
    assert topk_sets(attn, 3).tolist() == [[1, 2, 0], [0, 1, 2]]
    uniform = torch.full((1, 4, 6), 1 / 6)
    assert (topk_sets(uniform, 2) == torch.tensor([0, 1])).all()
    assert cas(uniform, uniform, k=2) == 1.0


def test_cas_with_itself_is_one_and_symmetric() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.rand(7, 16, 16, generator=g).softmax(-1)
    b = torch.rand(7, 16, 16, generator=g).softmax(-1)
    assert cas(a, a) == 1.0
    assert cas(a, b) == cas(b, a)
    assert 0.0 <= cas(a, b) < 1.0


def test_invariant_to_scaling_and_monotone_transforms() -> None:
    g = torch.Generator().manual_seed(1)
    a = torch.rand(5, 16, 20, generator=g).softmax(-1)
    b = torch.rand(5, 16, 20, generator=g).softmax(-1)
    ref = cas(a, b, k=4)
    assert ref not in (0.0, 1.0)
    assert cas(a * 37.5, b, k=4) == ref
    assert cas(a.log(), b.sqrt(), k=4) == ref
    assert cas(a.pow(3) * 2 + 1, torch.exp(b), k=4) == ref
    # a non-monotone transform does change the score
    assert cas(-a, b, k=4) != ref


def test_random_top_k_sets_agree_at_chance_level() -> None:
    g = torch.Generator().manual_seed(2)
    n_src, k = 40, 5
    a = torch.rand(200, 30, n_src, generator=g)
    b = torch.rand(200, 30, n_src, generator=g)
    assert cas(a, b, k) == pytest.approx(chance_cas(k, n_src), abs=0.01)


def test_per_layer_variant_and_mask() -> None:
    eye = torch.eye(4).unsqueeze(0)
    rolled = torch.roll(torch.eye(4), 1, dims=1).unsqueeze(0)
    layers_a = torch.stack([eye, eye])  # (L=2, P=1, 4, 4)
    layers_b = torch.stack([eye, rolled])
    np.testing.assert_allclose(cas_per_layer(layers_a, layers_b, k=1), [1.0, 0.0])
    # mask: only target patches 0 and 1 of the pair; rows 0/1 of eye vs half-rolled
    half = eye.clone()
    half[0, 1] = torch.tensor([1.0, 0, 0, 0])
    mask = torch.tensor([[True, True, False, False]])
    assert cas(eye, half, k=1) == pytest.approx(0.75)
    assert cas(eye, half, k=1, mask=mask) == pytest.approx(0.5)


def test_bad_inputs_raise() -> None:
    a = torch.rand(2, 4, 4)
    with pytest.raises(SlifeError, match="k must be"):
        cas(a, a, k=5)
    with pytest.raises(SlifeError, match="different shapes"):
        cas(a, torch.rand(2, 4, 5), k=2)
    bad = a.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(SlifeError, match="NaN"):
        cas(bad, a, k=2)


def test_fast_top_k_equals_a_stable_sort_even_with_many_ties() -> None:
    g = torch.Generator().manual_seed(3)
    for attn in (torch.randint(0, 3, (6, 9, 12), generator=g).float(), torch.rand(2, 3, 5, 16, generator=g),
                 torch.full((2, 4, 7), 0.5)):
        for k in (1, 2, 5, 7):
            expected = torch.sort(attn, dim=-1, descending=True, stable=True).indices[..., :k]
            assert torch.equal(topk_sets(attn, k), expected)
