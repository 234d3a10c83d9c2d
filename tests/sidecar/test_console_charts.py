"""The SVG charts: well-formed XML whatever the labels and numbers, text always escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from prefcenter.sidecar.console.charts import Line, bar_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"
#: Text XML 1.0 can carry (a chart never shows control characters: they would not parse).
text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
counts = st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=40)


@given(text, text, counts, st.dictionaries(text, st.just(0), min_size=1, max_size=4))
def test_a_bar_chart_is_well_formed_svg(
    title: str, description: str, values: list[int], names: dict[str, int]
) -> None:
    categories = [f"d{i}" for i in range(len(values))]
    series = dict.fromkeys(names, values)
    chart = bar_chart("c", title, description, categories, series, marker=Line(1, "<line>"))
    root = ET.fromstring(str(chart))
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.find(f"{SVG}title").text == (title or None)  # type: ignore[union-attr]
    assert "<line>" not in str(chart).replace("<line ", "")  # the marker's label is escaped


@given(st.lists(st.one_of(st.none(), st.floats(0, 1)), min_size=1, max_size=40))
def test_a_line_chart_skips_days_without_a_value(rates: list[float | None]) -> None:
    categories = [f"d{i}" for i in range(len(rates))]
    chart = line_chart("r", "t", "d", categories, {"rate": rates}, lines=[Line(0.003, "0.3 %")])
    root = ET.fromstring(str(chart))
    assert len(root.findall(f"{SVG}circle")) == sum(rate is not None for rate in rates)


def test_the_bars_stack_to_the_total() -> None:
    chart = bar_chart("c", "t", "d", ["a"], {"x": [30], "y": [10]})
    root = ET.fromstring(str(chart))
    heights = [float(r.get("height", 0)) for r in root.findall(f"{SVG}rect")[1:3]]
    assert heights[0] == 3 * heights[1]  # 30 and 10 on one axis
