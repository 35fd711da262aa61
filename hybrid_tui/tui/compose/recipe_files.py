"""Where Compose finds and saves recipes: the project's `recipes/` (read, never overwritten
without asking) and the user's own recipes under the state dir (`<state>/recipes/`), where
"save as" proposes a new name."""

from __future__ import annotations

from pathlib import Path

from hybrid_tui.runs.files import state_dir

PROJECT_RECIPES = Path("recipes")


def user_recipes_dir() -> Path:
    """The user's recipes: `$HYBRID_TUI_HOME/recipes` (default `./.hybrid-tui/recipes`)."""
    return state_dir() / "recipes"


def recipe_files() -> list[Path]:
    """Every recipe the picker offers: the project's, then the ones saved from the app."""
    found: list[Path] = []
    for folder in (PROJECT_RECIPES, user_recipes_dir()):
        if folder.is_dir():
            found.extend(sorted(folder.rglob("*.toml")))
    return found


def shown_path(path: Path) -> str:
    """A recipe path as the picker shows it: relative to the working dir when below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def save_path_for(name: str) -> Path:
    """The proposed "save as" file for a recipe name: in the user's recipes dir, never a
    project recipe; a name already taken gets `-2`, `-3`, … so the default never overwrites."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name.strip()) or "recipe"
    folder = user_recipes_dir()
    path = folder / f"{safe}.toml"
    number = 2
    while path.exists():
        path = folder / f"{safe}-{number}.toml"
        number += 1
    return Path(shown_path(path))
