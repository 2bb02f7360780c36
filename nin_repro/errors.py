"""The one base of the failures this study expects and words for its user (a
missing or corrupt file, a run that diverged): the command line prints such
an error's one line and exits 2. Any other exception, a RuntimeError of torch
among them (a bug, a GPU out of memory), keeps its traceback."""


class NinReproError(Exception):
    """A known failure whose message names the problem and what to do."""
