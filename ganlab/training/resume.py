"""Resume: continue from `last.pt` when it trained the same run, and never delete what trained."""

from __future__ import annotations

import time
from pathlib import Path

from ganlab.distributed import World, barrier
from ganlab.io import load_checkpoint
from ganlab.training.checkpoints import list_snapshots, resume_mismatch, snapshot_iteration
from ganlab.training.state import TrainState

BEYOND = "beyond_iterations"  # snapshots past a lowered `iterations`, kept for when it rises again


def resume(out_dir: Path, config: dict, iterations: int, state: TrainState, world: World) -> None:
    """Resume from last.pt when it trained the same thing as `config` (resume_mismatch); nothing
    already trained is deleted. A lowered `iterations` keeps last.pt and the snapshots it covers
    and moves the later ones into checkpoints/beyond_iterations/ (back again when it rises). A run
    that really changed moves its checkpoints and last.pt aside and starts fresh. Every rank reads
    the same last.pt; rank 0 alone moves files."""
    last, folder = out_dir / "last.pt", out_dir / "checkpoints"
    if last.exists():
        saved = load_checkpoint(last)
        mismatch = resume_mismatch(saved.get("config", {}), config)
        if not mismatch:
            state.load_state_dict(saved)
            if world.is_main:
                shelve_beyond(folder, iterations)
                print(f"resuming from {last} at iteration {state.iteration}")
                if state.iteration > iterations:
                    print(f"note: iterations={iterations} is below last.pt's {state.iteration}: the snapshots up to "
                          f"{iterations} stay, later ones are in {folder / BEYOND} (raise iterations to continue)")
            return
        why = f"config changed ({'; '.join(mismatch)})"
    else:
        why = "no last.pt beside these snapshots"
    barrier(world)  # every rank has read last.pt before it goes
    if world.is_main and (last.exists() or list_snapshots(folder)):
        aside = out_dir.with_name(f"{out_dir.name}.set-aside") / time.strftime("%Y%m%dT%H%M%S")
        print(f"{why}: starting fresh; the earlier checkpoints are moved to {aside}")
        aside.mkdir(parents=True, exist_ok=True)
        if folder.exists():
            folder.rename(aside / "checkpoints")
        if last.exists():
            last.rename(aside / "last.pt")


def shelve_beyond(folder: Path, iterations: int) -> None:
    """Snapshots past `iterations` into folder/BEYOND, and those back from it that it covers again."""
    beyond = folder / BEYOND
    for path in list_snapshots(folder):
        if snapshot_iteration(path) > iterations:
            beyond.mkdir(exist_ok=True)
            path.rename(beyond / path.name)
    for path in list_snapshots(beyond):
        if snapshot_iteration(path) <= iterations:
            path.rename(folder / path.name)
