"""CroCo augmentation and training batches: sizes, crops, jitter, determinism, rank split."""

import numpy as np
import pytest
import torch

from slife.imaging import to_image
from slife.pairs.augment import augment, color_jitter, load_resized, resize_side
from slife.pairs.dataset import PairBatches
from slife.pairs.samplers import TemporalSampler
from lives import make_test_life


@pytest.fixture(scope="module")
def life(tmp_path_factory):
    return make_test_life(tmp_path_factory.mktemp("life") / "life", durations=(6.0, 6.0), fps=4.0)


def test_resize_side_keeps_the_224_from_256_ratio(life):
    assert resize_side(224) == 256 and resize_side(128) == 146 and resize_side(32) == 37
    img = load_resized(life.jpeg(0), 37)
    assert min(img.shape[:2]) == 37 and img.shape[1] == round(64 * 37 / 48)


def test_crop_without_jitter_is_a_window_of_the_frame():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(40, 50, 3), dtype=np.uint8)
    crop = augment(image, 32, np.random.default_rng(5), jitter=0.0)
    hits = [(y, x) for y in range(9) for x in range(19) if np.array_equal(image[y : y + 32, x : x + 32], crop)]
    assert len(hits) == 1


def test_color_jitter_factors_stay_in_range():
    flat = np.full((8, 8, 3), 100, np.uint8)
    means = [color_jitter(flat, np.random.default_rng(k), 0.4).mean() for k in range(200)]
    # grey image: contrast/saturation do nothing, brightness scales by U[0.6, 1.4]
    assert 59 <= min(means) < 66 and 134 < max(means) <= 141


def _dataset(life, batch, rank=0, world=1, seed=3):
    sampler = TemporalSampler.for_life(life, 0.5, 2.0)
    ends = np.full(10, len(life))
    return PairBatches(life, sampler, ends, 32, 14, batch, seed=seed, rank=rank, world_size=world, patch_size=8)


def test_batches_are_deterministic_and_rank_disjoint(life):
    one = _dataset(life, 4)
    a, b = one[2], one[2]
    assert a["src"].shape == (4, 3, 32, 32) and a["mask"].shape == (4, 16) and a["mask"].dtype == torch.bool
    assert (a["mask"].sum(1) == 14).all()
    assert torch.equal(a["src"], b["src"]) and torch.equal(a["mask"], b["mask"])
    assert not torch.equal(one[3]["src"], a["src"])
    assert not torch.equal(_dataset(life, 4, seed=4)[2]["src"], a["src"])
    # 2 ranks x batch 2 see exactly the samples of 1 rank x batch 4
    r0, r1 = _dataset(life, 2, 0, 2)[2], _dataset(life, 2, 1, 2)[2]
    for key in ("src", "tgt", "mask", "pairs"):
        assert torch.equal(torch.cat([r0[key], r1[key]]), a[key])
    # normalised ImageNet-style tensors that invert to valid images
    assert -2.2 < float(a["src"].min()) and float(a["src"].max()) < 2.7
    assert to_image(a["src"][0]).shape == (32, 32, 3)


def test_window_limits_frames(life):
    sampler = TemporalSampler.for_life(life, 0.5, 2.0)
    ds = PairBatches(life, sampler, np.array([9, 9, len(life)]), 32, 14, 16, patch_size=8)
    assert int(ds[0]["pairs"].max()) < 9 and int(ds[2]["pairs"].max()) >= 9


def _shifted_dataset(life, cache_mb=0.0, warm_steps=2, share=0.0, batch=6, max_shift=2, room=0):
    from slife.pairs.shifted import ShiftedPairsConfig

    sampler = TemporalSampler.for_life(life, 0.5, 2.0)
    shifted = ShiftedPairsConfig(warm_steps / 4, share, max_shift=max_shift, room=room)  # of 4 steps
    return PairBatches(life, sampler, np.full(4, len(life)), 32, 14, batch, seed=5, patch_size=8,
                       shifted=shifted, cache_mb=cache_mb)  # fmt: skip


def test_room_allows_shifts_twice_as_large_without_more_zoom(life):
    """room 1 (frames resized to 32 + 2 x 8 px, the zoom of max_shift 1) holds shifts of up to 2
    patches: both windows go anywhere they fit, and the far shifts do occur."""

    ds = _shifted_dataset(life, warm_steps=4, batch=64, max_shift=2, room=1)
    assert ds.shift_side == 48 and ds.warmup_steps == 4 and ds.sides == [37, 48]
    dims = lambda i, side: ds.frame(i, side, {}).shape[:2]  # noqa: E731
    shifts = []
    for r in ds.draw(0, dims) + ds.draw(1, dims):
        h, w = dims(r.src.frame, r.src.side)
        for v in (r.src, r.tgt):
            assert 0 <= v.y <= h - 32 and 0 <= v.x <= w - 32  # both windows inside the frame
        shifts.append((r.tgt.y - r.src.y, r.tgt.x - r.src.x))
    assert all(dy % 8 == 0 and dx % 8 == 0 and max(abs(dy), abs(dx)) <= 16 for dy, dx in shifts)
    assert any(abs(dy) == 16 for dy, _ in shifts) and any(abs(dx) == 16 for _, dx in shifts)
    with pytest.raises(ValueError, match="cannot hold"):
        ds.shift.windows(40, 40, np.array([0, 16]), 32, np.random.default_rng(0))


def test_warm_up_pairs_are_one_frame_moved_by_whole_patches(life):
    ds = _shifted_dataset(life)
    warm, real = ds[1], ds[2]
    assert (warm["pairs"][:, 0] == warm["pairs"][:, 1]).all()  # one frame per warm-up pair
    assert (real["pairs"][:, 0] != real["pairs"][:, 1]).all()  # then the configured (temporal) pairs
    moved = 0
    for src, tgt in zip(warm["src"], warm["tgt"]):
        # the target is the source window moved by (dy, dx) whole patches: their overlaps are equal
        found = [(dy, dx) for dy in range(-16, 17, 8) for dx in range(-16, 17, 8)
                 if torch.equal(tgt[:, max(0, -dy):32 - max(0, dy), max(0, -dx):32 - max(0, dx)],
                                src[:, max(0, dy):32 + min(0, dy), max(0, dx):32 + min(0, dx)])]  # fmt: skip
        assert found, "no whole-patch shift maps the source onto the target"
        moved += found[0] != (0, 0)
    assert moved >= 3  # 24 of 25 shifts move


def test_the_frame_cache_changes_nothing_but_speed(life):
    cached, uncached = _shifted_dataset(life, cache_mb=64), _shifted_dataset(life, cache_mb=0)
    for step in (0, 3, 0):
        a, b = cached[step], uncached[step]
        assert torch.equal(a["src"], b["src"]) and torch.equal(a["tgt"], b["tgt"]) and torch.equal(a["mask"], b["mask"])
    assert cached._cached_bytes > 0 and uncached._cached_bytes == 0
    tight = _shifted_dataset(life, cache_mb=0.01)  # room for one 37 px frame only
    tight[3]
    assert 0 < tight._cached_bytes <= 0.01 * 2**20


def test_after_the_warm_up_a_share_of_the_pairs_is_shifted(life):
    ds = _shifted_dataset(life, warm_steps=1, share=0.5, batch=64)
    same = [int((ds[s]["pairs"][:, 0] == ds[s]["pairs"][:, 1]).sum()) for s in (0, 1, 2)]
    assert same[0] == 64 and 16 < same[1] < 48 and 16 < same[2] < 48  # Binomial(64, 0.5) after step 0
    assert torch.equal(ds[2]["src"], _shifted_dataset(life, warm_steps=1, share=0.5, batch=64)[2]["src"])


def test_resident_frames_cut_the_same_batches_as_the_cpu_path(life):
    """The device path (slife.pairs.resident, here on the CPU device): the same recipe of frames,
    crops, jitter and masks, and the same pixels to one grey level (float32 rounding of the jitter)."""
    from slife.pairs.resident import ResidentFrames

    ds = _shifted_dataset(life, warm_steps=1, share=0.5, batch=16)  # step 0 shifted only, then a mix
    frames = ResidentFrames(life, ds.sides, "cpu")
    assert frames.nbytes == sum(len(life) * min_h * w * 3 for min_h, w in
                                [frames.frames[s].shape[1:3] for s in frames.frames])  # fmt: skip
    for step in (0, 2):
        cpu = ds[step]
        recipes = ds.draw(step, frames.frame_dims)
        dev = frames.batch(recipes, 32, step)
        assert torch.equal(dev["mask"], cpu["mask"]) and torch.equal(dev["pairs"], cpu["pairs"])
        for key in ("src", "tgt"):
            a, b = (torch.stack([torch.from_numpy(to_image(t)) for t in batch[key]]).int() for batch in (cpu, dev))
            diff = (a - b).abs()
            assert int(diff.max()) <= 1 and float((diff == 0).float().mean()) > 0.99
    assert any(r.src.jitter is not None for r in ds.draw(2, frames.frame_dims))  # jitter was exercised


def test_one_decoder_one_error_policy_on_every_path(life):
    """read_resized is the one frame decoder: the batches, resident frames and the overlap estimate name
    an undecodable frame the way Life.image does."""
    from slife.life import LifeFormatError
    from slife.pairs.augment import read_resized
    from slife.pairs.resident import ResidentFrames

    class Broken:
        def __init__(self, life):
            self.life = life

        def __len__(self):
            return len(self.life)

        def jpeg(self, i):
            return b"\xff\xd8 not a jpeg" if i == 2 else self.life.jpeg(i)

        def where(self, i):
            return f"where-{i}"

    broken = Broken(life)
    assert np.array_equal(read_resized(broken, 1, 37), load_resized(life.jpeg(1), 37))
    for build in (lambda: read_resized(broken, 2, 37), lambda: ResidentFrames(broken, [37], "cpu")):
        with pytest.raises(LifeFormatError, match=r"^where-2: cannot decode the JPEG: "):
            build()


def test_one_imagenet_normalisation():
    """imaging.to_tensors (arrays or uint8 tensors) is what to_tensor does to each image, to the bit."""
    from slife.imaging import to_tensor, to_tensors

    images = np.random.default_rng(0).integers(0, 256, size=(3, 16, 24, 3), dtype=np.uint8)
    batch = to_tensors(images)
    assert batch.shape == (3, 3, 16, 24) and batch.dtype == torch.float32
    assert torch.equal(batch, torch.stack([to_tensor(im) for im in images]))
    assert torch.equal(batch, to_tensors(torch.from_numpy(images)))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    assert torch.equal(to_tensor(images[0]), (torch.from_numpy(images[0]).permute(2, 0, 1).float() / 255 - mean) / std)
