"""A Life in a torch DataLoader with worker processes returns the same frames as the main process."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from slife.ingest import IngestConfig, ingest_life
from slife.ingest.synth import write_index_video
from slife.life import Life


class FrameDataset(Dataset):
    def __init__(self, life: Life):
        self.life = life

    def __len__(self) -> int:
        return len(self.life)

    def __getitem__(self, i: int):
        image, timestamp = self.life[i]
        return torch.from_numpy(image), timestamp, i


def test_dataloader_workers_match_main_process(tmp_path):
    clips = [
        write_index_video(tmp_path / f"c{i}.mp4", np.arange(72) / 24.0, indices=range(50 * i, 50 * i + 72))
        for i in range(2)
    ]
    ingest_life(tmp_path / "life", clips, IngestConfig(fps=4.0, short_side=48), progress=False)
    life = Life.open(tmp_path / "life")
    life[0]  # open a handle in the parent first: workers must not reuse it
    expected = {i: life[i] for i in range(len(life))}
    loader = DataLoader(
        FrameDataset(life), batch_size=3, shuffle=True, num_workers=2, generator=torch.Generator().manual_seed(0)
    )
    seen = set()
    for images, timestamps, idx in loader:
        for image, ts, i in zip(images, timestamps, idx.tolist()):
            assert np.array_equal(image.numpy(), expected[i].image)
            assert float(ts) == expected[i].timestamp
            seen.add(i)
    assert seen == set(range(len(life))) and len(life) == 24
