"""tfvae: variational auto-encoders for Keras 3 and TensorFlow Probability.

The path through a model reads x -> q(z|x) -> z -> p(x|z) -> ELBO; see
`tfvae.vae.VAE` for the whole of it in one file.
"""

__version__ = "0.1.0"

import importlib  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

# Imported with the package: they register the classes a saved model names,
# so that `import tfvae; keras.models.load_model("vae.keras")` works.
_REGISTERING = ("layers", "likelihoods", "optimizers", "flows", "priors", "posteriors",
                "networks", "vae")


def _in_command_line_tool():
    """Whether this process is the `tfvae` console script or `python -m tfvae.cli`."""
    if os.path.basename(sys.argv[0]) == "tfvae":
        return True
    # During `python -m`, the package is imported while sys.argv[0] is still "-m".
    argv = getattr(sys, "orig_argv", [])
    return any(a == "-m" and b in ("tfvae.cli", "tfvae.cli.__main__")
               for a, b in zip(argv, argv[1:]))


def __getattr__(name):
    # The other submodules (datasets, evaluation, plots, runs, ...) pull in
    # more than a model needs (matplotlib, tf.distribute): imported on first use.
    if name == "VAE":
        return importlib.import_module("tfvae.vae").VAE
    if name == "compare":
        return importlib.import_module("tfvae.comparison").compare
    if name.startswith("_"):
        raise AttributeError(f"module 'tfvae' has no attribute {name!r}")
    try:
        return importlib.import_module(f"tfvae.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"tfvae.{name}":
            raise
    raise AttributeError(f"module 'tfvae' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_REGISTERING) + ["VAE", "compare"])


# The command line starts without TensorFlow (`tfvae --help` answers at once)
# and imports what a verb needs; everywhere else the registering modules are
# imported now.
if not _in_command_line_tool():
    from tfvae import flows, layers, likelihoods, optimizers  # noqa: E402,F401
    from tfvae import posteriors, priors, networks  # noqa: E402,F401
    from tfvae.vae import VAE  # noqa: E402,F401
