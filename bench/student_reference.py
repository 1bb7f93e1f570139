"""PyTorch twin of flowpolicy's one-step MLP student, for bench/student.ts.

Reads the student's weights, normalisation and a batch of inputs written by
the TypeScript side (raw little-endian float32 files + manifest.json),
checks that this twin computes the same chunks as flowpolicy's real-time
path, then times a batch-1 act() on the CPU with a given number of threads:
observation -> normalise -> G(z, c) -> unnormalise, with z drawn per call.

G(z, c) = x + MLP([x, emb(0), c]), x = P z (or z), Linear weights [in, out],
Mish activations; emb(0) is a constant and is computed once, as ours is.
Prints one JSON object.
"""
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def main():
    folder, threads = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(threads)
    manifest = json.load(open(f"{folder}/manifest.json"))
    net = manifest["net"]

    def arr(name, shape):
        return torch.tensor(np.fromfile(f"{folder}/{name}.f32", dtype="<f4").reshape(shape))

    p = {name: arr(f"w{i}", shape) for i, (name, shape) in enumerate(manifest["weights"].items())}
    D, C, L, T = manifest["chunk"], manifest["condDim"], manifest["latentDim"], net["timeEmbedDim"]
    act = {"mish": lambda x: x * torch.tanh(F.softplus(x)), "silu": F.silu, "relu": F.relu}[net["activation"]]

    def linear(name, x):
        return x @ p[f"{name}.weight"] + p[f"{name}.bias"]

    with torch.no_grad():
        half = T // 2
        k = torch.arange(half, dtype=torch.float32)
        freqs = 100.0 * torch.exp(-math.log(10000.0) * k / (half - 1))
        t = torch.zeros(1)
        feats = torch.cat([torch.sin(t[:, None] * freqs), torch.cos(t[:, None] * freqs)], dim=1)
        emb0 = linear("time.time_mlp.2", act(linear("time.time_mlp.0", feats)))  # [1, T]

    proj = p.get("latent.proj.weight")
    layers = [f"mlp.{i}" for i in range(net["layers"])]

    @torch.no_grad()
    def generate(z, c):
        x = z @ proj if proj is not None else z
        h = torch.cat([x, emb0.expand(x.shape[0], T), c], dim=1)
        for name in layers:
            h = act(linear(name, h))
        return x + linear("mlp.out", h)

    n = manifest["batch"]
    cond, latent, expected = arr("cond", (n, C)), arr("latent", (n, L)), arr("out", (n, D))
    max_diff = float((generate(latent, cond) - expected).abs().max())

    obs_scale, obs_offset = arr("obs_scale", (C,)), arr("obs_offset", (C,))
    act_scale, act_offset = arr("act_scale", (D,)), arr("act_offset", (D,))
    obs = arr("obs", (1, C))
    gen = torch.Generator().manual_seed(0)

    @torch.no_grad()
    def act_once():
        c = obs * obs_scale + obs_offset
        z = torch.randn(1, L, generator=gen)
        y = generate(z, c)
        return ((y - act_offset) / act_scale).numpy()

    for _ in range(200):
        act_once()
    times = []
    for _ in range(manifest["reps"]):
        t0 = time.perf_counter()
        act_once()
        times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({"torch": torch.__version__, "threads": threads, "maxAbsDiff": max_diff, "actMs": float(np.median(times))}))


if __name__ == "__main__":
    main()
