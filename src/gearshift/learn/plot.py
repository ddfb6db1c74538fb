"""The cost-quality curves of ``learn eval`` as a self-contained SVG (no network, no fonts to
fetch): normalised cost across, performance gap recovered up, one line per router."""

from __future__ import annotations

from html import escape

from gearshift.learn.evaluate import EvalReport

__all__ = ["svg"]

_COLOURS = {
    "learned": "#d6336c",
    "rubric": "#1c7ed6",
    "length": "#f59f00",
    "random": "#868e96",
    "oracle": "#2b8a3e",
}
_W, _H, _PAD = 640, 440, 56


def _xy(x: float, y: float, top: float) -> tuple[float, float]:
    px = _PAD + x * (_W - 2 * _PAD)
    py = _H - _PAD - (y / top) * (_H - 2 * _PAD)
    return round(px, 1), round(py, 1)


def svg(report: EvalReport, title: str = "cost-quality curves") -> str:
    """An SVG document of every router's curve, with its APGR in the legend."""
    top = max(1.0, *(float(r.curve.y.max()) for r in report.routers)) * 1.05
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" font-family="sans-serif" font-size="12">',
        f'<rect width="{_W}" height="{_H}" fill="white"/>',
        f'<text x="{_W / 2}" y="24" text-anchor="middle" font-size="15">{escape(title)}</text>',
    ]
    for tick in range(6):
        v = tick / 5
        x0, _ = _xy(v, 0, top)
        parts.append(f'<line x1="{x0}" y1="{_PAD}" x2="{x0}" y2="{_H - _PAD}" stroke="#eee"/>')
        parts.append(f'<text x="{x0}" y="{_H - _PAD + 16}" text-anchor="middle">{v:.1f}</text>')
    for tick in range(int(top * 5) + 1):
        v = tick / 5
        _, y1 = _xy(0, v, top)
        parts.append(f'<line x1="{_PAD}" y1="{y1}" x2="{_W - _PAD}" y2="{y1}" stroke="#eee"/>')
        parts.append(f'<text x="{_PAD - 6}" y="{y1 + 4}" text-anchor="end">{v:.1f}</text>')
    parts.append(
        f'<text x="{_W / 2}" y="{_H - 14}" text-anchor="middle">'
        "cost (0 = always weak, 1 = always strong)</text>"
    )
    parts.append(
        f'<text x="16" y="{_H / 2}" transform="rotate(-90 16 {_H / 2})" text-anchor="middle">'
        "performance gap recovered</text>"
    )
    for i, r in enumerate(report.routers):
        colour = _COLOURS.get(r.name, "#000")
        points = " ".join(
            f"{px},{py}"
            for px, py in (
                _xy(float(x), float(y), top) for x, y in zip(r.curve.x, r.curve.y, strict=True)
            )
        )
        dash = ' stroke-dasharray="5,4"' if r.name in {"random", "oracle"} else ""
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>'
        )
        ly = _H - _PAD - 14 - 18 * (len(report.routers) - 1 - i)  # lower right: below the line
        parts.append(
            f'<line x1="{_W - _PAD - 150}" y1="{ly}" x2="{_W - _PAD - 126}" y2="{ly}" '
            f'stroke="{colour}" stroke-width="2"{dash}/>'
        )
        parts.append(
            f'<text x="{_W - _PAD - 120}" y="{ly + 4}">{escape(r.name)} APGR {r.apgr:.3f}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
