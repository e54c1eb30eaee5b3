"""Exceptions the `hrm` command turns into one line on stderr and an exit code (see cli.main)."""


class InputError(ValueError):
    """The user's input (a puzzle, a file, a model reference, an argument) is wrong: exit code 2."""
