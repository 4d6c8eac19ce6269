"""Interactive views for report.html (plotly, offline): a 3D view of each top structure
(pymatviz) and the convex hull of its chemical system with the candidate placed
(pymatgen's ``PDPlotter``). Each view is an HTML fragment; plotly.js itself is inlined
once per page (:func:`plotly_script`), so the report opens from a single file with no
network.

A browser keeps only about 16 WebGL contexts per page, so 3D figures (structures,
quaternary hulls) are drawn when the reader asks, one at a time: the figure waits as
JSON beside a button, and drawing one clears the one drawn before. 2D figures (binary
and ternary hulls, SVG) are drawn with the page."""

from __future__ import annotations

import html
import warnings
from functools import lru_cache

from pymatgen.analysis.phase_diagram import PDEntry, PDPlotter, PhaseDiagram
from pymatgen.core import Composition, Structure

from relax.hull import HullReference

# PDPlotter draws binary, ternary and quaternary systems.
MAX_HULL_ELEMENTS = 4
VIEW_PX = 300  # width and height of a 3D structure view (CSS pixels)


# Draws the 3D figure waiting beside ``button``, after clearing the one drawn before.
_SHOW_3D = """
function showFigure(button) {
  document.querySelectorAll('.on-demand .js-plotly-plot').forEach(function (shown) {
    Plotly.purge(shown);
    shown.previousElementSibling.previousElementSibling.hidden = false;
    shown.remove();
  });
  var figure = JSON.parse(button.nextElementSibling.textContent);
  var target = document.createElement('div');
  button.parentElement.appendChild(target);
  button.hidden = true;
  Plotly.newPlot(target, figure.data, figure.layout, {displaylogo: false});
}
"""


@lru_cache(maxsize=1)
def plotly_script() -> str:
    """plotly.js (about 4.8 MB) and the on-demand drawing, as inline ``<script>``s for the
    page's head."""
    from plotly.offline import get_plotlyjs

    return f"<script>{get_plotlyjs()}</script><script>{_SHOW_3D}</script>"


def structure_view(structure: Structure, title: str) -> str:
    """A rotatable 3D view of ``structure``'s cell and atoms (Jmol colours)."""
    with warnings.catch_warnings():  # pymatviz's notes on radii and missing properties
        warnings.simplefilter("ignore")
        import pymatviz

        figure = pymatviz.structure_3d(
            structure,
            atomic_radii=0.5,
            show_bonds=False,
            show_image_sites=False,
            subplot_title=False,
        )
    figure.update_layout(
        width=VIEW_PX, height=VIEW_PX, margin={"l": 0, "r": 0, "t": 0, "b": 0}, showlegend=False
    )
    return _fragment(figure, "structure-view", title, "3D view")


def hull_view(
    composition: Composition,
    formation_energy_per_atom: float,
    reference: HullReference,
    label: str,
) -> str:
    """The hull of ``composition``'s chemical system from ``reference`` (formation energies,
    eV/atom) with the candidate, at its own formation energy, highlighted; a sentence
    instead where there is nothing to draw."""
    symbols = frozenset(element.symbol for element in composition.elements)
    if not 2 <= len(symbols) <= MAX_HULL_ELEMENTS:
        return note(f"no hull plot for a system of {len(symbols)} element(s)")
    if symbols - reference.elements:
        missing = ", ".join(sorted(symbols - reference.elements))
        return note(f"no hull plot: {missing} absent from the {reference.name} reference hull")
    candidate = PDEntry(composition, formation_energy_per_atom * composition.num_atoms, label)
    diagram = PhaseDiagram([*reference.system_entries(symbols), candidate])
    e_above_hull = diagram.get_e_above_hull(candidate) or 0.0
    plotter = PDPlotter(diagram, backend="plotly", show_unstable=max(0.1, e_above_hull + 0.01))
    figure = plotter.get_plot(highlight_entries=[candidate])
    figure.update_layout(width=520, height=420, margin={"l": 30, "r": 30, "t": 20, "b": 20})
    return _fragment(figure, "hull-plot", label, "hull in 3D")


def _fragment(figure, kind: str, title: str, button: str) -> str:
    """``figure`` drawn with the page (2D), or as JSON behind a ``button`` (3D)."""
    import plotly.io as pio

    title = html.escape(title)
    if not any(trace.type.endswith("3d") for trace in figure.data):
        body = pio.to_html(
            figure, include_plotlyjs=False, full_html=False, config={"displaylogo": False}
        )
        return f'<div class="{kind}" title="{title}">{body}</div>'
    data = pio.to_json(figure).replace("</", "<\\/")  # no "</script>" inside the JSON
    return (
        f'<div class="{kind} on-demand" title="{title}">'
        f'<button type="button" onclick="showFigure(this)">{button}</button>'
        f'<script type="application/json">{data}</script></div>'
    )


def note(text: str) -> str:
    """A sentence in place of a view."""
    return f'<p class="hull-note"><em>{html.escape(text)}</em></p>'
