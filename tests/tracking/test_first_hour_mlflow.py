"""Issue 27, a new user's first hour in the MLflow UI: experiments open as model-training
experiments (the runs view, not the GenAI one), and a trained run's model is in MLflow, loadable
with MLflow's own artifact API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.recipe import load_recipe
from hybrid_tui.tracking import Tracker
from tests.conftest import REPO

KIND = "mlflow.experimentKind"
TRAINING = "custom_model_development"
SMOKE = REPO / "recipes" / "smoke.toml"
SHORT_RUN = (
    "train.steps=3",
    "train.warmup_steps=0",
    "train.checkpoint_every=0",
    "eval.max_questions=5",
    'eval.settings=["mono"]',
    "data.max_items=80",
)


def _experiment_tags(uri: str, name: str) -> dict[str, str]:
    """The experiment's tags as MLflow's own client reads them (what its UI is served)."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri).get_experiment_by_name(name).tags


def _untagged_experiment(uri: str, name: str, tags: dict[str, str] | None = None) -> None:
    """An experiment made by MLflow alone (or by an older hybrid-tui): no kind, or the user's."""
    Tracker(uri).create_store()
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=uri).create_experiment(name, tags=tags)


def test_a_new_experiment_is_a_model_training_experiment(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    Tracker(uri).start_run("fresh")  # no run name: MLflow's client creates experiment and run
    assert _experiment_tags(uri, "fresh")[KIND] == TRAINING


def test_the_direct_sqlite_path_marks_an_existing_experiment_the_same_way(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _untagged_experiment(uri, "older")
    tracker = Tracker(uri)
    run_id = tracker.start_run("older", run_name="fast")
    assert tracker._client is None  # written straight into the file, without MLflow's client
    assert tracker.get_run(run_id).run_id == run_id
    assert _experiment_tags(uri, "older")[KIND] == TRAINING


def test_the_client_path_marks_an_existing_experiment(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _untagged_experiment(uri, "older")
    Tracker(uri).start_run("older")
    assert _experiment_tags(uri, "older")[KIND] == TRAINING


@pytest.mark.parametrize("run_name", [None, "fast"])
def test_a_kind_the_user_chose_is_kept(tmp_path: Path, run_name: str | None) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _untagged_experiment(uri, "agents", tags={KIND: "genai_development"})
    Tracker(uri).start_run("agents", run_name=run_name)
    assert _experiment_tags(uri, "agents")[KIND] == "genai_development"


def test_ui_prints_a_link_to_each_experiments_runs_view(tmp_path: Path) -> None:
    from hybrid_tui.tracking.mlflow_ui import runs_view_links

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    Tracker(uri).start_run("smoke")
    from mlflow.tracking import MlflowClient

    smoke = MlflowClient(tracking_uri=uri).get_experiment_by_name("smoke").experiment_id
    lines = runs_view_links(uri, "0.0.0.0", 5001)
    assert "Machine learning" in lines[0]
    wanted = (
        f"  smoke: http://127.0.0.1:5001/#/experiments/{smoke}/runs?workflowType=machine_learning"
    )
    assert wanted in lines
    empty = runs_view_links(f"sqlite:///{tmp_path / 'none.db'}", "127.0.0.1", 5000)
    assert empty[0].endswith("http://127.0.0.1:5000/#/experiments?workflowType=machine_learning")


def test_the_installed_mlflow_ui_opens_the_runs_view_these_links_name() -> None:
    """The links rest on MLflow's UI reading `workflowType` from the URL (3.17 ignores the kind
    tag while its sidebar switch exists); a new MLflow that drops it fails here."""
    import mlflow

    bundle = Path(mlflow.__file__).parent / "server" / "js" / "build" / "static" / "js"
    code = "".join(path.read_text(encoding="utf-8") for path in bundle.glob("main.*.js"))
    assert 'get("workflowType")' in code
    assert '"machine_learning"' in code
    assert 'Runs="runs"' in code
    assert '"mlflow.experimentKind"' in code and f'"{TRAINING}"' in code


def test_log_model_is_a_recipe_switch_validated_like_the_others() -> None:
    assert load_recipe(SMOKE).tracking.log_model is True
    assert load_recipe(SMOKE, ["tracking.log_model=false"]).tracking.log_model is False
    with pytest.raises(HybridTuiError) as err:
        load_recipe(SMOKE, ["tracking.log_model=sometimes"])
    assert "tracking.log_model" in str(err.value)
    assert "\n" not in str(err.value)


def _train(data_root: Path, *overrides: str) -> tuple[str, str]:
    from hybrid_tui.training.loop import run_training

    recipe = load_recipe(SMOKE, [*SHORT_RUN, *overrides])
    return run_training(recipe, data_root=str(data_root))


def _local_model(run_id: str) -> Path:
    from hybrid_tui.runs.files import RunFiles

    return RunFiles.for_run(run_id).model


def _embeddings(folder: Path) -> np.ndarray:
    from hybrid_tui.models.encoder import BiEncoder

    encoder = BiEncoder.from_path(folder).eval()
    texts = ["Wer schrieb Faust?", "Who wrote Faust?", "ใครเขียนเฟาสต์"]
    return np.concatenate([encoder.encode(texts, "query"), encoder.encode(texts, "passage")])


@pytest.mark.slow
def test_a_trained_runs_model_loads_from_mlflow(workdir: Path, data_root: Path) -> None:
    """The acceptance line of issue 27: `runs:/<id>/model`, downloaded with MLflow's own API,
    loads with the project's encoder and with sentence-transformers, embedding as the local
    folder does."""
    import mlflow

    run_id, status = _train(data_root)
    assert status == "FINISHED"
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    downloaded = Path(
        mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="model", dst_path=str(workdir / "dl"), tracking_uri=uri
        )
    )
    tags = Tracker(uri).get_run(run_id).tags
    assert tags["hybrid_tui.model_uri"] == f"runs:/{run_id}/model"
    local = _local_model(run_id)
    assert sorted(p.relative_to(downloaded) for p in downloaded.rglob("*")) == sorted(
        p.relative_to(local) for p in local.rglob("*")
    )
    np.testing.assert_allclose(_embeddings(downloaded), _embeddings(local), atol=1e-6)
    # the artifacts live beside the store (./mlartifacts), where `hybrid-tui ui` serves them
    assert (workdir / "mlartifacts" / "smoke" / run_id / "artifacts" / "model").is_dir()

    st = pytest.importorskip("sentence_transformers")
    texts = ["Who wrote Faust?", "ใครเขียนเฟาสต์"]
    theirs = st.SentenceTransformer(str(downloaded), device="cpu").encode_query(texts)
    mine = st.SentenceTransformer(str(local), device="cpu").encode_query(texts)
    np.testing.assert_allclose(theirs, mine, atol=1e-6)


@pytest.mark.slow
def test_a_failed_upload_is_a_warning_not_a_failed_run(
    workdir: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    def disk_full(self, run_id, folder, artifact_path):  # noqa: ARG001
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Tracker, "log_artifacts", disk_full)
    run_id, status = _train(data_root)
    assert status == "FINISHED"
    assert Tracker(f"sqlite:///{workdir / 'mlflow.db'}").get_run(run_id).status == "FINISHED"
    out = capsys.readouterr().out
    assert "warning: the model could not be uploaded to MLflow" in out
    assert str(_local_model(run_id)) in out
    assert (_local_model(run_id) / "model.safetensors").is_file()
    assert (
        "hybrid_tui.model_uri"
        not in Tracker(f"sqlite:///{workdir / 'mlflow.db'}").get_run(run_id).tags
    )


@pytest.mark.slow
def test_log_model_false_keeps_only_the_local_folder(workdir: Path, data_root: Path) -> None:
    run_id, status = _train(data_root, "tracking.log_model=false")
    assert status == "FINISHED"
    assert (_local_model(run_id) / "model.safetensors").is_file()
    assert not (workdir / "mlartifacts" / "smoke" / run_id / "artifacts" / "model").exists()
