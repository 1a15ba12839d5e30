"""Training and transfer learning (needs the ``[train]`` extra: torch). Imported only by ``ecgedge train``
and ``ecgedge export``; the runtime never imports it."""
