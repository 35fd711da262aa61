"""A small MMMLU copy in the hub's exact CSV layout, written by the tests that need one."""

from __future__ import annotations

import csv
from pathlib import Path

# Three questions, parallel in three languages: (subject, answer letter, per-language texts).
QUESTIONS = [
    (
        "astronomy",
        "B",
        {
            "en": ("Which planet is red?", "Venus", "Mars", "Jupiter", "Saturn"),
            "de": ("Welcher Planet ist rot?", "Venus", "Mars", "Jupiter", "Saturn"),
            "sw": ("Sayari ipi ni nyekundu?", "Zuhura", "Mirihi", "Sumbula", "Zohali"),
        },
    ),
    (
        "astronomy",
        "A",
        {
            "en": ("What orbits\nthe Earth?", "The Moon", "The Sun", "Mars", "A comet"),
            "de": ("Was umkreist die Erde?", "Der Mond", "Die Sonne", "Mars", "Ein Komet"),
            "sw": ("Nini huzunguka Dunia?", "Mwezi", "Jua", "Mirihi", "Kimondo"),
        },
    ),
    (
        "world_religions",
        "D",
        {
            "en": ("Holy book of Islam?", "Bible", "Torah", "Vedas", "Quran"),
            "de": ("Heiliges Buch des Islam?", "Bibel", "Tora", "Veden", "Koran"),
            "sw": ("Kitabu kitakatifu cha Uislamu?", "Biblia", "Torati", "Veda", "Kurani"),
        },
    ),
]
TAGS = {"en": "EN-US", "de": "DE-DE", "sw": "SW-KE"}


def write_copy(root: Path, languages: tuple[str, ...] = ("en", "de", "sw")) -> Path:
    """`root/test/mmlu_<TAG>.csv` per language, as the hub has them: an unnamed row-number
    column, then Question, A, B, C, D, Answer, Subject (a multi-line question included)."""
    (root / "test").mkdir(parents=True, exist_ok=True)
    for lang in languages:
        with open(root / "test" / f"mmlu_{TAGS[lang]}.csv", "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["", "Question", "A", "B", "C", "D", "Answer", "Subject"])
            for number, (subject, answer, texts) in enumerate(QUESTIONS):
                question, *options = texts[lang]
                writer.writerow([number, question, *options, answer, subject])
    return root
