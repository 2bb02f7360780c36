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
        "cifar10_full", "cifar10", "cifar10_aug_full", "cifar10_aug", "cifar100_full", "cifar100", "svhn_full", "svhn",
        "mnist_full", "mnist", "cifar10_fc_full", "cifar10_fc", "cifar10_fc_dropout_full", "cifar10_fc_dropout"]


def test_svhn_full_sees_as_many_images_as_the_cifar10_full_length_run():
    """No SVHN schedule is published: svhn_full is the CIFAR-10 full-length
    protocol at the same number of SGD steps (images seen), within one SVHN
    epoch's worth, with the author's stage shape."""
    svhn, c10 = experiments.get("svhn_full"), experiments.get("cifar10_full")
    sizes = {name: data.DATASETS[name].train_size for name in ("svhn", "cifar10")}
    seen = {"svhn": svhn.train.epochs * sizes["svhn"], "cifar10": c10.train.epochs * sizes["cifar10"]}
    assert abs(seen["svhn"] - seen["cifar10"]) <= sizes["svhn"] / 2  # the nearest whole number of epochs
    assert svhn.train.epochs < c10.train.epochs / 10  # an SVHN epoch is over ten CIFAR-10 epochs of images
    # the stages keep the CIFAR-10 shape (base rate to 200/260, 1/10 to 230/260), as MNIST's 46/53 of 60 do
    for (mine, theirs) in zip(svhn.train.milestones(), c10.train.milestones()):
        assert abs(mine / svhn.train.epochs - theirs / c10.train.epochs) <= 0.5 / svhn.train.epochs
    assert experiments.full_shape(experiments.get("mnist_full").train.epochs) == \
        experiments.get("mnist_full").train.milestones()
    # the rest is the CIFAR-10 recipe: rates, decay, per-parameter multipliers, warm-up, batch
    same = ("lr", "momentum", "weight_decay", "batch_size", "bias_lr_mult", "bias_decay", "class_map_lr_mult",
            "warmup_epochs", "schedule", "translate", "flip")
    assert {k: getattr(svhn.train, k) for k in same} == {k: getattr(c10.train, k) for k in same}
    assert svhn.train.test_every == 1  # a long epoch: every one tested
    assert (svhn.model, svhn.preprocess, svhn.paper_key, svhn.requires_download) == (
        experiments.SVHN_AUTHOR_MODEL, "lcn", "svhn", True)
    assert svhn.model == experiments.get("svhn").model and not svhn.train.short_run


def test_the_svhn_full_length_follows_the_dataset_sizes(monkeypatch):
    """Computed from `data.DATASETS`, not typed: another size, another length."""
    spec = data.DATASETS["svhn"]
    monkeypatch.setitem(data.DATASETS, "svhn", replace(spec, train_size=spec.train_size // 2))
    halved = experiments.equal_updates_train("svhn")
    assert abs(halved.epochs - 2 * experiments.get("svhn_full").train.epochs) <= 1
    # the stages keep the first author's shape (200/230 of 260) at the new length
    assert [round(m / halved.epochs, 1) for m in halved.milestones()] == [0.8, 0.9]
    monkeypatch.setitem(data.DATASETS, "svhn", replace(spec, train_size=data.DATASETS["cifar10"].train_size))
    # at CIFAR-10's size, CIFAR-10's schedule (tested every epoch)
    assert experiments.equal_updates_train("svhn") == replace(experiments.FULL_TRAIN, test_every=1)


def test_cifar100_full_is_the_cifar10_full_recipe_with_100_class_maps():
    from nin_repro.model import NiN, count_parameters

    c10, c100 = experiments.get("cifar10_full"), experiments.get("cifar100_full")
    assert c100.train == c10.train and c100.model == replace(c10.model, num_classes=100)
    assert (c100.dataset, c100.preprocess, c100.paper_key) == ("cifar100", c10.preprocess, "cifar100")
    assert count_parameters(NiN(c100.model)) == 984_356  # the paper's net with C = 100
    # the data is here: neither CIFAR-100 row waits for a download
    assert not c100.requires_download and not experiments.get("cifar100").requires_download
    assert chapters.CHAPTERS["cifar100"].table() == ["cifar100_full", "cifar100"]


def test_the_authors_cifar100_params_share_the_recipes_momentum_bias_rate_and_decay_per_step():
    """What the cifar100_full comment and the Method page say of the first
    author's NIN/cifar-100_params against the rates the run follows."""
    from nin_repro.book.paper import as_sgd

    sgd, train = as_sgd(), experiments.get("cifar100_full").train
    assert (sgd["lr"], sgd["bias_lr"], sgd["weight_decay"]) == pytest.approx((0.02, 0.04, 5e-4))  # paper.md's reading
    assert sgd["decay_per_step"] == pytest.approx(train.lr * train.weight_decay)
    assert sgd["bias_lr"] / sgd["lr"] == train.bias_lr_mult and sgd["momentum"] == train.momentum
    assert train.lr / sgd["lr"] == pytest.approx(5) and train.class_map_lr_mult != 1
