"""Rendering: one renderer per output format, at the end of the pipeline.

Data flows load → verify → compile → decide → record → *render*; nothing here
reaches back. Each format is one module:

* :mod:`charter.render.text` — for people (Rich). Everything Charter did not
  write itself (commands, paths, rule ids and messages, file names, layer names,
  waiver reasons, error text) is shown literally: never parsed as Rich markup or
  emoji codes, control characters made visible. That is decided in one place,
  :func:`charter.render.text.literal`, which every text view goes through.
* :mod:`charter.render.json` — for machines, through the one compact writer of
  :mod:`charter.core.jsonio`.
* :mod:`charter.render.sarif` — lint findings, decisions and Rego test runs as
  SARIF 2.1.0.
* :mod:`charter.render.junit`, :mod:`charter.render.github` and
  :mod:`charter.render.markdown` — for CI: JUnit XML, GitHub workflow commands
  (annotations) and Markdown for a PR comment or step summary. Each escapes
  untrusted text for its own format.

Renderers build the whole output as a string before anything is written, so a
caller can render first, record the decision, then write: a rendering failure
can never follow a recorded decision with a different outcome shown.
"""

from __future__ import annotations

from charter.render._stream import write

__all__ = ["write"]
