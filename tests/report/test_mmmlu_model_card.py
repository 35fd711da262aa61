"""The model card of a run evaluated on MMMLU shows its accuracy beside chance and says what it
measures (option retrieval, not generation), from the run's logged keys."""

from __future__ import annotations

from tests.cli.test_mmmlu_show_compare import LANGS, N_QUESTIONS, choice_set, scored


def _card(metrics: dict, eval_sets: list) -> str:
    from hybrid_tui.models.conventions import Conventions
    from hybrid_tui.recipe import recipe_from_dict
    from hybrid_tui.report.model_card import model_card

    recipe = recipe_from_dict({"name": "card", "model": {"spec": "tiny-random"}})
    return model_card(recipe, Conventions(), "hub", ["en", "de"], metrics, eval_sets, "r" * 32, 5)


def test_the_model_card_has_the_mmmlu_section() -> None:
    metrics, _ = scored(1, 0.6)
    card = _card(metrics, [choice_set()])
    section = card.split("### mmmlu", 1)[1].split("## Usage", 1)[0]
    assert "option retrieval" in section and "not reasoning by generation" in section
    assert f"{N_QUESTIONS} questions per language" in section

    def row(label: str, *figures: float) -> str:
        return f"| {label} | " + " | ".join(figures_text(figures)) + " |"

    def figures_text(figures) -> list[str]:
        *accuracy, distance = figures
        return [f"{v:.3f}" for v in accuracy] + [f"{distance:.2f}"]

    de_cross = (metrics["eval/mmmlu/cross/de-en/acc"] + metrics["eval/mmmlu/cross/de-sw/acc"]) / 2
    de_row = row(
        "de",
        metrics["eval/mmmlu/mono/de/acc"],
        de_cross,
        metrics["eval/mmmlu/multi/de/acc"],
        metrics["eval/mmmlu/bias/de/own_share"],
        metrics["eval/mmmlu/bias/de/rank_distance"],
    )
    assert de_row in section
    assert "| sw* |" in section  # the card's run trained on en and de only
    average = row(
        "**average**",
        *(metrics[f"eval/mmmlu/{s}/avg/acc"] for s in ("mono", "cross", "multi")),
        metrics["eval/mmmlu/bias/avg/own_share"],
        metrics["eval/mmmlu/bias/avg/rank_distance"],
    )
    assert average in section
    assert f"| chance | 0.250 | 0.250 | 0.250 | {1 / len(LANGS):.3f} | - |" in section
    assert "mono_acc" not in card


def test_a_card_without_mmmlu_figures_has_no_mmmlu_section() -> None:
    card = _card({"eval/xquad_r/mono/en/map": 0.5}, [choice_set()])
    assert "### mmmlu" not in card
