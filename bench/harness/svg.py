"""Hand-written SVG charts: horizontal bars with min-max whiskers, and lines over time."""

import math
from html import escape

WIDTH = 720
COLORS = ("#d08c00", "#3b6ea8", "#6a9a3a", "#a84a3b", "#7a5aa8")
FONT = 'font-family="sans-serif" font-size="12"'
TITLE_FONT = 'font-family="sans-serif" font-size="15" font-weight="bold"'


def _nice_max(value):
    """A round axis maximum a little above value: a small multiple of a power of ten."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    factors = (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 20)
    return next(magnitude * factor for factor in factors if magnitude * factor >= value * 1.05)


def _number(value):
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def bar_chart(title, unit, bars):
    """bars: (label, median, minimum, maximum) per tool; one horizontal bar each."""
    label_width, bar_height, top = 230, 28, 44
    height = top + len(bars) * (bar_height + 12) + 36
    plot = WIDTH - label_width - 90
    scale_max = _nice_max(max(high for _, _, _, high in bars))
    parts = [f'<text x="10" y="22" {TITLE_FONT}>{escape(title)}</text>']
    for index, (label, median, low, high) in enumerate(bars):
        y = top + index * (bar_height + 12)
        width = plot * median / scale_max
        parts.append(f'<text x="{label_width - 8}" y="{y + 18}" {FONT} text-anchor="end">{escape(label)}</text>')
        parts.append(f'<rect x="{label_width}" y="{y}" width="{width:.1f}" height="{bar_height}" '
                     f'fill="{COLORS[index % len(COLORS)]}"/>')
        x_low, x_high = label_width + plot * low / scale_max, label_width + plot * high / scale_max
        middle = y + bar_height / 2
        parts.append(f'<path d="M{x_low:.1f},{middle - 6}v12M{x_low:.1f},{middle}H{x_high:.1f}M{x_high:.1f},'
                     f'{middle - 6}v12" stroke="#222" fill="none"/>')
        parts.append(f'<text x="{max(x_high, label_width + width) + 6:.1f}" y="{y + 18}" {FONT}>{_number(median)}</text>')
    axis_y = height - 26
    parts.append(f'<line x1="{label_width}" y1="{axis_y}" x2="{label_width + plot}" y2="{axis_y}" stroke="#444"/>')
    for tick in range(5):
        x = label_width + plot * tick / 4
        parts.append(f'<text x="{x:.1f}" y="{axis_y + 16}" {FONT} text-anchor="middle">'
                     f'{_number(scale_max * tick / 4)}</text>')
    parts.append(f'<text x="{label_width + plot + 8}" y="{axis_y + 4}" {FONT}>{escape(unit)}</text>')
    return _document(height, parts)


def line_chart(title, x_label, y_label, series):
    """series: name -> [(x, y), ...]; one polyline each, on shared axes starting at zero."""
    left, top, right, bottom, height = 70, 40, 150, 46, 360
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    points = [point for values in series.values() for point in values]
    x_max = _nice_max(max(x for x, _ in points))
    y_max = _nice_max(max(y for _, y in points))
    parts = [f'<text x="10" y="22" {TITLE_FONT}>{escape(title)}</text>',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#444"/>']
    for tick in range(5):
        y = top + plot_h - plot_h * tick / 4
        x = left + plot_w * tick / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" {FONT} text-anchor="end">{_number(y_max * tick / 4)}</text>')
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" {FONT} text-anchor="middle">'
                     f'{_number(x_max * tick / 4)}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 8}" {FONT} text-anchor="middle">{escape(x_label)}</text>')
    parts.append(f'<text x="16" y="{top + plot_h / 2}" {FONT} text-anchor="middle" '
                 f'transform="rotate(-90 16 {top + plot_h / 2})">{escape(y_label)}</text>')
    for index, (name, values) in enumerate(series.items()):
        color = COLORS[index % len(COLORS)]
        path = " ".join(f"{left + plot_w * x / x_max:.1f},{top + plot_h - plot_h * y / y_max:.1f}" for x, y in values)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        legend_y = top + 14 + index * 20
        parts.append(f'<line x1="{left + plot_w + 12}" y1="{legend_y - 4}" x2="{left + plot_w + 32}" '
                     f'y2="{legend_y - 4}" stroke="{color}" stroke-width="3"/>')
        parts.append(f'<text x="{left + plot_w + 38}" y="{legend_y}" {FONT}>{escape(name)}</text>')
    return _document(height, parts)


def _document(height, parts):
    body = "\n  ".join(parts)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}">\n  <rect width="100%" height="100%" fill="white"/>\n  {body}\n</svg>\n')
