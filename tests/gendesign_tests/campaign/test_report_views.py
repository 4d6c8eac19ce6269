"""The report's interactive views: a candidate placed on the reference hull of its system, and
a 3D view of its structure, as HTML fragments that plotly draws offline."""

from __future__ import annotations

import pytest
from pymatgen.core import Composition, Lattice, Structure

from gendesign.campaign import report_views as views
from relax.reference_hull import mp20_hull_reference


@pytest.mark.needs_data
def test_a_candidate_is_placed_on_its_systems_hull_or_told_why_not():
    reference = mp20_hull_reference()
    fragment = views.hull_view(Composition("NaCl"), -1.9, reference, "c7 (chgnet-0.3.0)")
    # the candidate is highlighted among the system's known phases
    assert fragment.startswith('<div class="hull-plot" title="c7 (chgnet-0.3.0)">')
    assert "Highlighted" in fragment and "c7 (chgnet-0.3.0)" in fragment and "NaCl" in fragment
    # five elements: PDPlotter draws at most four
    five = views.hull_view(Composition("LiNaKRbCl4"), -1.0, reference, "c8")
    assert five == '<p class="hull-note"><em>no hull plot for a system of 5 element(s)</em></p>'
    # an element the reference lacks
    missing = views.hull_view(Composition("NaOg"), -0.1, reference, "c9")
    assert "Og absent from the mp20 reference hull" in missing


def test_a_structure_view_waits_behind_a_button_and_holds_every_site():
    rock_salt = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    fragment = views.structure_view(rock_salt, "c1 <NaCl>")
    # 3D: drawn on demand (a page keeps few WebGL contexts), its figure waiting as JSON
    assert fragment.startswith('<div class="structure-view on-demand" title="c1 &lt;NaCl&gt;">')
    assert 'onclick="showFigure(this)"' in fragment and '"type":"scatter3d"' in fragment
    assert "Plotly.newPlot" not in fragment and "Na" in fragment and "Cl" in fragment
    # plotly.js comes once per page, not once per view
    assert len(fragment) < 200_000 < len(views.plotly_script())
