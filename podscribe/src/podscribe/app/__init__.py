"""podscribe's application shell: what a person runs, around the durable pipeline.

* :mod:`~podscribe.app.cli`: the ``podscribe`` command (argument handling and output);
  :mod:`~podscribe.app.feedcli` its ``feed`` command.
* :mod:`~podscribe.app.runs`: where runs live (one SQLite database per run), run ids,
  the lock and attempts of one run, and the two ways to reach perdure (embedded or a
  server).
* :mod:`~podscribe.app.progress`: live progress read from an execution's history.
* :mod:`~podscribe.app.webreview`: the review page, a perdure console plugin
  (``podscribe review --web``, and ``perdure serve`` of podscribe's template).

This package sits on top: it may import the rest of podscribe and perdure's public
surface, and nothing in podscribe imports it (the pipeline, its stages and the domain
modules run inside durable steps, without the shell). Only the entry points
(``podscribe`` and the ``perdure.console`` plugin), tests and benchmarks import it.
"""

__all__ = ["cli", "feedcli", "progress", "runs", "webreview"]
