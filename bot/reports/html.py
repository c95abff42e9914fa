"""``supportbot report --html``: the report as one self-contained page of charts.

Plotly draws the charts (a well-kept library with funnels built in); its JavaScript is
inlined once in the page, so the file opens anywhere with no network. The figures are
the same :class:`~bot.reports.figures.Report` the text formats print; a module of its own
because only this page needs plotly.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from bot.reports.figures import DropOffRow, Figures, Report, breakdown
from bot.reports.formats import Section, sections

_CONFIG = {"displayModeBar": False, "responsive": True}
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2.5rem; }
.kpis { display: flex; gap: 1rem; flex-wrap: wrap; }
.kpi { border: 1px solid #ddd; border-radius: 8px; padding: .8rem 1.2rem; min-width: 8rem; }
.kpi b { display: block; font-size: 1.5rem; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .9rem; }
th, td { border-bottom: 1px solid #eee; padding: .3rem .6rem; text-align: left; }
.chart { min-height: 360px; } .empty { color: #888; font-style: italic; }
"""


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _chart(figure: go.Figure, chart_id: str, title: str) -> str:
    figure.update_layout(title=title, margin={"t": 50, "l": 60, "r": 20, "b": 60}, height=380)
    body = figure.to_html(full_html=False, include_plotlyjs=False, div_id=chart_id, config=_CONFIG)
    return f'<div class="chart" data-chart="{chart_id}">{body}</div>'


def _empty(title: str) -> str:
    return f'<p class="empty">{html.escape(title)}: nothing to show for this period.</p>'


def _csat_bars(groups: Sequence[tuple[str, Figures]], chart_id: str, title: str) -> str:
    rated = [(name, f) for name, f in groups if f.csat is not None]
    if not rated:
        return _empty(title)
    figure = go.Figure(
        go.Bar(
            x=[name for name, _ in rated],
            y=[100 * (f.csat or 0) for _, f in rated],
            text=[f"{100 * (f.csat or 0):.0f}% of {f.ratings}" for _, f in rated],
            textposition="auto",
        )
    )
    figure.update_yaxes(title="CSAT %", range=[0, 100])
    return _chart(figure, chart_id, title)


def _csat_over_time(days: Sequence[tuple[str, Figures]]) -> str:
    rated = [(day, f) for day, f in days if f.csat is not None]
    title = "CSAT over time"
    if not rated:
        return _empty(title)
    figure = go.Figure(
        go.Scatter(
            x=[day for day, _ in rated],
            y=[100 * (f.csat or 0) for _, f in rated],
            mode="lines+markers",
            name="CSAT %",
        )
    )
    figure.update_yaxes(title="CSAT %", range=[0, 100])
    figure.update_xaxes(type="category")
    return _chart(figure, "chart-csat-over-time", title)


def _funnels(rows: Sequence[DropOffRow]) -> list[str]:
    by_flow: dict[tuple[str, str], list[DropOffRow]] = defaultdict(list)
    for row in rows:
        if row.reached:
            by_flow[(row.flow, row.variant)].append(row)
    charts = []
    for index, ((flow, variant), steps) in enumerate(sorted(by_flow.items())):
        figure = go.Figure(
            go.Funnel(
                y=[r.step for r in steps],
                x=[r.reached for r in steps],
                textinfo="value+percent initial",
            )
        )
        charts.append(_chart(figure, f"chart-funnel-{index}", f"Funnel: {flow} ({variant})"))
    return charts or [_empty("Funnels")]


def _reasons(reasons: Sequence[tuple[str, int]]) -> str:
    title = "Why customers asked for a person"
    if not reasons:
        return _empty(title)
    figure = go.Figure(
        go.Bar(
            y=[reason for reason, _ in reasons],
            x=[count for _, count in reasons],
            orientation="h",
        )
    )
    figure.update_yaxes(autorange="reversed")
    return _chart(figure, "chart-handoff-reasons", title)


def _table(section: Section) -> str:
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in section.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('–' if v is None else str(v))}</td>" for v in row)
        + "</tr>"
        for row in section.rows
    )  # fmt: skip
    return f"<h2>{html.escape(section.title)}</h2><table><tr>{head}</tr>{body}</table>"


def render_html(report: Report) -> str:
    s = report.summary
    kpis: list[tuple[str, Any]] = [
        ("CSAT", _pct(s.csat)),
        ("Average score", "–" if s.average_score is None else f"{s.average_score:.2f}"),
        ("Ratings", s.ratings),
        ("Response rate", _pct(s.response_rate)),
        ("Containment", _pct(s.containment)),
        ("Handoff rate", _pct(s.handoff_rate)),
        ("Conversations", s.conversations),
    ]
    kpi_html = "".join(
        f'<div class="kpi">{html.escape(label)}<b>{html.escape(str(value))}</b></div>'
        for label, value in kpis
    )
    journeys = report.journeys
    charts = [
        _csat_over_time(breakdown(journeys, "day")),
        _csat_bars(breakdown(journeys, "persona"), "chart-csat-persona", "CSAT by persona"),
        _csat_bars(breakdown(journeys, "flow"), "chart-csat-flow", "CSAT by flow"),
        _reasons(report.handoff_reasons),
        *_funnels(report.dropoff),
    ]
    tables = "".join(_table(section) for section in sections(report))
    period = (
        f"{report.since.date() if report.since else 'the beginning'} – "
        f"{report.until.date() if report.until else 'now'}"
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>supportbot report {html.escape(period)}</title><style>{_STYLE}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>"
        f"<h1>supportbot report</h1><p>{html.escape(period)}</p>"
        f'<div class="kpis">{kpi_html}</div>' + "".join(charts) + tables + "</body></html>"
    )
