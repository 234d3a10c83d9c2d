"""Page colours from BRAND_COLOR: text on the brand is readable for every colour."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from prefcenter.sidecar.http.palette import (
    BLACK,
    DARK,
    DEFAULT_BRAND,
    PAGE,
    WHITE,
    contrast,
    luminance,
    palette,
)

hex_colours = st.integers(0, 0xFFFFFF).map(lambda value: f"#{value:06x}")
short_colours = st.text("0123456789abcdefABCDEF", min_size=3, max_size=3).map(lambda s: "#" + s)


@given(hex_colours)
def test_text_on_any_brand_meets_wcag_aa(brand: str) -> None:
    colours = palette(brand)
    assert colours.on_brand in (WHITE, BLACK)
    assert contrast(colours.brand, colours.on_brand) >= 4.5  # §1.4.3, normal text


@given(hex_colours)
def test_a_brand_button_stands_out_from_the_page(brand: str) -> None:
    colours = palette(brand)
    assert contrast(colours.brand_edge, PAGE) >= 3.0  # §1.4.11, a control's boundary
    assert colours.brand_edge in (brand, DARK)


@given(short_colours)
def test_short_form_means_the_doubled_digits(brand: str) -> None:
    doubled = "#" + "".join(digit * 2 for digit in brand[1:])
    assert luminance(brand) == luminance(doubled)
    assert palette(brand).on_brand == palette(doubled).on_brand


def test_known_values() -> None:
    assert contrast(BLACK, WHITE) == 21.0
    assert contrast("#777777", "#777777") == 1.0
    assert palette("#1d4ed8").on_brand == WHITE  # the default blue keeps white text
    assert palette("#ffcc00").on_brand == BLACK  # a yellow gets black text
    assert palette("#ffcc00").brand_edge == DARK  # and a dark edge on its buttons


def test_css_never_gets_an_unchecked_value() -> None:
    # Settings refuse these; Settings built in code skip that check, the palette does not.
    for value in ("red", "#12", "#1d4ed8; } body { display: none", "#1d4ed8 "):
        assert palette(value).brand == DEFAULT_BRAND


@given(st.text(max_size=12))
def test_anything_but_a_hex_colour_gets_the_default(value: str) -> None:
    if palette(value).brand != value:
        assert palette(value) == palette(DEFAULT_BRAND)
