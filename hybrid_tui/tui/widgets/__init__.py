"""The visible parts of the screens, named by what they show."""
