"""The markdown page: summary table with goals, machine facts, per-case details and SVG charts."""

import os
import statistics
from dataclasses import dataclass, field

from . import svg
from .cases import SMOKE, TOOLS, describe


@dataclass
class Outcome:
    """Every finished run of one case, and the error that stopped it, if any."""

    case: object
    results: list = field(default_factory=list)
    error: str | None = None


def spread(values):
    """(median, min, max)."""
    return statistics.median(values), min(values), max(values)


def number(value):
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def with_range(values):
    median, low, high = spread(values)
    return f"{number(median)} ({number(low)}–{number(high)})" if len(values) > 1 else number(median)


def collect(results, metric):
    """tool -> list of values over the runs, in the order tools first appear."""
    values = {}
    for result in results:
        for tool, value in result.values.get(metric, {}).items():
            values.setdefault(tool, []).append(value)
    return values


def summary_rows(outcome):
    """Table rows and missed-goal sentences for one case."""
    case, rows, missed = outcome.case, [], []
    if not outcome.results:
        return [f"| {case.number} | {case.title} | failed: see below | | | | | |"], missed
    for metric in case.summary:
        values = collect(outcome.results, metric)
        forager = values.pop("forager")
        for reference in list(values) or [None]:
            goal = next((g for g in case.goals if g.metric == metric and g.reference == reference), None)
            ratio = statistics.median(forager) / statistics.median(values[reference]) if reference else None
            verdict = ""
            if goal:
                medians = {"forager": statistics.median(forager)}
                if reference:
                    medians[reference] = statistics.median(values[reference])
                verdict = "yes" if goal.met(medians) else "**no**"
                if not goal.met(medians):
                    missed.append(f"Case {case.number} ({case.title}): {metric} is "
                                  + (f"{ratio:.2f}x {TOOLS[reference]}" if reference else number(medians["forager"]))
                                  + f", goal {goal.describe()}.")
            rows.append(" | ".join([
                f"| {case.number}", metric, with_range(forager), TOOLS[reference] if reference else "—",
                with_range(values[reference]) if reference else "—", f"{ratio:.2f}x" if ratio else "—",
                goal.describe() if goal else "—", verdict + " |"]))
    return rows, missed


def noisy(outcome, tolerance=0.2):
    """Sentences for every summary value whose runs spread by more than `tolerance` of the median."""
    sentences = []
    for metric in outcome.case.summary:
        for tool, values in collect(outcome.results, metric).items():
            median, low, high = spread(values)
            if median and (high - low) / median > tolerance:
                sentences.append(f"Case {outcome.case.number}: {metric} of {TOOLS[tool]} spreads "
                                 f"{number(low)}–{number(high)} around {number(median)}; treat its ratio with care.")
    return sentences


def run_table(outcome):
    """Every metric of every run of one case."""
    runs = len(outcome.results)
    lines = ["| metric | tool | " + " | ".join(f"run {i + 1}" for i in range(runs)) + " |",
             "|---|---|" + "---|" * runs]
    for metric in dict.fromkeys(m for result in outcome.results for m in result.values):
        for tool, values in collect(outcome.results, metric).items():
            lines.append(f"| {metric} | {TOOLS[tool]} | " + " | ".join(number(v) for v in values) + " |")
    return lines


def write_charts(outcome, chart_dir):
    """Writes the case's SVG charts; returns their file names."""
    case, results, names = outcome.case, outcome.results, []
    if not results:
        return names
    if results[0].series:
        p99 = [r.values["lag p99 (ms)"]["forager"] for r in results]
        middle = results[p99.index(sorted(p99)[(len(p99) - 1) // 2])]
        lines = {name: [(row[0], row[i]) for row in middle.series] for i, name in ((1, "p50"), (2, "p99"), (3, "max"))}
        names.append(_save(chart_dir, f"case{case.number}-lag.svg", svg.line_chart(
            f"Case {case.number}: lag per second of load (run with the median p99)", "seconds since the first row",
            "lag (ms)", lines)))
    metric = case.summary[0]
    if not results[0].series:
        bars = [(TOOLS[tool], *spread(values)) for tool, values in collect(results, metric).items()]
        names.append(_save(chart_dir, f"case{case.number}.svg", svg.bar_chart(
            f"Case {case.number}: {case.title} — median, min–max", metric, bars)))
    return names


def _save(directory, name, text):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "w") as chart:
        chart.write(text)
    return name


def render(out_path, command, facts, mode, sizes, outcomes):
    """Writes the page and its charts next to it (docs/benchmarks.md -> docs/benchmarks/)."""
    chart_dir = os.path.splitext(out_path)[0]
    link_dir = os.path.basename(chart_dir)
    lines = ["# Benchmarks", "",
             f"Produced by `bench/run.py` ({mode}); see [bench/README.md](../bench/README.md) for what each case "
             "measures and how. Every reference was measured in the same run, on the same three servers, "
             "right after Forager. Values are medians over the runs with (min–max).", "",
             "```sh", command, "```", ""]
    if sizes == SMOKE:
        lines += ["**Smoke run:** the sizes are far too small for these numbers to mean anything (fixed start-up "
                  "costs dominate); the page only shows that the harness works end to end.", ""]
    lines += ["## Machine", ""]
    lines += [f"- {key}: {value}" for key, value in facts.items()]
    lines += ["", "## Summary", "",
              "| case | metric | Forager | reference | reference value | Forager ÷ reference | goal | met |",
              "|---|---|---|---|---|---|---|---|"]
    missed = []
    for outcome in outcomes:
        rows, case_missed = summary_rows(outcome)
        lines += rows
        missed += case_missed
    spreads = [sentence for outcome in outcomes for sentence in noisy(outcome)]
    if spreads:
        lines += ["", "## Noisy measurements", ""] + [f"- {sentence}" for sentence in spreads]
    failed = [o for o in outcomes if o.error]
    lines += ["", "## Goals missed", ""]
    lines += [f"- {sentence}" for sentence in missed] or ["None of the measured goals was missed."]
    if failed:
        lines += ["", "## Failures", ""]
        lines += [f"- Case {o.case.number} ({o.case.title}) failed after {len(o.results)} run(s):\n\n"
                  f"  ```\n  {o.error.strip().replace(chr(10), chr(10) + '  ')}\n  ```" for o in failed]
    for outcome in outcomes:
        lines += ["", f"## Case {outcome.case.number}: {outcome.case.title}", "", describe(outcome.case, sizes), ""]
        lines += [f"![case {outcome.case.number}]({link_dir}/{name})" for name in write_charts(outcome, chart_dir)]
        if outcome.results:
            lines += [""] + run_table(outcome)
    with open(out_path, "w") as page:
        page.write("\n".join(lines) + "\n")
