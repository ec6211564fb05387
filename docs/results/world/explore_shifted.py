"""Experiment: shifted views of the life's own frames as a curriculum / mix for world training."""
import argparse, json, math, time
import numpy as np, torch
from slife.life import Life
from slife.pairs.config import PairsConfig, build_sampler
from slife.pairs.augment import augment, load_resized, resize_side
from slife.pairs.dataset import to_batch, sample_mask
from slife.diagnose.shift import ShiftPairs, ShiftTask, score_top1
from slife.diagnose.photos import load_photos, EVAL_PHOTOS
from slife.align.testset import TestSet
from slife.align.sources import ReadProtocol, model_attention
from slife.align.controls import source_use
from slife.model.config import model_config
from slife.model.croco import CroCo
from slife.train.optim import build_optimizer, set_lr
from slife.train.config import OptimConfig
from slife.train.schedule import lr_at

ap = argparse.ArgumentParser()
ap.add_argument("--life", default="demo_out/lives/kitchen-1")
ap.add_argument("--testset", default="demo_out/testset.npz")
ap.add_argument("--steps", type=int, default=3000)
ap.add_argument("--shift-until", type=float, default=0.5, help="fraction of steps with shift pairs only")
ap.add_argument("--mix", type=float, default=0.0, help="shift fraction after shift-until")
ap.add_argument("--mask", type=float, default=0.5)
ap.add_argument("--max-shift", type=int, default=2)
ap.add_argument("--subpatch", action="store_true")
ap.add_argument("--scales", default="1.0")
ap.add_argument("--jitter", type=float, default=0.4)
ap.add_argument("--lr", type=float, default=4e-3)
ap.add_argument("--min-lr", type=float, default=0.0)
ap.add_argument("--eval-every", type=int, default=300)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--out", required=True)
a = ap.parse_args()
torch.set_num_threads(1)
life = Life.open(a.life)
sampler = build_sampler(life, PairsConfig())
side = resize_side(64)
frames = [load_resized(life.jpeg(i), side) for i in range(len(life))]
full = [load_resized(life.jpeg(i), 256) for i in range(len(life))]
shift = ShiftPairs(full, 64, 8, ShiftTask(max_shift=a.max_shift, subpatch=a.subpatch, scales=[float(s) for s in a.scales.split(",")]))
del full
ts = TestSet.load(a.testset)
photo_eval = ShiftPairs(load_photos(EVAL_PHOTOS), 64, 8, ShiftTask(max_shift=2)).testset(64, 12345)
mcfg = model_config("tiny", img_size=64, patch_size=8, enc_dim=64, enc_heads=4, enc_depth=4, dec_dim=64, dec_heads=4, dec_depth=4, mask_ratio=a.mask)
torch.manual_seed(a.seed)
model = CroCo(mcfg)
ocfg = OptimConfig(lr=a.lr, warmup_fraction=0.05, min_lr=a.min_lr)
opt = build_optimizer(model, ocfg, a.lr)
warm = int(0.05 * a.steps)
rng = np.random.default_rng(a.seed)
proto = {"masked": ReadProtocol("masked", 4, 0), "unmasked": ReadProtocol("unmasked")}
curve = []
def evaluate(step, train_s, loss):
    model.eval()
    p = {"step": step, "train_s": round(train_s, 1), "loss": loss}
    for k, pr in proto.items():
        p["world_" + k] = score_top1(model_attention(model, ts, protocol=pr), ts)
    p["photo_masked"] = score_top1(model_attention(model, photo_eval, protocol=proto["masked"]), photo_eval)
    p["src_use"] = {k: round(v, 4) for k, v in source_use(model, ts, 0).items() if "minus" in k}
    model.train()
    curve.append(p)
    print(json.dumps({"step": step, "t": p["train_s"], "loss": loss, "w_m_r1": p["world_masked"]["within1_moving"],
                      "w_u_r1": p["world_unmasked"]["within1_moving"], "photo_exact": p["photo_masked"]["exact"], **p["src_use"]}), flush=True)
    json.dump({"args": vars(a), "curve": curve}, open(a.out, "w"), indent=1)
evaluate(0, 0.0, None)
train_s, acc, n = 0.0, 0.0, 0
for step in range(a.steps):
    t0 = time.perf_counter()
    set_lr(opt, lr_at(step, a.steps, a.lr, warm, a.min_lr))
    frac = 1.0 if step < a.shift_until * a.steps else a.mix
    n_shift = int(rng.binomial(32, frac)) if 0 < frac < 1 else int(32 * frac)
    srcs, tgts = [], []
    if n_shift:
        s, t, _, _ = shift.draw(n_shift, rng)
        srcs += list(s); tgts += list(t)
    for i, j in sampler.sample(32 - n_shift, rng, len(life)):
        srcs.append(augment(frames[int(i)], 64, rng, a.jitter)); tgts.append(augment(frames[int(j)], 64, rng, a.jitter))
    src, tgt = to_batch(srcs), to_batch(tgts)
    mask = torch.from_numpy(np.stack([sample_mask(64, model.num_masked(), rng) for _ in range(32)]))
    out = model(src, tgt, mask=mask)
    loss = model.loss(out.pred, tgt, mask)
    opt.zero_grad(set_to_none=True); loss.backward()
    opt.step()
    train_s += time.perf_counter() - t0
    acc += float(loss); n += 1
    if (step + 1) % a.eval_every == 0 or step + 1 == a.steps:
        evaluate(step + 1, train_s, round(acc / n, 4)); acc, n = 0.0, 0
torch.save(model.state_dict(), a.out.replace(".json", ".pt"))
