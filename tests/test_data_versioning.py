"""`dvc repro` notices when the images behind `data.source` (and `cyclegan.source`) change, re-runs
what follows and only that, and a failed or killed prepare under `dvc repro` leaves the earlier
prepared data in place. Each test runs DVC in a repo of its own."""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image

from ganlab.data.prepared import load_split
from tests.conftest import tar_cifar10, write_cifar10, write_image_folder
from tests.dvc_repo import env, make_repo, ran, run

pytestmark = pytest.mark.slow

PREPARED = ("data/prepared/train", "data/prepared/test")


def status(repo: Path, *targets: str) -> str:
    return run(repo, "dvc", "status", *targets)


def snapshot(repo: Path, folders=PREPARED) -> dict[str, bytes]:
    return {
        str(p.relative_to(repo)): p.read_bytes() for f in folders for p in sorted((repo / f).rglob("*")) if p.is_file()
    }


def folder_repo(tmp_path: Path, source: str, **params) -> Path:
    return make_repo(
        tmp_path / "repo",
        **{"data.dataset": "folder", "data.source": source, "data.test_fraction": 0.25, **params},
    )


def recolour(path: Path) -> None:
    Image.new("RGB", (40, 40), (1, 2, 3)).save(path)


def test_a_folder_outside_the_repo_is_watched(tmp_path):
    """A changed, an added and a removed image each mark prepare as changed and re-prepare; an
    unchanged folder re-runs nothing; a non-image file re-prepares to the same bytes, so what
    follows prepare does not re-run."""
    photos = tmp_path / "photos"
    write_image_folder(photos, {"cats": 6, "dogs": 6}, size=40)
    repo = folder_repo(tmp_path, str(photos))
    assert ran(run(repo, "dvc", "repro", "prepare")) == {"prepare"}
    meta = json.loads((repo / "data/prepared/train/meta.json").read_text())
    assert meta["source"]["source"] == str(photos) and meta["source"]["files"] == 12
    assert "Data and pipelines are up to date" in status(repo, "prepare")
    assert ran(run(repo, "dvc", "repro", "prepare")) == set()

    digests = {meta["source"]["sha256"]}
    changes = [
        lambda: recolour(next((photos / "cats").glob("*.png"))),
        lambda: recolour(photos / "dogs" / "new.png"),
        lambda: next((photos / "dogs").glob("*.png")).unlink(),
    ]
    for change in changes:
        change()
        assert "prepare" in status(repo, "prepare") and str(photos) in status(repo, "prepare")
        assert ran(run(repo, "dvc", "repro", "prepare")) == {"prepare"}
        digests.add(json.loads((repo / "data/prepared/train/meta.json").read_text())["source"]["sha256"])
        assert "Data and pipelines are up to date" in status(repo, "prepare")
    assert len(digests) == 4, "each change gave the source a new digest"

    # A file prepare does not read: prepare re-runs, writes the same bytes, and nothing after it runs.
    before = snapshot(repo)
    run(repo, "dvc", "repro", "fid_reference")
    (photos / "notes.txt").write_text("not an image\n")
    assert ran(run(repo, "dvc", "repro", "fid_reference")) == {"prepare"}
    assert snapshot(repo) == before


def test_a_folder_versioned_inside_the_repo_with_dvc_add(tmp_path):
    """data/raw/photos tracked by `dvc add`, named by a relative data.source: a changed image marks
    prepare as changed too, and re-prepares."""
    repo = folder_repo(tmp_path, "data/raw/photos")
    write_image_folder(repo / "data/raw/photos", {"cats": 5, "dogs": 5}, size=40)
    run(repo, "dvc", "add", "data/raw/photos")
    run(repo, "git", "add", "data/raw/photos.dvc", "data/raw/.gitignore")
    run(repo, "git", "commit", "-qm", "the photos, versioned by DVC")
    assert ran(run(repo, "dvc", "repro", "prepare")) == {"prepare"}
    assert ran(run(repo, "dvc", "repro", "prepare")) == set()
    recolour(next((repo / "data/raw/photos/cats").glob("*.png")))
    assert "prepare" in status(repo, "prepare")
    assert ran(run(repo, "dvc", "repro", "prepare")) == {"prepare"}


def test_a_replaced_emoji_tarball_re_prepares(tmp_path):
    from tests.test_emoji import _emoji_json, write_emoji_tarball

    tgz = tmp_path / "emoji-datasource-google-16.0.0.tgz"
    write_emoji_tarball(tgz, "google", _emoji_json(3))
    repo = make_repo(tmp_path / "repo", **{"data.dataset": "emoji", "data.source": str(tgz), "data.verify": False,
                                           "data.resolution": 32})  # fmt: skip
    assert ran(run(repo, "dvc", "repro", "prepare")) == {"prepare"}
    assert ran(run(repo, "dvc", "repro", "prepare")) == set()
    write_emoji_tarball(tgz, "google", _emoji_json(4))  # another version of the package
    assert "prepare" in status(repo, "prepare")
    assert ran(run(repo, "dvc", "repro", "prepare")) == {"prepare"}
    meta = json.loads((repo / "data/prepared/train/meta.json").read_text())
    assert meta["source"]["files"] == 1 and meta["source"]["bytes"] == tgz.stat().st_size


def test_an_already_prepared_download_does_not_re_run(tmp_path):
    """`source: download` (served from ganlab's download cache, as after a first download): the
    dependency is the committed download/ folder, which does not change."""
    cache = tmp_path / "cache"
    write_cifar10(cache, per_batch=10)
    tar_cifar10(cache)
    shutil.rmtree(cache / "cifar-10-batches-py")
    repo = make_repo(tmp_path / "repo", **{"data.source": "download", "data.verify": False})
    os.environ["GANLAB_DATA_CACHE"] = str(cache)  # read by the stage through env()
    try:
        assert ran(run(repo, "dvc", "repro", "prepare")) == {"prepare"}
        meta = json.loads((repo / "data/prepared/train/meta.json").read_text())
        assert meta["source"] == {**meta["source"], "source": "download", "files": 1}
        assert "Data and pipelines are up to date" in status(repo, "prepare")
        assert ran(run(repo, "dvc", "repro", "prepare")) == set()
    finally:
        del os.environ["GANLAB_DATA_CACHE"]


def test_a_cyclegan_folder_domain_is_watched(tmp_path):
    """Folder domains lie inside cyclegan.source, which prepare_cyclegan depends on."""
    from tests.conftest import write_domains

    write_domains(tmp_path / "img", n=8)
    repo = make_repo(tmp_path / "repo", **{"cyclegan.source": str(tmp_path / "img"), "cyclegan.domain_a": "folder:a",
                                           "cyclegan.domain_b": "folder:b", "data.test_fraction": 0.25})  # fmt: skip
    assert ran(run(repo, "dvc", "repro", "prepare_cyclegan")) == {"prepare_cyclegan"}
    assert ran(run(repo, "dvc", "repro", "prepare_cyclegan")) == set()
    meta = json.loads((repo / "data/cyclegan/b/train/meta.json").read_text())
    assert meta["source"]["files"] == 8 and meta["source"]["source"] == str(tmp_path / "img")
    recolour(next((tmp_path / "img/b").glob("*.png")))
    assert "prepare_cyclegan" in status(repo, "prepare_cyclegan")
    assert ran(run(repo, "dvc", "repro", "prepare_cyclegan")) == {"prepare_cyclegan"}
    cyclegan = ("data/cyclegan/a/train", "data/cyclegan/a/test", "data/cyclegan/b/train", "data/cyclegan/b/test")
    before = snapshot(repo, cyclegan)
    Path(next((tmp_path / "img/a").glob("*.png"))).write_bytes(b"\x89PNG truncated")
    result = subprocess.run(["dvc", "repro", "prepare_cyclegan"], cwd=repo, env=env(), capture_output=True, text=True)
    assert result.returncode != 0 and "still hold(s) the last prepared data" in result.stderr + result.stdout
    assert snapshot(repo, cyclegan) == before


def test_a_failed_or_killed_prepare_keeps_the_earlier_data(tmp_path):
    """Under `dvc repro`, which deletes a stage's outputs before running it unless they persist:
    a bad image stops prepare with a message saying how to go on, and a prepare killed half-way
    leaves nothing behind; either way data/prepared stays byte-identical and loadable."""
    photos = tmp_path / "photos"
    write_image_folder(photos, {"cats": 200, "dogs": 200}, size=64)
    repo = folder_repo(tmp_path, str(photos))
    run(repo, "dvc", "repro", "prepare")
    before = snapshot(repo)

    (photos / "cats" / "zz_truncated.png").write_bytes(next((photos / "cats").glob("*.png")).read_bytes()[:60])
    result = subprocess.run(["dvc", "repro", "prepare"], cwd=repo, env=env(), capture_output=True, text=True)
    out = result.stdout + result.stderr
    assert result.returncode != 0 and "zz_truncated.png: unreadable image" in out
    assert "data/prepared/train, data/prepared/test still hold(s) the last prepared data" in out
    assert snapshot(repo) == before
    (photos / "cats" / "zz_truncated.png").unlink()

    recolour(photos / "dogs" / "new.png")
    proc = subprocess.Popen(["dvc", "repro", "prepare"], cwd=repo, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.time() + 120
    while not list((repo / "data/prepared").glob(".train.*.tmp/images.npy")):
        assert proc.poll() is None and time.time() < deadline, "prepare ended before it could be killed"
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert snapshot(repo) == before
    assert len(load_split(repo / "data/prepared/train").labels) == 300
    assert "prepare" in status(repo, "prepare")  # still to do, and the next repro does it
    assert ran(run(repo, "dvc", "repro", "prepare")) == {"prepare"}
    assert not list((repo / "data/prepared").glob(".*.tmp")), "the killed run's staging folder was cleared"
    assert len(load_split(repo / "data/prepared/train").labels) == 301
