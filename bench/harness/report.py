"""The markdown page: summary table with goals, machine facts, per-case details and SVG charts."""

import os
import re
import statistics
from dataclasses import dataclass, field

from . import svg
from .cases import TOOLS, describe
from .env import SMOKE


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
        references = list(values) or [None]
        if values and any(g.metric == metric and g.reference is None for g in case.goals):
            references.append(None)  # a goal on Forager's own value, beside the references'
        for reference in references:
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


KEPT = "_Kept from an earlier run"
EARLIER = "(earlier run)"


@dataclass
class Kept:
    """What an earlier page holds for one case that this run did not measure."""

    summary: list = field(default_factory=list)
    noisy: list = field(default_factory=list)
    missed: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    section: list = field(default_factory=list)


def sections(text):
    """The page's `## ` sections: heading -> its lines (without the heading)."""
    found, current = {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            current = line[3:]
            found[current] = []
        elif current is not None:
            found[current].append(line)
    return found


def items(lines):
    """A section's `- ` list items, each with its continuation lines, as text."""
    found = []
    for line in lines:
        if line.startswith("- "):
            found.append(line)
        elif found and (line.startswith("  ") or not line):
            found[-1] += "\n" + line
    return [item.rstrip("\n") for item in found]


def case_of(item):
    """The case number an item (`- Case 3 (...)`, `- Case 3: ...`) or summary row (`| 3 | ...`) is about."""
    match = re.match(r"(?:- Case |\| )(\d+)\b", item)
    return int(match.group(1)) if match else None


def earlier_cases(out_path, measured):
    """The cases of the existing page at `out_path` that are not in `measured`, with a line naming the
    run that measured them; {} when there is no page or it is a smoke page."""
    if not os.path.exists(out_path):
        return {}
    with open(out_path) as page:
        text = page.read()
    if "**Smoke run:**" in text:
        return {}
    command = re.search(r"^```sh\n(.*?)\n```", text, re.M | re.S)
    started = re.search(r"^- started: (.*)$", text, re.M)
    commit = re.search(r"`git describe --dirty` ([^;\s]+)", text)
    cpu = re.search(r"^- CPU: (.*)$", text, re.M)
    provenance = (f"{KEPT}: `{command.group(1) if command else 'unknown command'}`, started "
                  f"{started.group(1) if started else 'at an unknown time'}, Forager "
                  f"{commit.group(1) if commit else 'of an unknown commit'}, CPU {cpu.group(1) if cpu else 'unknown'}; "
                  "the machine section above describes the latest run, not that one: compare its numbers only "
                  "with runs on that machine._")
    kept = {}
    parts = sections(text)
    for heading, lines in parts.items():
        match = re.match(r"Case (\d+): ", heading)
        if match and int(match.group(1)) not in measured:
            body = lines[:]
            while body and not body[-1]:
                body.pop()
            if not any(line.startswith(KEPT) for line in body):
                body = ["", provenance] + body[(1 if body and not body[0] else 0):]
            kept.setdefault(int(match.group(1)), Kept()).section = [f"## {heading}"] + body
    for number, entry in kept.items():
        entry.summary = [line for line in parts.get("Summary", []) if case_of(line) == number]
        entry.noisy = [item for item in items(parts.get("Noisy measurements", [])) if case_of(item) == number]
        entry.missed = [item for item in items(parts.get("Goals missed", [])) if case_of(item) == number]
        entry.failures = [item for item in items(parts.get("Failures", [])) if case_of(item) == number]
    return kept


def render(out_path, command, facts, mode, sizes, outcomes):
    """Writes the page and its charts next to it (docs/benchmarks.md -> docs/benchmarks/). Cases this
    run did not measure keep their sections, summary rows and goal lines from the existing page (unless
    either page is a smoke page), each section naming the run it came from."""
    chart_dir = os.path.splitext(out_path)[0]
    link_dir = os.path.basename(chart_dir)
    measured = {outcome.case.number: outcome for outcome in outcomes}
    kept = {} if sizes == SMOKE else earlier_cases(out_path, measured)
    order = sorted(set(measured) | set(kept))
    lines = ["# Benchmarks", "",
             f"Produced by `bench/run.py` ({mode}); see [bench/README.md](../bench/README.md) for what each case "
             "measures and how. Every reference was measured in the same run, on the same servers, "
             "right after Forager. Values are medians over the runs with (min–max).", "",
             "```sh", command, "```", ""]
    if kept:
        lines += [f"This command measured case{'s' if len(measured) > 1 else ''} "
                  f"{', '.join(str(n) for n in sorted(measured))}; case{'s' if len(kept) > 1 else ''} "
                  f"{', '.join(str(n) for n in sorted(kept))} {'are' if len(kept) > 1 else 'is'} kept from "
                  "earlier runs, each section naming the command and commit that measured it.", ""]
    if sizes == SMOKE:
        lines += ["**Smoke run:** the sizes are far too small for these numbers to mean anything (fixed start-up "
                  "costs dominate); the page only shows that the harness works end to end.", ""]
    lines += ["## Machine", ""]
    lines += [f"- {key}: {value}" for key, value in facts.items()]
    lines += ["", "## Summary", "",
              "| case | metric | Forager | reference | reference value | Forager ÷ reference | goal | met |",
              "|---|---|---|---|---|---|---|---|"]
    missed, spreads, failures = [], [], []
    for number in order:
        if number in measured:
            outcome = measured[number]
            rows, case_missed = summary_rows(outcome)
            lines += rows
            missed += [f"- {sentence}" for sentence in case_missed]
            spreads += [f"- {sentence}" for sentence in noisy(outcome)]
            if outcome.error:
                failures.append(f"- Case {number} ({outcome.case.title}) failed after {len(outcome.results)} run(s):"
                                f"\n\n  ```\n  {outcome.error.strip().replace(chr(10), chr(10) + '  ')}\n  ```")
        else:
            lines += [re.sub(r"^\| (\d+) \|", rf"| \1 {EARLIER} |", row) for row in kept[number].summary]
            missed += [item if item.endswith(EARLIER) else f"{item} {EARLIER}" for item in kept[number].missed]
            spreads += kept[number].noisy
            failures += kept[number].failures
    if spreads:
        lines += ["", "## Noisy measurements", ""] + spreads
    lines += ["", "## Goals missed", ""]
    lines += missed or ["None of the measured goals was missed."]
    if failures:
        lines += ["", "## Failures", ""] + failures
    for number in order:
        if number not in measured:
            lines += [""] + kept[number].section
            continue
        outcome = measured[number]
        lines += ["", f"## Case {number}: {outcome.case.title}", "", describe(outcome.case, sizes), ""]
        lines += [f"![case {number}]({link_dir}/{name})" for name in write_charts(outcome, chart_dir)]
        if outcome.results:
            lines += [""] + run_table(outcome)
    with open(out_path, "w") as page:
        page.write("\n".join(lines) + "\n")
