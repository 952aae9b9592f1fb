"""Atomic writes: nothing half-written, nothing a user saved is clobbered."""

import os

import pytest

from tfvae import atomic


def test_write_file_refuses_to_overwrite_unless_asked(tmp_path):
    path = tmp_path / "config.json"
    atomic.write_file(path, lambda f: f.write("first"))
    with pytest.raises(FileExistsError, match="overwrite=True"):
        atomic.write_file(path, lambda f: f.write("second"))
    assert path.read_text() == "first"
    atomic.write_file(path, lambda f: f.write("second"), overwrite=True)
    assert path.read_text() == "second"
    assert os.listdir(tmp_path) == ["config.json"]


def test_a_failing_writer_leaves_the_old_file_and_no_debris(tmp_path):
    path = tmp_path / "model.keras"
    path.write_text("old model")

    def writer(f):
        f.write("half a new mod")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="mid-write"):
        atomic.write_file(path, writer, overwrite=True)
    assert path.read_text() == "old model"
    assert os.listdir(tmp_path) == ["model.keras"]


def test_publish_does_not_clobber_a_file_that_appeared_meanwhile(tmp_path):
    path = tmp_path / "samples.png"
    tmp = atomic.staging_path(path)
    with open(tmp, "w") as f:
        f.write("ours")
    path.write_text("someone else's")  # appears after our existence check
    with pytest.raises(FileExistsError):
        atomic.publish(tmp, path, overwrite=False)
    assert path.read_text() == "someone else's"
    atomic.remove(tmp)


def test_a_directory_replaces_a_directory_whole(tmp_path):
    path = tmp_path / "saved_model"
    path.mkdir()
    (path / "old.pb").write_text("old")
    tmp = atomic.staging_path(path, directory=True)
    with open(os.path.join(tmp, "new.pb"), "w") as f:
        f.write("new")
    atomic.publish(tmp, path, overwrite=True)
    assert os.listdir(path) == ["new.pb"]
    assert os.listdir(tmp_path) == ["saved_model"]
