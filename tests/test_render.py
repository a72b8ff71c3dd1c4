"""Plot helpers that hold logic: which checkpoints the progress grid shows."""

from ganlab.render import progress_iterations


def test_progress_rows_spread_evenly_with_first_best_and_last():
    its = list(range(1000, 50001, 1000))  # 50 checkpoints
    rows = progress_iterations(its, best=50000, rows=12)
    assert len(rows) == 12 and rows[0] == 1000 and rows[-1] == 50000
    gaps = [b - a for a, b in zip(rows, rows[1:])]
    assert max(gaps) - min(gaps) <= 1000  # even spacing, up to rounding to a checkpoint
    with_best = progress_iterations(its, best=23000, rows=12)
    assert len(with_best) == 12 and 23000 in with_best and with_best[0] == 1000 and with_best[-1] == 50000
    assert progress_iterations([2, 4, 6], best=4) == [2, 4, 6]  # few checkpoints: all of them
