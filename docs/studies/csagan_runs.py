"""The runs of the cSAGAN study (docs/studies/csagan.md): name -> (model, params overrides), and the branch
families that start from a run's saved state. `csagan.py` trains, scores and reports them."""

from __future__ import annotations

# What `report` re-scores when no --runs are named: DCGAN and the GPU round's two baselines.
REPORT_RUNS = ("dcgan", "base_s0", "base_s1")
WIDTH64 = {"sagan.g_ch": 64, "sagan.d_ch": 64}
LONG = {"sagan.iterations": 50000, "dcgan.iterations": 50000}
# The peer recipe: hinge, n_dis 1, lr 1e-4/4e-4, betas (0, 0.9), batch 64, no EMA,
# no attention (Mimicry's cGAN-PD has none), widths 64/64.
PEER = {**WIDTH64, "sagan.attention_res": 0, "sagan.ema": 0.0}
ABLATIONS = {
    "base": {},
    "no_sn_embed": {"sagan.class_embedding": "shared"},
    "per_class": {"sagan.class_embedding": "per_class"},
    "hier_z": {"sagan.hierarchical_z": True},
    "lr_d_2e-4": {"sagan.lr_d": 2.0e-4},
    "d_wide": {"sagan.d_ch": 128},
    "diffaug": {"sagan.diffaug": "color,translation,cutout"},
    "biggan": {"sagan.class_embedding": "shared", "sagan.hierarchical_z": True},
}
# Recipe changes applied to the peer run's saved state at BRANCH_AT (its G, D, Adams and data
# order), trained to BRANCH_UNTIL beside the unchanged run: the same seed and the same
# iterations, for changes that need no new network, where a run from scratch costs hours.
BRANCH_AT, BRANCH_UNTIL = 4000, 5000
BRANCHES = {
    "lr_d_2e-4": {"sagan.lr_d": 2.0e-4},
    # lr_d 2e-4 cut the per-class spread at 5000 (0.84 -> 0.60): does a faster D keep it, and
    # is it D's own rate or its ratio to G's (lr_g 5e-5 gives the same ratio with D unchanged)?
    "lr_d_8e-4": {"sagan.lr_d": 8.0e-4},
    "lr_g_5e-5": {"sagan.lr_g": 5.0e-5},
    # The average starts from the branch point's G (ema_start 0: no earlier weights to follow).
    "ema": {"sagan.ema": 0.999, "sagan.ema_start": 0},
    # lr_g 5e-5 and the EMA each lowered FID at 5000: do the two gains add up?
    "lr_g_5e-5_ema": {"sagan.lr_g": 5.0e-5, "sagan.ema": 0.999, "sagan.ema_start": 0},
}
# `branch --reseed R` continues the same state with a fresh training RNG (seeded R: new data
# order and z) for the arms below. The unchanged arm against the parent run measures how far two
# continuations of one state differ by chance; the others repeat a branch on that new stream.
RESEEDED = {"unchanged": {}, "lr_g_5e-5": BRANCHES["lr_g_5e-5"]}
RESEEDS = (1,)
# Branches of the long defaults run: arm -> (branch point, change), started by `branch --family
# long --state LONG_LAST.pt` from the run's `last.pt` saved at that point.
# At 5000: the D:G rate ratio sets the variety within a class (2:1 collapses it, 8:1 keeps it but
# starts slowly), so G's rate alone falls linearly to 0 from the branch point to 9000, with D's
# unchanged: the ratio rises late, when a slow start no longer costs anything.
# At 20000: the linear probe found cSAGAN's classes short of shapes, not of spread (recall 0.01-0.02
# at 14000-20000, precision 0.70-0.73). Two ways to make G find more shapes per class: a faster D
# (lr_d 8e-4 raised the per-class spread from 0.84 to 1.01 in 1000 iterations from 4000), and
# DiffAugment (D judges shifted and cut-out images, so it cannot reward one exact shape).
LONG_BRANCHES = {
    "g_decay": (
        5000,
        {"sagan.lr_decay": "linear", "sagan.lr_decay_start": 5000, "sagan.lr_decay_d": False, "sagan.iterations": 9000},
    ),
    "lr_d_8e-4": (20000, {"sagan.lr_d": 8.0e-4}),
    "diffaug": (20000, {"sagan.diffaug": "color,translation,cutout"}),
}


def runs() -> dict[str, tuple[str, dict]]:
    """run name -> (model, params overrides)."""
    out = {"dcgan": ("dcgan", {})}
    # The defaults at width 64 as long as time allows, in bf16 and compiled (measured safe on
    # the results run), to compare with DCGAN's curve at equal iterations past 5000.
    long = {**WIDTH64, "sagan.precision": "bf16", "sagan.compile": True, "seeds": [0]}
    out["long_bf16_s0"] = ("sagan", long)
    # The GPU round's one lead at 1000 iterations (below the baseline on both seeds), beside it.
    out["long_biggan_bf16_s0"] = ("sagan", {**long, **ABLATIONS["biggan"]})
    # lr_g 5e-5 from scratch started far slower than 1e-4: is G's step size what a short run lacks?
    out["long_lr_g_2e-4_bf16_s0"] = ("sagan", {**long, "sagan.lr_g": 2.0e-4})
    # From scratch, since the branches from 20000 came too late to change the shapes: MSGAN's
    # mode-seeking term at the paper's weight 1, against a G that maps every z of a class onto a
    # few shapes (recall 0.13 at k = 10 against DCGAN's 0.83 at 20000).
    out["long_ms_bf16_s0"] = ("sagan", {**long, "sagan.mode_seeking": 1.0})
    # Weight 1 gave the shapes back but made every class wider than the data (spread 1.25) and
    # put half the images outside their class by the probe: a quarter of it.
    out["long_ms0.25_bf16_s0"] = ("sagan", {**long, "sagan.mode_seeking": 0.25})
    # The second seed of the pair: does the term give the shapes back on another start, and does
    # the defaults' collapse within a class repeat?
    out["long_bf16_s1"] = ("sagan", {**long, "seeds": [1]})
    out["long_ms_bf16_s1"] = ("sagan", {**long, "sagan.mode_seeking": 1.0, "seeds": [1]})
    for arm, (_, change) in LONG_BRANCHES.items():
        out[long_branch_name(arm)] = ("sagan", {**long, **change})
    for seed in (0, 1):
        for arm, change in ABLATIONS.items():
            out[f"{arm}_s{seed}"] = ("sagan", {**WIDTH64, **change, "seeds": [seed]})
        out[f"peer_ganlab_s{seed}"] = ("sagan", {**PEER, "seeds": [seed]})
        # The one structural difference the ablations leave between the peers: Mimicry's G has no SN.
        out[f"peer_ganlab_plain_g_s{seed}"] = ("sagan", {**PEER, "sagan.g_spectral_norm": False, "seeds": [seed]})
        out[f"peer_mimicry_s{seed}"] = ("mimicry", {**PEER, "seeds": [seed]})
        # The one lead of the branches (lr_g 5e-5 from 4000, on two RNG streams), from scratch.
        out[f"peer_ganlab_lr_g_5e-5_s{seed}"] = ("sagan", {**PEER, **BRANCHES["lr_g_5e-5"], "seeds": [seed]})
        arms = [(arm, change, None) for arm, change in BRANCHES.items()]
        arms += [(arm, change, reseed) for arm, change in RESEEDED.items() for reseed in RESEEDS]
        for arm, change, reseed in arms:
            name = branch_name(seed, arm, reseed)
            out[name] = ("sagan", {**PEER, **change, "sagan.iterations": BRANCH_UNTIL, "seeds": [seed]})
    return out


def branch_name(seed: int, arm: str, reseed: int | None = None) -> str:
    return f"peer_ganlab_s{seed}_{arm}_from{BRANCH_AT}" + (f"_r{reseed}" if reseed is not None else "")


def long_branch_name(arm: str) -> str:
    return f"long_bf16_s0_{arm}_from{LONG_BRANCHES[arm][0]}"
