"""Speed of `slife eval` on this machine: per-pair correspondence (model + scoring, SIFT) on an
HPatches-sized pair, and depth-probe training steps. Prints a table and PASS/FAIL vs targets.

Targets [ours], 2 CPU cores, one torch thread: a 1000 x 750 HPatches-sized pair with the tiny model
incl. SIFT and fully dense scoring under 5 s (the 580-pair protocol in < 50 min on a laptop-class
CPU; base-size models are meant for a GPU), and a probe step (batch 16, base tokens) under 2 s.
Timings on a loaded machine are noisy: the load average is printed.
"""

from __future__ import annotations

import os
import time

import cv2
import numpy as np
import skimage.data
import torch

from slife.evaluate.datasets import MatchPair, apply_homography, homography_to_continuous
from slife.evaluate.depth import AttentiveProbe, silog_loss, upsample
from slife.evaluate.match import MatchEvalConfig, model_flow, score_model_flow, score_sift
from slife.geometry import inside, pixel_centers
from slife.model.config import model_config
from slife.model.croco import CroCo


def hpatches_like_pair(stride: int) -> MatchPair:
    img = cv2.resize(skimage.data.astronaut(), (1000, 750))
    H = np.array([[1.05, 0.03, -20], [-0.02, 0.98, 15], [2e-5, 1e-5, 1.0]])
    src = cv2.warpPerspective(img, H, (1000, 750))
    Hc = homography_to_continuous(H)
    xy = pixel_centers(750, 1000, stride)
    xy_s = apply_homography(Hc, xy)
    return MatchPair(img, src, xy, xy_s, inside(xy_s, 750, 1000), "bench", "v", homography=Hc)


def timed(fn, repeat: int = 3) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat


def main() -> None:
    torch.set_num_threads(1)
    rows = []
    pair = hpatches_like_pair(stride=1)
    cfg = MatchEvalConfig()
    for size in ("tiny", "base"):
        model = CroCo(model_config(size)).eval()
        flow_s = timed(lambda: model_flow(model, pair.target, pair.source, cfg))
        flow = model_flow(model, pair.target, pair.source, cfg)
        score_s = timed(lambda: score_model_flow(flow, pair, model.cfg.img_size, model.cfg.patch_size, cfg))
        rows.append((f"match {size}: attention + flow (both directions)", flow_s, None))
        rows.append((f"match {size}: dense scoring, 750k px", score_s, None))
        if size == "tiny":
            tiny_total = flow_s + score_s
        tokens = torch.randn(16, model.num_patches, model.cfg.enc_dim)
        probe = AttentiveProbe(model.cfg.enc_dim, model.patch_grid)
        opt = torch.optim.AdamW(probe.parameters())
        gt = torch.rand(16, 1, model.cfg.img_size, model.cfg.img_size) + 0.5

        def step() -> None:
            loss = silog_loss(upsample(probe(tokens), model.cfg.img_size), gt, torch.ones_like(gt))
            opt.zero_grad()
            loss.backward()
            opt.step()

        step_s = timed(step)
        rows.append((f"depth {size}: probe step, batch 16", step_s, 2.0 if size == "base" else None))
    sift_s = timed(lambda: score_sift(pair, cfg), repeat=2)
    rows.append(("SIFT: match + sparse/dense scoring", sift_s, None))
    rows.append(("match tiny + SIFT per HPatches pair", tiny_total + sift_s, 5.0))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'what':<48} {'seconds':>9}  target  result")
    ok = True
    for name, seconds, target in rows:
        verdict = "" if target is None else ("PASS" if seconds <= target else "FAIL")
        ok &= verdict != "FAIL"
        print(f"{name:<48} {seconds:9.3f}  {'' if target is None else f'{target:g}':>6}  {verdict}")
    print("PASS" if ok else "FAIL")


if __name__ == "__main__":
    main()
