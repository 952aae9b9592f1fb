"""`fit` and `evaluate` on arrays: read through `make_dataset`, with Keras' meaning of the arguments."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfvae
from tests.helpers import small_vae


@pytest.fixture
def handed_to_keras(monkeypatch):
    """Records the data `keras.Model.fit`/`evaluate` receive, then runs them as they are."""
    seen = []
    for method in ("fit", "evaluate"):
        original = getattr(keras.Model, method)

        def spy(self, x=None, y=None, *args, _original=original, _method=method, **kwargs):
            seen.append((_method, x, y, kwargs))
            return _original(self, x, y, *args, **kwargs)

        monkeypatch.setattr(keras.Model, method, spy)
    return seen


def batches(dataset):
    return [b.numpy() for b in dataset]


def images(n):
    return tfvae.datasets.binarize(np.random.default_rng(0).random((n, 28, 28)), seed=0)


def twins():
    """Two VAEs with the same weights and the same noise seed."""
    a, b = small_vae(seed=0), small_vae(seed=0)
    b.set_weights(a.get_weights())
    return a, b


def test_arrays_reach_keras_as_an_unautotuned_pipeline_with_keras_batch_sizes(handed_to_keras):
    x = images(100)
    model = small_vae(seed=0)
    model.fit(x, epochs=1, verbose=0)
    model.fit(x, epochs=1, verbose=0, steps_per_epoch=4)
    model.evaluate(x, verbose=0)
    model.evaluate(x, verbose=0, batch_size=40)
    first_batch_sizes = []
    for _, data, y, kwargs in handed_to_keras:
        if kwargs.get("_use_cached_eval_dataset"):
            continue
        assert isinstance(data, tf.data.Dataset) and y is None
        assert data.options().autotune.enabled is False
        assert "batch_size" not in kwargs
        first_batch_sizes.append(len(next(iter(data))))
    # Keras' sizes: 32 by default, n / steps_per_epoch rounded up, or as given.
    assert first_batch_sizes == [32, 25, 32, 40]


def test_an_unshuffled_fit_on_arrays_is_a_fit_on_make_dataset():
    x = images(80)
    arrays, dataset = twins()
    arrays.fit(x, batch_size=16, shuffle=False, epochs=2, verbose=0)
    dataset.fit(tfvae.datasets.make_dataset(x, 16, shuffle=False), epochs=2, verbose=0)
    for a, b in zip(arrays.get_weights(), dataset.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_shuffled_fit_visits_every_example_once_per_epoch(handed_to_keras):
    x = images(50)
    bits = 2 ** np.arange(6)
    x[:, 0, :6] = (np.arange(50)[:, None] // bits) % 2       # each image's index, in binary

    def order(epoch):
        return np.concatenate([b[:, 0, :6] @ bits for b in epoch]).astype(int)

    small_vae(seed=0).fit(x, batch_size=16, epochs=1, verbose=0)
    data = handed_to_keras[0][1]
    epochs = [order(batches(data)) for _ in range(3)]
    for visited in epochs:
        np.testing.assert_array_equal(np.sort(visited), np.arange(50))
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[0], np.arange(50))


def test_validation_split_holds_out_the_last_examples_before_shuffling(handed_to_keras):
    x = images(80)
    split, given = twins()
    h1 = split.fit(x, batch_size=16, shuffle=False, validation_split=0.25, epochs=2,
                   verbose=0).history
    h2 = given.fit(x[:60], batch_size=16, shuffle=False, validation_data=x[60:], epochs=2,
                   verbose=0).history
    assert h1 == h2
    _, train, _, kwargs = handed_to_keras[0]
    np.testing.assert_array_equal(np.concatenate(batches(train)), x[:60])
    np.testing.assert_array_equal(np.concatenate(batches(kwargs["validation_data"])), x[60:])
    assert kwargs["validation_data"].options().autotune.enabled is False


def test_validation_arrays_are_batched_as_keras_would(handed_to_keras):
    x, valid = images(64), images(50)
    model = small_vae(seed=0)
    model.fit(x, epochs=1, verbose=0, validation_data=valid, validation_steps=2)
    model.fit(x, epochs=1, verbose=0, steps_per_epoch=4, validation_data=valid)
    model.fit(tfvae.datasets.make_dataset(x, 16), epochs=1, verbose=0, validation_data=valid,
              validation_batch_size=20)
    model.evaluate(valid, verbose=0, steps=5)
    sizes = []
    for method, data, _, kwargs in handed_to_keras:
        if kwargs.get("_use_cached_eval_dataset"):
            continue
        held_out = kwargs["validation_data"] if method == "fit" else data
        assert held_out.options().autotune.enabled is False
        sizes.append([len(b) for b in batches(held_out)])
    # validation_steps spread the held-out examples over that many batches;
    # steps_per_epoch sizes the training batches only; then as given; then
    # evaluate's steps.
    assert sizes == [[25, 25], [32, 18], [20, 20, 10], [10] * 5]


def test_validation_split_splits_the_labels_of_a_conditional_model(handed_to_keras):
    x, y = images(40), np.arange(40) % 10
    model = small_vae(num_classes=10, seed=0)
    model.fit(x, y, batch_size=8, shuffle=False, validation_split=0.5, validation_batch_size=5,
              epochs=1, verbose=0)
    _, train, _, kwargs = handed_to_keras[0]
    train_x, train_y = (np.concatenate(parts) for parts in zip(*[
        (bx.numpy(), by.numpy()) for bx, by in train]))
    valid_batches = [(bx.numpy(), by.numpy()) for bx, by in kwargs["validation_data"]]
    np.testing.assert_array_equal(train_x, x[:20])
    np.testing.assert_array_equal(train_y.argmax(-1), y[:20])
    np.testing.assert_array_equal(np.concatenate([b[1] for b in valid_batches]).argmax(-1), y[20:])
    assert [len(b[0]) for b in valid_batches] == [5, 5, 5, 5]


def test_positional_arguments_mean_what_they_mean_to_keras():
    x = images(64)
    model = small_vae(seed=0)
    history = model.fit(x, None, 16, 3, 0)            # batch_size=16, epochs=3, verbose=0
    assert len(history.history["loss"]) == 3
    assert int(model.optimizer.iterations.numpy()) == 3 * 4
    assert set(model.evaluate(x, None, 32, 0, return_dict=True)) >= {"loss", "elbo"}
    with pytest.raises(TypeError, match="multiple values for argument 'batch_size'"):
        model.fit(x, None, 16, batch_size=8)


@pytest.mark.parametrize("kwargs,n,match", [
    ({"validation_split": 1.5}, 10, r"Received: validation_split=1.5"),
    ({"validation_split": -0.1}, 10, r"Received: validation_split=-0.1"),
    ({"validation_split": "0.2"}, 10, r"Received: validation_split='0.2'"),
    ({"validation_split": True}, 10, r"Received: validation_split=True"),
    ({"validation_split": 0.5}, 1,
     r"leaves no example on one side of 1 example.*Received: validation_split=0.5"),
    ({"batch_size": 0}, 10, r"Received: batch_size=0"),
    ({"validation_split": 0.5, "validation_batch_size": -1}, 10,
     r"Received: validation_batch_size=-1"),
])
def test_bad_array_arguments_are_refused_before_anything_runs(kwargs, n, match):
    model = small_vae(seed=0)
    with pytest.raises(ValueError, match=match):
        model.fit(images(n), verbose=0, **kwargs)
    assert int(model.optimizer.iterations.numpy()) == 0


def test_batch_shuffle_stays_with_keras(handed_to_keras):
    x = images(32)
    small_vae(seed=0).fit(x, batch_size=16, shuffle="batch", epochs=1, verbose=0)
    _, data, _, kwargs = handed_to_keras[0]
    assert isinstance(data, np.ndarray) and kwargs["shuffle"] == "batch"


def test_validation_arrays_in_every_form_are_read_through_make_dataset(handed_to_keras):
    x, valid = images(32), images(12)
    model = small_vae(seed=0)
    for validation_data in ((valid,), (valid, None), valid):
        history = model.fit(x, batch_size=16, epochs=1, verbose=0,
                            validation_data=validation_data).history
        assert np.isfinite(history["val_loss"][0])
    model.fit(x, batch_size=16, shuffle="batch", epochs=1, verbose=0, validation_data=valid)
    conditional = small_vae(num_classes=10, seed=0)
    conditional.fit(x, np.arange(32) % 10, batch_size=16, epochs=1, verbose=0,
                    validation_data=(valid, np.arange(12) % 10))
    calls = [(data, kwargs) for method, data, _, kwargs in handed_to_keras if method == "fit"]
    assert len(calls) == 5
    for data, kwargs in calls:
        held_out = kwargs["validation_data"]
        assert isinstance(held_out, tf.data.Dataset)
        assert held_out.options().autotune.enabled is False
        images_seen = [b[0] if isinstance(b, tuple) else b for b in held_out]
        np.testing.assert_array_equal(np.concatenate(images_seen), valid)
    assert isinstance(calls[3][0], np.ndarray)       # shuffle="batch": x stays Keras'


def test_compile_runs_fifty_steps_per_call_unless_told():
    class Calls(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends = []

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(batch)

    x = images(240)
    for steps_per_execution, expected in ((None, [49, 99, 149]), (40, [39, 79, 119])):
        model = small_vae(seed=0)
        model.compile(steps_per_execution=steps_per_execution)
        calls = Calls()
        model.fit(x, batch_size=2, epochs=1, verbose=0, callbacks=[calls])
        # 120 batches: Keras numbers a partial last call as a full one.
        assert calls.ends == expected
