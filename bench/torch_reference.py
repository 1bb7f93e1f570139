"""PyTorch twin of flowpolicy's velocity networks, for bench/train.ts.

Reads the networks' weights and a batch written by the TypeScript side
(raw little-endian float32 files + manifest.json), checks that this twin
computes the same velocities, then times one AdamW training step and one
batch-1 sampling call (Euler, N steps) on the CPU with a given number of
threads. Prints one JSON object.

Layouts follow flowpolicy: Linear weights are [in, out]; Conv1d weights
are [k * C_in, C_out] with row j * C_in + c for tap j of channel c;
activations are channels-last in flowpolicy, channels-first here.
"""
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def load(folder, manifest):
    params = {}
    for name, shape in manifest["weights"].items():
        data = np.fromfile(f"{folder}/{manifest['files'][name]}", dtype="<f4").reshape(shape)
        params[name] = torch.tensor(data, requires_grad=True)
    return params


def mish(x):
    return x * torch.tanh(F.softplus(x))


def linear(p, name, x):
    return x @ p[f"{name}.weight"] + p[f"{name}.bias"]


def sinusoidal(t, dim, scale=100.0):
    half = dim // 2
    k = torch.arange(half, dtype=torch.float32)
    freqs = scale * torch.exp(-math.log(10000.0) * k / (half - 1))
    args = t[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


def time_embedding(p, t, dim):
    h = mish(linear(p, "time.time_mlp.0", sinusoidal(t, dim)))
    return linear(p, "time.time_mlp.2", h)


def mlp(p, net, x, t, c):
    h = torch.cat([x, time_embedding(p, t, net["timeEmbedDim"]), c], dim=1)
    for i in range(net["layers"]):
        h = mish(linear(p, f"mlp.{i}", h))
    return linear(p, "mlp.out", h)


def conv1d(p, name, x, k, stride=1):
    w = p[f"{name}.weight"]  # [k * cin, cout]
    cin = w.shape[0] // k
    kernel = w.reshape(k, cin, -1).permute(2, 1, 0)  # [cout, cin, k]
    return F.conv1d(x, kernel, p[f"{name}.bias"], stride=stride, padding=(k - 1) // 2)


def conv_block(p, name, x, k, groups):
    h = conv1d(p, f"{name}.conv", x, k)
    ch = h.shape[1]
    h = F.group_norm(h, min(groups, ch), p[f"{name}.norm.weight"], p[f"{name}.norm.bias"], eps=1e-5)
    return mish(h)


def film_res_block(p, name, x, cond, k, groups):
    h = conv_block(p, f"{name}.block1", x, k, groups)
    film = linear(p, f"{name}.film", mish(cond))
    out_ch = h.shape[1]
    h = h * film[:, :out_ch, None] + film[:, out_ch:, None]
    h = conv_block(p, f"{name}.block2", h, k, groups)
    res = conv1d(p, f"{name}.residual", x, 1) if f"{name}.residual.weight" in p else x
    return h + res


def upsample(p, name, x):
    y = conv1d(p, name, x, 3)  # [B, 2C, T]
    b, c2, t = y.shape
    return y.view(b, 2, c2 // 2, t).permute(0, 2, 3, 1).reshape(b, c2 // 2, 2 * t)


def unet1d(p, net, dims, x, t, c):
    k, groups = net["kernelSize"], net["groups"]
    levels = len(net["downDims"])
    cond = torch.cat([time_embedding(p, t, net["timeEmbedDim"]), c], dim=1)
    b = x.shape[0]
    h = x.view(b, dims["horizon"], dims["actionDim"]).permute(0, 2, 1)
    skips = []
    for i in range(levels):
        h = film_res_block(p, f"down.{i}.res1", h, cond, k, groups)
        h = film_res_block(p, f"down.{i}.res2", h, cond, k, groups)
        skips.append(h)
        if i < levels - 1:
            h = conv1d(p, f"down.{i}.down", h, 3, stride=2)
    for i in range(2):
        h = film_res_block(p, f"mid.{i}", h, cond, k, groups)
    for j in range(levels - 1):
        h = torch.cat([h, skips.pop()], dim=1)
        h = film_res_block(p, f"up.{j}.res1", h, cond, k, groups)
        h = film_res_block(p, f"up.{j}.res2", h, cond, k, groups)
        h = upsample(p, f"up.{j}.up", h)
    h = conv1d(p, "final.conv", conv_block(p, "final.block", h, k, groups), 1)
    return h.permute(0, 2, 1).reshape(b, -1)


def median_ms(fn, reps, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def main():
    folder, threads = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(threads)
    manifest = json.load(open(f"{folder}/manifest.json"))
    net, dims = manifest["net"], manifest["dims"]
    params = load(folder, manifest)
    forward = (lambda *a: mlp(params, net, *a)) if net["kind"] == "mlp" else (lambda *a: unet1d(params, net, dims, *a))

    def arr(name, shape):
        return torch.tensor(np.fromfile(f"{folder}/{name}.f32", dtype="<f4").reshape(shape))

    B, D, C = manifest["batch"], dims["horizon"] * dims["actionDim"], dims["condDim"]
    xt, t, cond, ut = arr("xt", (B, D)), arr("t", (B,)), arr("cond", (B, C)), arr("ut", (B, D))

    with torch.no_grad():
        expected = arr("v", (B, D))
        max_diff = float((forward(xt, t, cond) - expected).abs().max())

    opt = torch.optim.AdamW(params.values(), lr=1e-4, betas=(0.95, 0.999), eps=1e-8, weight_decay=1e-6)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = ((forward(xt, t, cond) - ut) ** 2).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params.values(), 1.0)
        opt.step()

    train_ms = median_ms(step, manifest["trainReps"], 3)

    x1, c1 = xt[:1].clone(), cond[:1].clone()
    steps = manifest["eulerSteps"]

    @torch.no_grad()
    def act():
        x = x1.clone()
        h = 1.0 / steps
        for i in range(steps):
            x = x + h * forward(x, torch.full((1,), i * h), c1)
        return x

    act_ms = median_ms(act, manifest["actReps"], 5)
    print(json.dumps({"torch": torch.__version__, "threads": threads, "maxAbsDiff": max_diff, "trainStepMs": train_ms, "actMs": act_ms}))


if __name__ == "__main__":
    main()
