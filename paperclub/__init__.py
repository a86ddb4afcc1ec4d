"""paperclub: a study-site generator for a paper-reading club.

Notebooks import this package for two small runtime helpers:

* ``paperclub.record(name, value)`` stores a figure the claims table reads;
* ``paperclub.savefig(fig, name)`` keeps a matplotlib figure for the paper's
  card thumbnail and slide deck (it still shows inline as usual);
* ``paperclub.seed()`` is the run's seed (0 for the page, 1…4 in a sweep);
* ``paperclub.show_animation(frames, name)`` saves frames as an animated GIF
  that plays offline in the page, and displays it.

When a notebook runs outside ``paperclub build`` (a member running it in
Jupyter), ``record`` only prints and the save helpers only display.
"""
from paperclub.runtime import device, record, savefig, seed, show_animation
from paperclub.errors import PaperclubError

__all__ = ["device", "record", "savefig", "seed", "show_animation", "PaperclubError"]
__version__ = "0.1.0"
