"""Atomic, non-clobbering file writes.

Everything tfvae writes for a user (models, figures, configs, exports) goes
through here, so a crash or SIGKILL mid-write leaves either the old file or the
new one, never half of one, and an existing file is only replaced when asked.
"""

import contextlib
import json
import os
import shutil
import tempfile


def staging_path(path, directory=False, suffix=""):
    """A fresh hidden path beside `path`, with the permissions a plain `open`
    would give.

    Beside, so that publishing it is a rename on one filesystem, not a copy.

    Args:
        path: the final destination.
        directory: create a directory instead of a file.
        suffix: file name ending (some writers, e.g. `model.save`, check it).

    Returns:
        The path of the (empty) staging file or directory.
    """
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    prefix = f".{os.path.basename(path)}.tmp-"
    if directory:
        return tempfile.mkdtemp(dir=parent, prefix=prefix)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=prefix, suffix=suffix)
    os.close(fd)
    # mkstemp makes 0600 files; a user's figures and models should be as
    # readable as anything else they write.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return tmp


def check_destination(path, overwrite):
    """Raises FileExistsError unless `path` is free or `overwrite` is set."""
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(f"{os.fspath(path)!r} already exists; "
                              "pass overwrite=True to replace it.")


def remove(path):
    """Deletes a file or a directory tree; a missing path is not an error."""
    with contextlib.suppress(FileNotFoundError):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


def publish(tmp, path, overwrite):
    """Moves the staged `tmp` to `path` with a rename.

    Without `overwrite`, a file is published with `link`, which fails if `path`
    appeared in the meantime, so there is no window in which another writer's
    file could be clobbered. A directory cannot replace a non-empty one in one
    rename, so the old one is renamed aside first and deleted after: readers
    see the old or the new artifact, never a mix.

    Args:
        tmp: a path from `staging_path`, fully written.
        path: the destination.
        overwrite: whether an existing `path` may be replaced.

    Raises:
        FileExistsError: `path` exists and `overwrite` is False.
    """
    check_destination(path, overwrite)
    if not overwrite and not os.path.isdir(tmp):
        try:
            os.link(tmp, path)
            os.remove(tmp)
            return path
        except FileExistsError:
            check_destination(path, overwrite=False)
        except OSError:
            pass  # filesystems without hard links: fall back to a rename
    aside = None
    if os.path.isdir(path) and not os.path.islink(path):
        aside = staging_path(path, directory=True)
        os.rmdir(aside)
        os.replace(path, aside)
    try:
        os.replace(tmp, path)
    except BaseException:
        if aside is not None:
            os.replace(aside, path)
        raise
    if aside is not None:
        remove(aside)
    return path


def write_with(path, writer, overwrite=False, suffix=""):
    """Calls `writer(tmp_path)` on a staging path, then publishes it to `path`.

    Args:
        path: the destination.
        writer: a callable that writes the whole artifact at the path it is given.
        overwrite: whether an existing `path` may be replaced.
        suffix: file name ending the writer needs (e.g. ".keras").

    Returns:
        `path`.

    Example:

    >>> write_with("m.keras", lambda p: model.save(p, overwrite=True), suffix=".keras")
    """
    path = os.fspath(path)
    check_destination(path, overwrite)
    tmp = staging_path(path, suffix=suffix)
    try:
        writer(tmp)
        return publish(tmp, path, overwrite)
    finally:
        remove(tmp)


def write_file(path, write, mode="w", overwrite=False, newline=None):
    """Opens a staging file, calls `write(f)`, and publishes it to `path`.

    Example:

    >>> write_file("config.json", lambda f: json.dump(config, f), overwrite=True)
    """
    def writer(tmp):
        with open(tmp, mode, newline=newline) as f:
            write(f)
    return write_with(path, writer, overwrite=overwrite)


def write_json(path, values, overwrite=False):
    """Writes `values` as indented JSON, atomically; numpy values become plain ones.

    Args:
        path: the destination.
        values: JSON-able data; numpy scalars and arrays are converted.
        overwrite: whether an existing `path` may be replaced.

    Returns:
        `path`.

    Example:

    >>> write_json("metrics.json", {"elbo": np.float32(-101.2)}, overwrite=True)
    """
    def write(f):
        json.dump(values, f, indent=2, sort_keys=True, default=_jsonable)
        f.write("\n")
    return write_file(path, write, overwrite=overwrite)


def _jsonable(value):
    # numpy scalars and arrays (and anything else array-like) have `tolist`.
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
