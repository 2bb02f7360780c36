import json
from dataclasses import replace

import pytest

from nin_repro import data, experiments
from nin_repro.book import chapters
from nin_repro.experiments import CIFAR_MODEL, Experiment, TrainConfig


def test_every_experiment_fits_its_dataset():
    for exp in experiments.EXPERIMENTS.values():
        spec = data.DATASETS[exp.dataset]
        assert (exp.model.num_classes, exp.model.in_channels) == (spec.num_classes, spec.image_shape[2])
        assert (exp.model.input_size,) * 2 == spec.image_shape[:2]


def test_a_training_config_comes_back_from_the_dict_a_record_stores():
    for exp in experiments.EXPERIMENTS.values():
        stored = json.loads(json.dumps(exp.train.to_dict()))  # lists for tuples, milestones added
        assert TrainConfig.from_dict(stored) == exp.train


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


def test_each_chapter_shows_known_experiments_each_full_length_row_beside_its_budget_row():
    from nin_repro.book.notebooks import FOLDER

    for name, chapter in chapters.CHAPTERS.items():
        assert (FOLDER / f"{name}.md").is_file(), name
        assert set(chapter.shows()) <= set(experiments.EXPERIMENTS), name
        assert all(n.endswith("_full") for n in chapter.full) and not any(n.endswith("_full") for n in chapter.budget)
        # the paper-vs-ours table pairs them, so every full-length row has its budget row in the chapter
        assert sorted(chapter.full) == sorted(filter(None, map(chapter.twin, chapter.budget))), name
        assert set(chapter.labels) <= set(chapter.budget + chapter.full), name


def test_a_chapters_comparison_keeps_the_papers_order_and_its_table_puts_full_length_first():
    heads = chapters.CHAPTERS["table5_heads"]
    assert heads.comparison() == {"cifar10": "GAP", "cifar10_fc_dropout": "FC + dropout", "cifar10_fc": "FC"}
    assert list(heads.comparison(full=True)) == ["cifar10_full", "cifar10_fc_dropout_full", "cifar10_fc_full"]
    assert chapters.CHAPTERS["cifar10"].comparison(full=True) == {"cifar10_aug_full": "augmented",
                                                                     "cifar10_full": "not augmented"}
    assert chapters.CHAPTERS["summary"].table() == [
        "cifar10_full", "cifar10", "cifar10_aug_full", "cifar10_aug", "cifar100", "svhn", "mnist_full", "mnist",
        "cifar10_fc_full", "cifar10_fc", "cifar10_fc_dropout_full", "cifar10_fc_dropout"]
