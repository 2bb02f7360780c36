from dataclasses import replace

import pytest

from nin_repro import data, experiments
from nin_repro.experiments import CIFAR_MODEL, Experiment, TrainConfig


def test_every_experiment_fits_its_dataset():
    for exp in experiments.EXPERIMENTS.values():
        spec = data.DATASETS[exp.dataset]
        assert (exp.model.num_classes, exp.model.in_channels) == (spec.num_classes, spec.image_shape[2])
        assert (exp.model.input_size,) * 2 == spec.image_shape[:2]


@pytest.mark.parametrize("change, message", [
    (dict(dataset="cifar100"), r"'x': its model does not fit cifar100 \(num_classes 10, the data has 100\)"),
    (dict(dataset="mnist"), r"'x': its model does not fit mnist \(in_channels 3, the data has 1; "
                            r"input_size 32, the data has 28 x 28 images\)"),
    (dict(model=replace(CIFAR_MODEL, input_size=28)), r"'x': .*input_size 28, the data has 32 x 32 images"),
    (dict(dataset="imagenet"), "'x': unknown dataset 'imagenet'; known datasets: mnist, cifar10"),
])
def test_a_model_that_does_not_fit_its_dataset_is_refused_where_it_is_defined(change, message):
    kw = dict(name="x", dataset="cifar10", preprocess="gcn_zca", model=CIFAR_MODEL, train=TrainConfig(epochs=1),
              paper_key=None, description="")
    Experiment(**kw)  # fits
    with pytest.raises(ValueError, match=message):
        Experiment(**{**kw, **change})
    with pytest.raises(ValueError, match=message.replace("'x'", "'cifar10'")):  # a variant of a defined one too
        replace(experiments.get("cifar10"), **change)
