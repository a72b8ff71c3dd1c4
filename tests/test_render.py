"""Plot helpers that hold logic: which checkpoints the progress grid shows."""

from ganlab.viz.render import progress_iterations


def test_progress_rows_spread_evenly_with_first_best_and_last():
    its = list(range(1000, 50001, 1000))  # 50 checkpoints
    rows = progress_iterations(its, best=50000, rows=12)
    assert len(rows) == 12 and rows[0] == 1000 and rows[-1] == 50000
    gaps = [b - a for a, b in zip(rows, rows[1:])]
    assert max(gaps) - min(gaps) <= 1000  # even spacing, up to rounding to a checkpoint
    with_best = progress_iterations(its, best=23000, rows=12)
    assert len(with_best) == 12 and 23000 in with_best and with_best[0] == 1000 and with_best[-1] == 50000
    assert progress_iterations([2, 4, 6], best=4) == [2, 4, 6]  # few checkpoints: all of them


def test_prdc_figure_draws_each_metric_per_model_with_the_floor(tmp_path):
    from ganlab.viz.render import prdc_figure

    csv = tmp_path / "fid.csv"
    csv.write_text(
        "iteration,fid,kid,kid_std,precision,recall,density,coverage,n_samples,seconds\n"
        "1,50,0.1,0.01,0.5,0.1,0.4,0.2,20,1\n2,40,0.1,0.01,0.7,0.3,0.8,0.5,20,1\n"
    )
    floor = {"precision": 0.8, "recall": 0.8, "density": 1.0, "coverage": 0.95}
    fig = prdc_figure({"dcgan": csv}, title="t", floor=floor)
    panels = {ax.get_title(): ax for ax in fig.axes}
    assert set(panels) == {"precision", "recall", "density", "coverage"}
    model_line, floor_line = panels["recall"].get_lines()
    assert list(model_line.get_ydata()) == [0.1, 0.3] and list(floor_line.get_ydata()) == [0.8, 0.8]
