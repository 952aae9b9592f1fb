"""The variational auto-encoder: x -> q(z|x) -> z -> p(x|z) -> ELBO.

#### Mathematical details
For data x and latent z with prior p(z), decoder likelihood p(x|z) and
encoder (approximate posterior) q(z|x):

    log p(x) ≥ ELBO(x) = E_q[log p(x|z)] − KL(q(z|x) ‖ p(z))
                       = E_q[log p(x, z) − log q(z|x)].

The encoder gives a Gaussian N(μ(x), diag σ(x)²); the posterior
(`tfvae.posteriors`) is that Gaussian itself or a flow of it. The expectation
is estimated with one reparameterised sample, z = μ + σ·ε, ε ~ N(0, I), pushed
through the flow if there is one, so gradients reach μ, σ and the flow. For
the Gaussian posterior and the standard-normal prior the KL has the closed
form KL = −½ Σ_j (1 + log σ_j² − μ_j² − σ_j²), which pulls μ towards 0 and σ
towards 1; otherwise it is estimated at the same sample as log q(z|x) −
log p(z). Training minimises loss = −mean_x[E_q log p(x|z) − β·KL], the mean
taken over the *global* batch so that data-parallel replicas take the same
step as one device.

A conditional VAE (`num_classes` or `condition_shape`) models p(x | y): every
density above gains y on the right (q(z|x, y), p(x|z, y)), the prior p(z)
stays unconditional, and every method takes `labels=` (`tfvae.conditioning`).
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp
from keras import ops

from tfvae import conditioning
from tfvae import likelihoods as likelihoods_lib
from tfvae import networks
from tfvae import objectives
from tfvae import posteriors as posteriors_lib
from tfvae import priors as priors_lib
from tfvae.distribute import global_mean
from tfvae.layers import GaussianPosteriorHead, Sampling, stateless_seed
from tfvae.trainer import Trainer
from tfvae.validation import (check_choice, check_int_tuple, check_number,
                              check_positive_int, check_shape)

tfd = tfp.distributions

KL_MODES = ("auto", "analytic", "mc")

# Set once, in `__init__`, each from the constructor argument named here: the
# networks, the steps already traced and the derived KL mode were made from them,
# so a later value would be ignored by all of these and recorded only by
# `get_config`, and the saved model would not load.
FIXED_ATTRIBUTES = {
    "data_shape": "input_shape", "latent_dim": "latent_dim", "architecture": "architecture",
    "hidden_units": "hidden_units", "filters": "filters",
    "condition": "num_classes or condition_shape", "seed": "seed", "encoder": "encoder",
    "likelihood": "likelihood", "prior": "prior", "posterior": "posterior",
    "decoder": "decoder", "kl": "kl", "kl_mode": "kl",
}


def _fixed(name, doc):
    """A read-only view of `_name`, which `__init__` sets."""
    assert name in FIXED_ATTRIBUTES
    return property(lambda self: getattr(self, "_" + name), doc=doc)


@keras.saving.register_keras_serializable(package="tfvae")
class VAE(Trainer):
    """A variational auto-encoder trained with `fit` on the ELBO.

    Args:
        input_shape: tuple of ints, the shape of one example, e.g. (28, 28).
        latent_dim: int > 0, the size of z.
        architecture: "mlp" or "conv", the built-in encoder/decoder.
        encoder: optional Keras layer mapping x -> features (the VAE adds the
            Gaussian posterior head), replacing the built-in encoder.
        decoder: optional Keras layer mapping z -> likelihood parameters shaped
            like x (plus a trailing axis if the likelihood has `num_params` > 1).
        likelihood: a name in `tfvae.likelihoods.NAMES`, a `Likelihood`, or a
            callable returning a `tfd.Distribution`.
        prior: None (standard normal), a name, a `tfvae.priors.Prior`, or a
            `tfd.Distribution` with event shape [latent_dim].
        posterior: "gaussian" (q(z|x) = N(μ(x), diag σ(x)²)), "iaf", or a
            `tfvae.posteriors.Posterior` such as `IAF(num_steps=2)`.
        kl: "auto" (analytic where a closed form exists, else Monte Carlo),
            "analytic" or "mc".
        beta: float ≥ 0, weight of the KL term (β-VAE); 1 gives the ELBO.
            `vae.beta` is then a variable; `vae.beta = b` assigns it.
        hidden_units: tuple of ints, widths of the built-in networks.
        filters: tuple of ints, channels of the built-in conv networks.
        seed: int or None, seeds the sampling noise.
        objective: "elbo" or "iwae" (Burda et al. 2016: loss =
            −mean_x log (1/k) Σ_k w_k, w_k = p(x, z_k)/q(z_k|x), with β
            weighting log p(z) − log q(z|x) inside w).
        num_samples: int ≥ 1, k for the IWAE objective; with the ELBO
            objective, k > 1 makes `evaluate` also report an `iwae` metric.
            Both attributes can be set between fits: the next `fit` or
            `evaluate` traces its step with the new values.
        num_classes: None, or an int ≥ 2: a class-conditional VAE of p(x | y),
            trained with `fit(x, y)` on integer labels or one-hot rows.
        condition_shape: None, or `(k,)`: a VAE conditioned on a real vector
            y of k numbers. Exclusive with `num_classes`. Conditional models
            call the networks as `encoder([x, y])` and `decoder([z, y])`,
            y float32 (batch, k), one-hot for classes; a user's networks
            must take those two inputs. The prior p(z) stays unconditional.
        class_names: None, or one name per class (with `num_classes`), saved
            with the model and recorded by the exporters.

    Example:
    ```python
    vae = tfvae.VAE(input_shape=(28, 28), latent_dim=2)
    vae.fit(tfvae.datasets.load_dataset("default"), epochs=5)
    images = vae.sample(16)
    ```
    """

    def __init__(self, input_shape, latent_dim, architecture="mlp", encoder=None,
                 decoder=None, likelihood="bernoulli", prior=None, kl="auto",
                 beta=1.0, hidden_units=(512, 256), filters=(32, 64), seed=None,
                 objective="elbo", num_samples=1, posterior="gaussian", num_classes=None,
                 condition_shape=None, class_names=None, **kwargs):
        super().__init__(**kwargs)
        self._data_shape = check_shape(input_shape)
        self._latent_dim = check_positive_int(latent_dim, "latent_dim")
        self._architecture = check_choice(architecture, "architecture", networks.ARCHITECTURES)
        self._kl = check_choice(kl, "kl", KL_MODES)
        beta = check_number(beta, "beta", minimum=0.0)
        self.objective = objective       # validated by the setters below
        self.num_samples = num_samples
        self._hidden_units = check_int_tuple(hidden_units, "hidden_units")
        self._filters = check_int_tuple(filters, "filters", example="(32, 64)")
        self._seed = seed
        self._condition = conditioning.make(num_classes, condition_shape)
        self.class_names = class_names
        condition_dim = None if self.condition is None else self.condition.dim
        self._custom_encoder = encoder is not None
        self._custom_decoder = decoder is not None
        self._likelihood = likelihoods_lib.get(likelihood)
        self._prior = priors_lib.get(prior, latent_dim=self.latent_dim)
        self._posterior = posteriors_lib.get(posterior, latent_dim=self.latent_dim)
        if self.condition is not None and isinstance(self.prior, priors_lib.VampPrior):
            # Its components q(z|u_k) would need a label per pseudo-input.
            raise ValueError("A conditional VAE takes an unconditional prior p(z); the "
                             "VampPrior mixes the encoder's q(z|u_k), which a conditional "
                             f"encoder cannot give without labels. Received: prior={prior!r}, "
                             f"num_classes={num_classes!r}, condition_shape={condition_shape!r}")
        # The built-in networks take the model's own dtype policy, not the
        # global one, so a mixed-precision model loads as one whatever the
        # global policy is then.
        self._encoder = encoder if encoder is not None else networks.build_encoder(
            architecture, self.data_shape, self.hidden_units, self.filters,
            dtype=self.dtype_policy, condition_dim=condition_dim)
        self._decoder = decoder if decoder is not None else networks.build_decoder(
            architecture, self.latent_dim, self.data_shape,
            self.likelihood.num_params, self.hidden_units, self.filters,
            dtype=self.dtype_policy, condition_dim=condition_dim)
        self.posterior_head = GaussianPosteriorHead(self.latent_dim,
                                                    name="posterior_head")
        self.sampling = Sampling(seed=seed, name="sampling")
        analytic = self.prior.has_analytic_kl and self.posterior.has_analytic_kl
        if kl == "analytic" and not analytic:
            raise ValueError(f"kl='analytic' needs a prior and a posterior with a closed-form "
                             f"KL; {type(self.prior).__name__} and "
                             f"{type(self.posterior).__name__} have none. Use kl='mc' or 'auto'.")
        self._kl_mode = "analytic" if analytic and kl != "mc" else "mc"
        self.initial_beta = float(beta)
        # A variable, not a float: callbacks (warm-up schedules) change it
        # during fit without retracing, on every replica, and it is saved.
        self._beta = self.add_weight(shape=(), name="beta", trainable=False,
                                     initializer=keras.initializers.Constant(beta))
        # Free bits λ (nats per latent dimension; 0 = off), set by
        # tfvae.callbacks.FreeBits; a variable for the same reasons as beta.
        self._free_bits = self.add_weight(shape=(), name="free_bits", trainable=False,
                                          initializer="zeros")
        self._make_trackers(with_iwae=self._reports_iwae())
        self.build((None,) + self.data_shape)

    # ---- the model's parts, fixed at construction ----------------------------

    data_shape = _fixed("data_shape", "The shape of one example x, a tuple of ints.")
    latent_dim = _fixed("latent_dim", "The size of z.")
    architecture = _fixed("architecture", '"mlp" or "conv": the built-in networks asked for.')
    hidden_units = _fixed("hidden_units", "The widths of the built-in mlp's layers.")
    filters = _fixed("filters", "The channels of the built-in conv layers.")
    condition = _fixed("condition", "The `tfvae.conditioning` condition y, or None.")
    seed = _fixed("seed", "The seed of the sampling layer's noise (None: unseeded).")
    encoder = _fixed("encoder", "The network x (and y) -> features, before the posterior head.")
    likelihood = _fixed("likelihood", "The likelihood p(x|z), a `tfvae.likelihoods` family.")
    prior = _fixed("prior", "The prior p(z), a `tfvae.priors` layer.")
    posterior = _fixed("posterior", "The posterior family q(z|x), a `tfvae.posteriors` layer.")
    decoder = _fixed("decoder", "The network z (and y) -> the likelihood's parameters.")
    kl = _fixed("kl", 'The KL mode asked for: "auto", "analytic" or "mc".')
    kl_mode = _fixed("kl_mode", 'The KL term used: "analytic" (closed form) or "mc" (at z).')

    def __setattr__(self, name, value):
        # Before Keras' own __setattr__, which would track a new layer first and
        # fail on the built model's locked state with a message about state.
        if name in FIXED_ATTRIBUTES:
            raise AttributeError(
                f"VAE.{name} is fixed when the model is built: its networks and traced steps "
                f"were made from it and would keep the old value. Build a new tfvae.VAE with "
                f"the {FIXED_ATTRIBUTES[name]} argument you want, and copy the weights of "
                f"the parts that stay (new.encoder.set_weights(old.encoder.get_weights())). "
                f"Received: {name}={value!r}")
        super().__setattr__(name, value)

    @property  # metadata: checked, and free to change
    def class_names(self):
        """One name per class (a tuple of str) or None; saved, and written into exports."""
        return self._class_names

    @class_names.setter
    def class_names(self, value):
        self._class_names = conditioning.check_class_names(value, self.condition)

    # ---- what fit minimises, settable between fits ---------------------------

    @property
    def objective(self):
        """"elbo" or "iwae": the bound `fit` maximises (e.g. the ELBO first, then IWAE)."""
        return self._objective

    @objective.setter
    def objective(self, value):
        self._objective = check_choice(value, "objective", objectives.OBJECTIVES)
        self._retrace_steps()

    @property
    def num_samples(self):
        """k ≥ 1, the importance samples of the IWAE objective and metric."""
        return self._num_samples

    @num_samples.setter
    def num_samples(self, value):
        self._num_samples = check_positive_int(value, "num_samples")
        self._retrace_steps()

    @property
    def beta(self):
        """The KL weight β, a variable; `vae.beta = 4.0` assigns it, as callbacks do."""
        return self._beta

    @beta.setter
    def beta(self, value):
        # Assigned, not rebound: a float in its place would be ignored by the traced
        # steps, by the callbacks and by `save`.
        self._beta.assign(check_number(value, "beta", minimum=0.0))

    @property
    def free_bits(self):
        """Free bits λ, nats per latent dimension (0 = off), a variable; assigned as β is."""
        return self._free_bits

    @free_bits.setter
    def free_bits(self, value):
        self._free_bits.assign(check_number(value, "free_bits", minimum=0.0))

    def _reports_iwae(self):
        return self.objective == "iwae" or self.num_samples > 1

    def _retrace_steps(self):
        # `fit` and `evaluate` reuse the steps they traced, which read the objective
        # and k as Python values: a change would be silently ignored without this.
        # Rebuilt rather than dropped, so that a callback may switch during a fit.
        if not hasattr(self, "loss_tracker"):
            return                       # still in __init__: nothing traced yet
        self._set_iwae_tracker(self._reports_iwae())
        if self.train_function is not None:
            self.make_train_function(force=True)
        if self.test_function is not None:
            self.make_test_function(force=True)

    def build(self, input_shape=None):
        # One eager pass on zeros builds every sub-layer (including a user's
        # encoder of unknown output size) and checks that the parts fit.
        # Sub-layers restored by `load_model` arrive built already.
        self.prior.attach(self)
        if not self.prior.built:
            self.prior.build(self.latent_dim)
        condition = None if self.condition is None else ops.zeros((1, self.condition.dim))
        features = conditioning.call_network(self.encoder, "encoder",
                                             ops.zeros((1,) + self.data_shape), condition)
        if len(features.shape) != 2:
            raise ValueError("The encoder must map x to features of shape (batch, n); "
                             f"it returned shape {tuple(features.shape)}. End it with "
                             "a Flatten or Dense layer.")
        if not self.posterior_head.built:
            self.posterior_head.build(features.shape)
        if not self.posterior.built:
            self.posterior.build(self.latent_dim, features.shape)
        params = conditioning.call_network(self.decoder, "decoder",
                                           ops.zeros((1, self.latent_dim)), condition)
        expected = networks.params_shape(self.data_shape, self.likelihood.num_params)
        if tuple(params.shape[1:]) != expected:
            raise ValueError(f"The decoder must output likelihood parameters of shape "
                             f"(batch, {', '.join(map(str, expected))}) for "
                             f"input_shape={self.data_shape}; it returned shape "
                             f"{tuple(params.shape)}.")
        if not self.likelihood.built:
            self.likelihood.build(params.shape)
        if not self.sampling.built:
            # Unbuilt, it would make Keras trace `call(x)` to build the model
            # under a strategy, which a conditional model cannot run without y.
            self.sampling.build(((None, self.latent_dim), (None, self.latent_dim)))
        self._per_example(self.likelihood.distribution(ops.cast(params, "float32")))
        self.built = True

    # ---- the probabilistic path, top to bottom ------------------------------

    def features(self, x, training=False, labels=None):
        """The encoder's features of x (and y, given `labels`), (batch, n)."""
        x = self._as_data(x)
        return self.encoder(conditioning.network_inputs(x, self._condition_input(labels, x)),
                            training=training)

    def posterior_params(self, x, training=False, labels=None):
        """(loc, scale) of the encoder's Gaussian, each (batch, latent_dim) float32.

        The Gaussian posterior q(z|x) (q(z|x, y) given `labels`) itself, or the
        base of a flow posterior.
        """
        return self._encoder_outputs(x, training, labels)[1:]

    def encode(self, x, training=False, labels=None):
        """q(z|x) (q(z|x, y) given `labels`): a `tfd.Distribution` with event shape [latent_dim]."""
        features, loc, scale = self._encoder_outputs(x, training, labels)
        return self.posterior.distribution(loc, scale, features)

    def decode(self, z, training=False, labels=None):
        """p(x|z) (p(x|z, y) given `labels`): the likelihood, with the data axes as its event."""
        params = ops.cast(self.decoder(conditioning.network_inputs(
            z, self._condition_input(labels, z)), training=training), "float32")
        return self._per_example(self.likelihood.distribution(params))

    def elbo_terms(self, x, training=False, per_dimension=False, labels=None):
        """Per-example (E_q[log p(x|z)], KL(q(z|x) ‖ p(z))) from one sample of z.

        Args:
            per_dimension: bool. If True the KL has shape (batch, latent_dim),
                one term per latent dimension (the prior and the posterior must
                factorise, the prior being a `tfd.Independent`; otherwise
                shape (batch, 1)).
            labels: the labels y of a conditional model (see
                `tfvae.conditioning.check_labels`), else None.

        Returns:
            A pair of float32 tensors of shape (batch,); ELBO = first − second.
        """
        x = self._as_data(x)
        condition = self._condition_input(labels, x)                         # y, or None
        features, loc, scale = self._encoder_outputs(x, training, condition)  # h(x), μ(x), σ(x)
        prior = self.prior.distribution()                                    # p(z)
        factorised = per_dimension and isinstance(prior, tfd.Independent) \
            and self.posterior.factorises
        epsilon = self.sampling.noise(ops.shape(loc), dtype=loc.dtype)       # the replica's ε
        z, log_q = self.posterior.sample_and_log_prob(                      # z ~ q(z|x)
            loc, scale, epsilon, features, sum_dims=not factorised)
        reconstruction = self.decode(z, training=training,
                                     labels=condition).log_prob(x)           # log p(x|z)
        if self.kl_mode == "analytic":
            normal = tfd.Normal(loc=loc, scale=scale)
            kl = tfd.kl_divergence(normal if factorised else tfd.Independent(normal, 1),
                                   prior.distribution if factorised else prior)
        else:
            kl = log_q - (prior.distribution if factorised else prior).log_prob(z)
        if per_dimension and len(kl.shape) == 1:
            kl = kl[:, None]
        return reconstruction, kl

    def log_importance_weights(self, x, num_samples, seed=None, training=False, labels=None):
        """The parts of log w_k = log p(x|z_k) + log p(z_k) − log q(z_k|x), z_k ~ q(z|x).

        The posterior (a flow too) is the proposal. The k reparameterised
        samples are decoded as one batch of k·batch rows.

        Args:
            x: tensor (batch, *input_shape).
            num_samples: int, k.
            seed: None (`self.sampling.noise`: the model's seed generator, an
                independent draw on each replica) or a stateless seed, an int32
                tensor of shape [2].
            labels: the labels y of a conditional model, else None.

        Returns:
            `(log p(x|z), log p(z), log q(z|x))`, float32 tensors (k, batch).
        """
        x = self._as_data(x)
        condition = self._condition_input(labels, x)
        features, loc, scale = self._encoder_outputs(x, training, condition)
        shape = tf.concat([[num_samples], tf.shape(loc)], axis=0)
        if seed is None:
            epsilon = self.sampling.noise(shape)
        else:
            epsilon = tf.random.stateless_normal(shape, seed=seed)
        z, log_qz = self.posterior.sample_and_log_prob(loc, scale, epsilon, features)
        rows = ops.reshape(z, (-1, self.latent_dim))                         # (k·batch, d)
        x_rows = ops.reshape(ops.broadcast_to(x[None], tf.concat(
            [[num_samples], tf.shape(x)], axis=0)), (-1,) + self.data_shape)
        log_px_z = ops.reshape(self.decode(
            rows, training=training, labels=conditioning.repeat_rows(condition, num_samples),
        ).log_prob(x_rows), (num_samples, -1))
        return log_px_z, self.prior.distribution().log_prob(z), log_qz

    def objective_terms(self, x, training=False, with_iwae=False, labels=None):
        """The training objective's per-example terms on a batch x.

        Args:
            x: tensor (batch, *input_shape).
            training: bool, passed to the networks.
            with_iwae: bool, with the ELBO objective and `num_samples` > 1 also
                estimate IWAE_k (what `evaluate` reports as `iwae`).
            labels: the labels y of a conditional model, else None.

        Returns:
            A `tfvae.objectives.Terms` (loss, reconstruction, kl, iwae).
        """
        if self.objective == "iwae":
            return objectives.iwae(*self.log_importance_weights(
                x, self.num_samples, training=training, labels=labels), beta=self.beta)
        reconstruction, kl_per_dim = self.elbo_terms(x, training=training, per_dimension=True,
                                                     labels=labels)
        terms = objectives.elbo(reconstruction, kl_per_dim, self.beta, self.free_bits)
        if with_iwae and self.num_samples > 1:
            terms = terms._replace(iwae=objectives.iwae(
                *self.log_importance_weights(x, self.num_samples, labels=labels)).iwae)
        return terms

    def train_step(self, data):
        x, labels = self._unpack(data)
        with tf.GradientTape() as tape:
            per_example_loss, reconstruction, kl, iwae = self.objective_terms(
                x, training=True, labels=labels)
            # Sum over the replica's examples / global batch size: replicas'
            # gradients are then summed (Keras all-reduces with SUM), which
            # gives exactly the single-device mean, uneven last batch included.
            loss = global_mean(per_example_loss)
            regularization = self._regularization_loss()
            loss += tf.nn.scale_regularization_loss(regularization)
            scaled_loss = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return self._update_metrics(per_example_loss + regularization, reconstruction, kl, iwae)

    def test_step(self, data):
        x, labels = self._unpack(data)
        per_example_loss, reconstruction, kl, iwae = self.objective_terms(x, with_iwae=True,
                                                                     labels=labels)
        return self._update_metrics(per_example_loss + self._regularization_loss(),
                                    reconstruction, kl, iwae)

    def predict_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        if y is None and isinstance(x, (tuple, list)) and len(x) == 2:
            x, y = x  # predict((x, y)) on arrays: Keras hands the pair over as x
        return self(x, labels=conditioning.as_condition(y, self.condition, validate=True))

    # ---- convenience ---------------------------------------------------------

    def decode_mean(self, z, labels=None):
        """The mean of p(x|z) (p(x|z, y) given `labels`) computed with `keras.ops`
        (exportable to TFLite; integer class ids become one-hot in the graph)."""
        params = ops.cast(self.decoder(conditioning.network_inputs(
            z, self._condition_input(labels, z)), training=False), "float32")
        return self.likelihood.mean(params)

    def sample(self, n, seed=None, labels=None):
        """Draws z ~ p(z) and returns the decoded means, shape (n, *input_shape).

        Args:
            n: int > 0, the number of samples.
            seed: None (fresh samples on each call), an int >= 0 (the same
                samples for the same seed) or a stateless seed; see
                `tfvae.layers.stateless_seed`.
            labels: for a conditional model, what to draw: one class id (or
                one condition vector) for all n samples, or one per sample.
        """
        n = check_positive_int(n, "n")
        condition = conditioning.sample_labels(labels, n, self.condition)
        z = self.prior.distribution().sample(n, seed=stateless_seed(seed))
        return self.decode_mean(z, labels=condition)

    def latent_code(self, x, training=False, labels=None):
        """A deterministic code for x: the posterior's z at ε = 0, (batch, latent_dim).

        The posterior mean μ(x) for the Gaussian posterior; for a flow, the
        flow's image of μ(x) (a flow's mean has no closed form).
        """
        features, loc, scale = self._encoder_outputs(x, training, labels)
        z, _ = self.posterior.sample_and_log_prob(loc, scale, ops.zeros_like(loc), features)
        return z

    def reconstruct(self, x, labels=None):
        """Decoded mean at the latent code: E[x | z = latent_code(x)] (and y, given `labels`)."""
        x = self._as_data(x)
        condition = self._condition_input(labels, x)
        return self.decode_mean(self.latent_code(x, labels=condition), labels=condition)

    def call(self, x, training=False, labels=None):
        x = self._as_data(x)
        condition = self._condition_input(labels, x)
        return self.decode_mean(self.latent_code(x, training=training, labels=condition),
                                labels=condition)

    # ---- plumbing --------------------------------------------------------------

    def _encoder_outputs(self, x, training, labels):
        """(features, loc, scale): the encoder's features and the Gaussian its head reads off.

        The head gets `training` too: it takes TensorFlow's fused softplus in
        training and, outside it, `portable_softplus`, which a converted graph
        evaluates without overflow.
        """
        features = self.features(x, training=training, labels=labels)
        return (features, *self.posterior_head(features, training=training))

    def _condition_input(self, labels, x):
        """The float32 condition y for the examples (or latents) `x`, or None."""
        return conditioning.as_condition(labels, self.condition,
                                         num_examples=conditioning.static_batch(x))

    def _unpack(self, data):
        """(x, labels) of a batch; a conditional step checks integer class ids in the graph."""
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        return x, conditioning.as_condition(y, self.condition, validate=True)

    def _as_data(self, x):
        x = ops.cast(x, "float32")
        if tuple(x.shape[1:]) != self.data_shape and None not in x.shape[1:]:
            raise ValueError(f"Expected x of shape (batch, {', '.join(map(str, self.data_shape))}); "
                             f"received shape {tuple(x.shape)}.")
        return x

    def _per_example(self, dist):
        if not isinstance(dist, tfd.Distribution):
            raise ValueError("The likelihood must return a tfp.distributions.Distribution; "
                             f"it returned {type(dist).__name__}.")
        extra = len(self.data_shape) - dist.event_shape.rank
        return tfd.Independent(dist, reinterpreted_batch_ndims=extra) if extra > 0 else dist

    def get_config(self):
        return {
            "name": self.name, "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "input_shape": list(self.data_shape), "latent_dim": self.latent_dim,
            "architecture": self.architecture,
            "encoder": keras.saving.serialize_keras_object(self.encoder)
            if self._custom_encoder else None,
            "decoder": keras.saving.serialize_keras_object(self.decoder)
            if self._custom_decoder else None,
            "likelihood": keras.saving.serialize_keras_object(self.likelihood),
            "prior": keras.saving.serialize_keras_object(self.prior),
            "kl": self.kl, "beta": self.initial_beta,
            "hidden_units": list(self.hidden_units), "filters": list(self.filters),
            "seed": self.seed, "objective": self.objective,
            "num_samples": self.num_samples,
            "posterior": keras.saving.serialize_keras_object(self.posterior),
            "num_classes": None if self.condition is None else self.condition.num_classes,
            "condition_shape": None if self.condition is None or
            self.condition.condition_shape is None else list(self.condition.condition_shape),
            "class_names": None if self.class_names is None else list(self.class_names),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("encoder", "decoder", "likelihood", "prior", "posterior"):
            if isinstance(config.get(key), dict):
                config[key] = keras.saving.deserialize_keras_object(config[key])
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)
