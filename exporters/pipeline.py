"""One export pipeline: check → stage → write → verify → metadata → publish.

Every format runs through `export`; a format only supplies its `write_*`
function (and any checks of its own options). So every artifact is staged the
same way, verified by `exporters.parity`, described by the same metadata and
published by `tfvae.atomic.publish`:

- check: the model, the part and the destinations, before anything is
  traced or written.
- stage: a hidden path beside the destination, so publishing is a rename on
  one filesystem.
- publish: the artifact and its metadata, all or nothing: never over an
  existing path unless `overwrite=True`, and a failure at any step leaves the
  destination as it was (nothing new, and an old artifact intact).
"""

import os
import shutil

from exporters import _common, parity
from tfvae import atomic

METADATA_NAME = "metadata.json"


def check(model, part, in_graph_sampling=False):
    """Raises ValueError for a model or part no format can export.

    Args:
        model: must be a built `tfvae.VAE`.
        part: one of `exporters.PARTS`.
        in_graph_sampling: bool, allowed for part="generator" only; without it
            the generator needs the standard-normal prior (z = eps).

    The encoder export needs the Gaussian posterior (a flow's q(z|x) has no
    loc and scale to serve).
    """
    _common.check_model(model)
    _common.check_part(part, in_graph_sampling)
    if part == "generator":
        _common.check_generator(model, in_graph_sampling)
    if part == "encoder":
        _common.check_encoder(model)


def export(model, path, format, write, *, part="decoder", quantization=None,
           in_graph_sampling=False, overwrite=False, verify=True, tolerance=None,
           data=None, metadata_path=None, check_options=None):
    """Writes, verifies, describes and publishes one artifact.

    Args:
        model: a built `tfvae.VAE`.
        path: str, the destination (a directory for "savedmodel").
        format: one of `exporters.FORMATS`; how `exporters.parity` loads it.
        write: callable(staging_path) -> dict or None. Writes the whole
            artifact at the path it is given (an empty directory for
            "savedmodel"); the dict holds extra metadata fields.
        part, in_graph_sampling, overwrite, verify, tolerance: as for
            `exporters.export_tflite`.
        quantization: the artifact's mode (None for float32); picks the
            parity bounds and is recorded in the metadata.
        data: optional array of examples, the encoder's parity inputs.
        metadata_path: str, where the metadata JSON goes beside the artifact;
            None writes `metadata.json` inside a directory artifact.
        check_options: optional callable raising ValueError for the format's
            own options; called after the shared checks, before staging.

    Returns:
        The metadata dict, as written.

    Raises:
        ValueError: bad model, part or options.
        FileExistsError: the artifact or its metadata exists and `overwrite`
            is False.
        exporters.parity.ParityError: verification failed.
    """
    path = os.fspath(path)
    check(model, part, in_graph_sampling)
    if check_options is not None:
        check_options()

    def build(tmp):
        extra = write(tmp)
        figures = None
        if verify:
            figures = _verify(model, tmp, path, format, part, quantization, tolerance,
                              in_graph_sampling, data)
        return _common.metadata(model, part, format, quantization, in_graph_sampling,
                                figures, _common.file_size(tmp), path, extra)

    return run(path, build, overwrite, metadata_path)


def run(path, build, overwrite=False, metadata_path=None):
    """Stages, builds, describes and publishes one artifact, all or nothing.

    Args:
        path: str, the destination.
        build: callable(staging_path) -> metadata dict. Writes and verifies
            the whole artifact at the path it is given (an empty directory
            when `metadata_path` is None); any exception leaves nothing.
        overwrite: bool, whether existing destinations may be replaced.
        metadata_path: str, where the metadata JSON goes beside the artifact;
            None writes `metadata.json` inside a directory artifact.

    Returns:
        The metadata dict, as written.

    Raises:
        FileExistsError: the artifact or its metadata exists and `overwrite`
            is False.
    """
    atomic.check_destination(path, overwrite)
    if metadata_path is not None:
        atomic.check_destination(metadata_path, overwrite)
    staged = _stage(path, metadata_path)
    try:
        tmp = staged[-1][0]
        info = build(tmp)
        if metadata_path is None:
            atomic.write_json(os.path.join(tmp, METADATA_NAME), info)
        else:   # the destination is this export's own empty staging file
            atomic.write_json(staged[0][0], info, overwrite=True)
        publish(staged, overwrite)
    finally:
        for tmp, _ in staged:
            atomic.remove(tmp)
    return info


def _stage(path, metadata_path):
    """[(hidden path, destination)]: the metadata first (if it goes beside), the artifact last."""
    if metadata_path is None:
        return [(atomic.staging_path(path, directory=True), path)]
    metadata_path = os.fspath(metadata_path)
    return [(atomic.staging_path(metadata_path), metadata_path),
            (atomic.staging_path(path), path)]


def _verify(model, tmp, path, format, part, quantization, tolerance, in_graph_sampling,
            data):
    try:
        return parity.verify(model, tmp, part, format=format, quantization=quantization,
                             tolerance=tolerance, in_graph_sampling=in_graph_sampling,
                             data=data)
    except parity.ParityError as e:
        raise parity.ParityError(f"{e} Nothing was written to {path!r}.") from e


def publish(staged, overwrite=False):
    """Publishes [(staged path, destination), ...] in order with `atomic.publish`, all or none.

    The metadata goes first, so an artifact never appears without it. If a
    later rename fails, the earlier destinations are put back: a new one is
    removed, a replaced one gets its old content (a copy is kept until the
    last rename is done). The last item needs no copy: `atomic.publish`
    either replaces it or leaves it as it was. Only the last item may be a
    directory. The staged paths are consumed either way.

    Args:
        staged: list of (path from `atomic.staging_path`, destination).
        overwrite: bool, whether existing destinations may be replaced.

    Raises:
        FileExistsError: a destination exists and `overwrite` is False.
    """
    done, backups = [], {}
    try:
        for index, (tmp, destination) in enumerate(staged):
            if overwrite and index < len(staged) - 1 and os.path.isfile(destination):
                backups[destination] = atomic.staging_path(destination)
                shutil.copyfile(destination, backups[destination])
            atomic.publish(tmp, destination, overwrite)
            done.append(destination)
    except BaseException:
        for destination in reversed(done):
            if destination in backups:
                atomic.publish(backups.pop(destination), destination, overwrite=True)
            else:
                atomic.remove(destination)
        raise
    finally:
        for path in [tmp for tmp, _ in staged] + list(backups.values()):
            atomic.remove(path)
