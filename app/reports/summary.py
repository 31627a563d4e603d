"""The executive summary: findings stated from the numbers, and the prompt an AI model gets.

Without a model the offline analyser in app.ai picks the most telling findings; if the AI area
is not installed the findings stand as they are. Either way the label says who wrote it.
"""

from __future__ import annotations

import importlib.util

from app.reports.analytics import DATE, NUMBER, TEXT, Analysis
from app.reports.model import ExecutiveSummary, Report, display

OFFLINE_SOURCE = "the offline analyser (no AI model was used)"
AI_SYSTEM = (
    "You are a business analyst writing the executive summary of a data report for a busy "
    "manager. Use only the facts in the document. Lead with the most important finding, give "
    "concrete numbers, and point out risks or data-quality problems. Write three to five short "
    "paragraphs of plain text, no headings, no tables."
)
_MISSING_WORTH_SAYING = 0.05


def findings(analysis: Analysis) -> list[str]:
    """Plain sentences stating what the numbers show, most general first."""
    sentences = [_shape(analysis)]
    sentences += _value_findings(analysis)
    sentences += _group_findings(analysis)
    sentences += _trend_findings(analysis)
    sentences += _quality_findings(analysis)
    return [s for s in sentences if s]


def _shape(analysis: Analysis) -> str:
    parts = [
        f"{len(analysis.columns_of(k))} {label}"
        for k, label in ((NUMBER, "numeric"), (TEXT, "text"), (DATE, "date"))
        if analysis.columns_of(k)
    ]
    detail = f" ({', '.join(parts)})" if parts else ""
    return f"The data has {analysis.rows:,} rows and {len(analysis.kinds)} columns{detail}."


def _stats(analysis: Analysis, column: str | None) -> dict:
    return next((c for c in analysis.columns if c["column"] == column), {})


def _value_findings(analysis: Analysis) -> list[str]:
    stats = _stats(analysis, analysis.value_column)
    if "sum" not in stats:
        return []
    return [
        f"{analysis.value_column} totals {display(stats['sum'])}, with a mean of "
        f"{display(stats['mean'])} and a median of {display(stats['median'])}; values range "
        f"from {display(stats['min'])} to {display(stats['max'])}."
    ]


def _group_findings(analysis: Analysis) -> list[str]:
    groups = analysis.groups
    if groups is None or groups.empty:
        return []
    measure = "sum" if "sum" in groups.columns else "count"
    total = _group_total(analysis, measure)
    top_name, top_value = str(groups.index[0]), float(groups[measure].iloc[0])
    what = analysis.value_column if measure == "sum" else "rows"
    sentence = f"By {analysis.group_by}, '{top_name}' leads with {display(top_value)} of {what}"
    if total:
        sentence += f" ({top_value / total:.0%} of the total)"
    sentence += f", across {analysis.group_count:,} groups."
    result = [sentence]
    if len(groups) > 1 and measure == "sum":
        low_name, low_value = str(groups.index[-1]), float(groups[measure].iloc[-1])
        result.append(
            f"Among the groups shown, '{low_name}' is smallest with {display(low_value)}."
        )
    return result


def _group_total(analysis: Analysis, measure: str) -> float:
    if measure == "count":
        return float(analysis.rows)
    return float(_stats(analysis, analysis.value_column).get("sum") or 0.0)


def _trend_findings(analysis: Analysis) -> list[str]:
    series = analysis.time_series
    if series is None or len(series) < 2:
        return []
    measure = "sum" if "sum" in series.columns else "count"
    values = series[measure].fillna(0.0).astype(float)
    first, last = float(values.iloc[0]), float(values.iloc[-1])
    what = analysis.value_column if measure == "sum" else "rows"
    sentence = (
        f"Per {analysis.period}, {what} went from {display(first)} in "
        f"{series.index[0]} to {display(last)} in {series.index[-1]}"
    )
    if first:
        sentence += f" ({(last - first) / abs(first):+.0%})"
    peak = values.idxmax()
    return [
        sentence + f"; the highest {analysis.period} was {peak} with "
        f"{display(float(values.max()))}."
    ]


def _quality_findings(analysis: Analysis) -> list[str]:
    result = []
    filled = [c for c in analysis.columns if c["type"] != "empty"]
    worst = max(filled, key=lambda c: c["missing"], default=None)
    if worst and analysis.rows:
        share = worst["missing"] / analysis.rows
        if share >= _MISSING_WORTH_SAYING:
            result.append(f"Column {worst['column']} is missing {share:.0%} of its values.")
    for column, count in analysis.invalid.items():
        result.append(
            f"Column {column} has {count:,} values that are not "
            f"{analysis.kinds[column]}s and were left out of its statistics."
        )
    empty = [c["column"] for c in analysis.columns if c["type"] == "empty"]
    if empty:
        result.append(f"{len(empty)} column(s) are entirely empty: {', '.join(empty)}.")
    return result


def offline_summary(analysis: Analysis, max_sentences: int = 6) -> ExecutiveSummary:
    """The summary without an AI model: the offline analyser's pick when app.ai is installed."""
    facts = findings(analysis)
    if importlib.util.find_spec("app.ai.offline"):
        from app.ai import offline

        facts = offline.analyse(" ".join(facts), "summary", max_sentences)["items"] or facts
    return ExecutiveSummary(" ".join(facts), OFFLINE_SOURCE)


def ai_prompt(report: Report, analysis: Analysis) -> str:
    """The user turn for the model: findings and the report's tables, fenced as material."""
    lines = ["Findings:", *(f"- {s}" for s in findings(analysis)), ""]
    for section in report.sections:
        for table in section.tables:
            lines.append(f"{table.title}:")
            lines.append(" | ".join(table.columns))
            lines += [" | ".join(display(v) for v in row) for row in table.rows[:25]]
            lines.append("")
    return f"<document>\n{chr(10).join(lines)}\n</document>\n\nWrite the executive summary."
