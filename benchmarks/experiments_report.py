"""The tables of ``benchmarks/experiments.py`` (Markdown, as pasted into BENCHMARKS.md)."""

from __future__ import annotations

PROJECTS = ("credit", "movielens")


def pct(entry: dict, ci: bool = True, digits: int = 1) -> str:
    text = f"{entry['rate']:.{digits}%} ({entry['count']}/{entry['of']})"
    if ci:
        text += f" [{entry['ci'][0]:.{digits}%}, {entry['ci'][1]:.{digits}%}]"
    return text


def units(value) -> str:
    return "–" if value is None else f"{value:,.0f}"


def aa_table(results: dict) -> list[str]:
    s = results["settings"]
    lines = [
        f"A/A: the champion on both arms, {s['experiments']} experiments per population, "
        f"analysed after every {s['batch']:,} units up to {s['horizon']:,} "
        f"({s['horizon'] // s['batch']} looks); an experiment ends at its first `ship` (what "
        "`--auto-promote` acts on). False ship = a `ship` of an identical model at any look "
        "(target <= 5% with sequential inference); Wilson 95% intervals.",
        "",
        "| population | analysis | false ship | a `keep` at some look | SRM alarm at some look "
        "| looks without an estimate (champion mean 0; OverflowError) |",
        "|---|---|---|---|---|---|",
    ]
    for project in PROJECTS:
        for name, row in results[project]["aa"].items():
            if "once" in name:
                label = name.replace("plan", f"plan ({row['units']:,} units)")
                rest = f"{pct(row['keep'], False)} | {pct(row['invalid'], False)} | "
                rest += (
                    f"{row['overflow']['count']} OverflowError" if row["overflow"]["count"] else "–"
                )
            else:
                rest = (
                    f"{pct(row['keep_before_ship'], False)} | {pct(row['srm_alarm'], False)} | "
                    f"{pct(row['looks_without_estimate'], False)}; "
                    f"{row['looks_with_overflow']['count']}"
                )
                label = name
            lines.append(f"| {project} | {label} | **{pct(row['ship'])}** | {rest} |")
    return lines


def ab_table(results: dict) -> list[str]:
    s = results["settings"]
    lines = [
        f"A/B: the known-better challenger, {s['experiments']} experiments per population; "
        f"sequential and fixed-with-peeking analysed after every {s['batch']:,} units up to "
        f"{s['horizon']:,} until the first `ship`, fixed-horizon once at the planned size (80% "
        "power for the pool's true difference, at least 1,000 units per arm), all at alpha 0.05.",
        "",
        "| population | true difference (lift) | analysis | power (ship) | shipped by the plan's "
        "size | median units to ship | a `keep` first |",
        "|---|---|---|---|---|---|---|",
    ]
    for project in PROJECTS:
        entry = results[project]
        plan = entry["plan"]
        truth = f"{plan['true_diff']:+.4f} ({plan['true_lift']:+.0%})"
        for name, row in entry["ab"].items():
            if "once" in name:
                label = name.replace("plan", f"plan ({row['units']:,} units)")
                shipped, median, keep = pct(row["ship"], False), units(row["units"]), row["keep"]
            else:
                label = name + f" (up to {s['horizon']:,})"
                shipped = pct(row["ship_by_plan"], False)
                median, keep = units(row["median_units_to_ship"]), row["keep_before_ship"]
            lines.append(
                f"| {project} | {truth} | {label} | **{pct(row['ship'])}** | {shipped} | "
                f"{median} | {pct(keep, False)} |"
            )
    return lines


def srm_table(results: dict) -> list[str]:
    srm = results["srm"]
    lines = [
        f"SRM: an assignment bug drops {srm['drop']:.0%} of the challenger's units (chi-square "
        "against 50/50, alarm at p < 0.001); units = assigned before the drop.",
        "",
        "| units assigned | detected (measured) | detected (noncentral chi-square) |",
        "|---:|---|---|",
    ]
    for row in srm["detection"]:
        lines.append(f"| {row['units']:,} | {pct(row)} | {row['analytic']:.1%} |")
    lines += [
        "",
        f"- units for 95% detection (noncentral chi-square): "
        f"**{srm['units_for_95pct_analytic']:,.0f}** "
        f"(about {srm['units_for_95pct_analytic'] / 2:,.0f} per arm)",
        "- A/A false alarms, one analysis at 20,000 units: "
        f"**{pct(srm['aa_at_20000_units'], digits=2)}**",
        f"- A/A false alarms per analysis, every look of the A/A sequential runs: "
        f"**{pct(srm['aa_per_analysis'], digits=2)}**",
        f"- A/A experiments with a false alarm at any of their looks: "
        f"{pct(srm['aa_per_experiment_any_look'], digits=2)}",
    ]
    return lines


def cuped_table(results: dict) -> list[str]:
    lines = [
        "CUPED: the width of the difference's fixed-horizon interval with CUPED over without, "
        "on the same units at the planned size (mean over the experiments).",
        "",
        "| population | covariate | correlation with the outcome | width ratio A/B (A/A) "
        "| variance reduction A/B |",
        "|---|---|---|---|---|",
    ]
    for project in PROJECTS:
        entry = results[project]
        ab, aa = entry["ab_cuped_width_ratio"], entry["aa_cuped_width_ratio"]
        lines.append(
            f"| {project} | {entry['covariate']} | {ab['correlation']:.3f} | "
            f"**{ab['mean']:.3f}** ({aa['mean']:.3f}) | {ab['variance_reduction']:.1%} |"
        )
    return lines


def http_table(results: dict) -> list[str]:
    s = results["settings"]
    lines = [
        f"Through the service: {s['http_experiments']} A/A and {s['http_experiments']} A/B "
        f"experiments per population on the units of the offline replay's first experiments, "
        f"up to {s['http_units']:,} units each, the analysis read over HTTP after every "
        f"{s['http_batch']} units (sequential and `method=fixed`) until both say `ship`.",
        "",
        "| population | kind | units sent | analyses equal to local `analyze` | ship: sequential "
        "| ship: fixed, peeking | median units to ship (sequential) | units/s |",
        "|---|---|---:|---|---|---|---:|---:|",
    ]
    for key, row in results["http"].items():
        project, kind = key.rsplit("_", 1)
        checked = row["analyses_checked"]
        equal = checked - row["analyses_differing_from_local"]
        n = row["experiments"]
        lines.append(
            f"| {project} | {kind.upper()} | {row['units_sent']:,} | {equal}/{checked} | "
            f"{row['sequential']['ship']}/{n} | {row['fixed']['ship']}/{n} | "
            f"{units(row['sequential']['median_units_to_ship'])} | "
            f"{row['units_sent'] / row['wall_seconds']:.0f} |"
        )
    return lines


def models_lines(results: dict) -> list[str]:
    lines = []
    for project in PROJECTS:
        about = results[project]["about"]
        quality = "auc" if "auc" in about["champion"] else "hr@10"
        parts = [
            f"{alias} {about[alias]['model']} ({quality} {about[alias][quality]:.3f}, "
            f"mean outcome {about[f'mean_{alias}']:.4f})"
            for alias in ("champion", "challenger")
        ]
        plan = results[project]["plan"]
        lines.append(
            f"- {results[project]['name']}: {about['pool_units']:,} pool units; "
            + "; ".join(parts)
            + f"; planned fixed-horizon size {plan['units']:,} units "
            f"(80% power needs {plan['units_for_power']:,.0f})"
        )
    return lines


def markdown(results: dict) -> str:
    blocks = [
        models_lines(results),
        aa_table(results),
        ab_table(results),
        srm_table(results),
        cuped_table(results),
        http_table(results),
        [f"Wall time {results['seconds'] / 60:.1f} min ({results['machine']['cpus']} CPUs)."],
    ]
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"
