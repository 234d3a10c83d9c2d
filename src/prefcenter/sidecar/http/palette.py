"""The pages' colours, derived from ``BRAND_COLOR`` so that any brand stays readable.

The header and the main button put text on the brand colour. White text on a light
brand (a yellow, a pastel) fails WCAG 2.2 §1.4.3 (contrast at least 4.5:1), so the
text on the brand is white or black, whichever contrasts more: for every colour one of
the two reaches 4.58:1 (a near-black grey would leave some mid-tones at 4.1). A brand
too light to stand out from the page also gets a dark edge on its buttons (§1.4.11,
3:1 for the boundary of a control).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The body text colour (base.html): a dark edge for light brands.
DARK = "#111827"
#: The two choices for text on the brand.
WHITE = "#ffffff"
BLACK = "#000000"
#: The page background (``body`` in base.html).
PAGE = "#f9fafb"
DEFAULT_BRAND = "#1d4ed8"
#: WCAG 2.2 §1.4.11: a control's boundary against what surrounds it.
EDGE_CONTRAST = 3.0

_HEX = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


@dataclass(frozen=True)
class Palette:
    """The colours base.html uses, as CSS hex colours."""

    brand: str
    #: Text drawn on the brand colour.
    on_brand: str
    #: The border of a brand-coloured button.
    brand_edge: str


def palette(brand: str) -> Palette:
    """The page colours for ``brand`` (a CSS hex colour; anything else gets the default).

    Settings refuse a malformed ``BRAND_COLOR``; the fallback covers ``Settings`` built
    in code without that check, so a page never carries an unchecked value into its CSS.
    """
    if not _HEX.fullmatch(brand):
        brand = DEFAULT_BRAND
    on_brand = WHITE if contrast(brand, WHITE) >= contrast(brand, BLACK) else BLACK
    edge = brand if contrast(brand, PAGE) >= EDGE_CONTRAST else DARK
    return Palette(brand=brand, on_brand=on_brand, brand_edge=edge)


def contrast(first: str, second: str) -> float:
    """The WCAG contrast ratio of two hex colours, from 1 (same) to 21 (black on white)."""
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def luminance(colour: str) -> float:
    """WCAG relative luminance of a ``#rgb`` or ``#rrggbb`` colour (0 black, 1 white)."""
    digits = colour[1:]
    if len(digits) == 3:
        digits = "".join(digit * 2 for digit in digits)
    channels = [int(digits[index : index + 2], 16) / 255 for index in (0, 2, 4)]
    red, green, blue = (
        value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4
        for value in channels
    )
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue
