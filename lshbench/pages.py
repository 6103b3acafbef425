"""Self-contained HTML pages of the report's tables (results/tables/{name}.html), which the HTML report's viewer
shows (it shows HTML, images and PDF; a CSV is only downloaded): the table with its numbers rounded as the Markdown
tables are (two decimals; empty cells empty), sortable by a click on a column's header, filtered by a text box, a
glossary of its columns (what each holds and in which units) and the CSV itself as a download, embedded in the page.
No network: the script and the style are in the page.
"""

from __future__ import annotations

import base64
import html
import json
import re

import pandas as pd

# What a column of a table holds, in which units. Percent: a fraction times 100. "chosen" configurations are picked on
# the validation queries and reported on the test queries (docs/evaluation.md, "Choosing on one set of queries").
GLOSSARY = {
    "dataset": "the dataset (config datasets[].name)",
    "space": "the embedding space: a model's features (resnet18: 512-d, resnet50: 2048-d), their PCA "
             "(resnet18-pca64: to 64 dimensions) or imported features",
    "method": "the method (docs/methods.md)",
    "family": "the method's family: exact, clustering, hashing, quantisation or graph",
    "budget": "the largest share of the gallery a chosen configuration may scan per query on average: 1%, 10% or "
              "all (no limit)",
    "chosen_by": "the metric the configuration was chosen by (the best on the validation queries)",
    "chosen_on": "the queries the choice was made on (validation: a seeded part of the query split)",
    "reported_on": "the queries its numbers are over (test: the query split less the validation queries)",
    "configuration": "the configuration: its folder name without the seed (parameters as name=value)",
    "seeds": "how many replicates (seeds) its numbers average",
    "value": "the value of chosen_by, percent, mean over seeds, on the test queries",
    "seed_ci_low": "lower end of the 95% Student-t interval of the mean over seeds, percent (cut at 0 and 100; empty "
                   "with one seed)",
    "seed_ci_high": "upper end of the 95% Student-t interval of the mean over seeds, percent (cut at 0 and 100; empty "
                    "with one seed)",
    "query_ci_low": "lower end of the 95% paired bootstrap interval over the test queries (1,000 resamples), percent",
    "query_ci_high": "upper end of the 95% paired bootstrap interval over the test queries (1,000 resamples), "
                     "percent",
    "seed_std": "standard deviation over seeds (ddof 1), percent points",
    "recall_at_10": "recall@10: the share of the exact top 10 (cosine, whole gallery) found in the top 10, percent",
    "mAP_all": "mAP over all relevant items: average precision divided by all gallery items of the query's class, "
               "mean over queries, percent",
    "precision_at_10": "precision@10: the share of the top 10 with the query's label (divided by min(10, retrieved) as "
                       "the report does), percent",
    "candidates_percent": "candidates scanned: the mean number of gallery items re-ranked per query, as a percent of "
                          "the gallery",
    "block": "the report's block of rows: an embedding space (Embedding: d), its PCA (PCA: d) or a number of hash "
             "tables",
    "metric": "the measure in this row",
    "parameter": "the method's parameter the column varies (K clusters, H hyperplanes, J bits, ...)",
    "mean": "the mean over seeds, percent",
    "report": "the report's printed number, percent",
    "ours": "our mean over seeds, percent (in literature: ties in Hamming distance by gallery position)",
    "delta": "ours - report, percent points",
    "ci_low": "lower end of a 95% interval, percent: in vs_report, our Student-t interval over seeds; in "
              "significance, the paired bootstrap interval of the difference over the test queries",
    "ci_high": "upper end of a 95% interval, percent: in vs_report, our Student-t interval over seeds; in "
               "significance, the paired bootstrap interval of the difference over the test queries",
    "within_ci": "whether the report's number lies inside our interval over seeds (empty with one seed)",
    "comparison": "what is compared: two methods' chosen configurations, or one against exact search",
    "a": "the first configuration compared: method, configuration (space, the budget it was chosen within)",
    "b": "the second configuration compared: method, configuration (space, the budget it was chosen within)",
    "figure": "the report's figure the cell belongs to",
    "family_a": "a's family",
    "family_b": "b's family",
    "measure": "the per-query measure compared",
    "mean_a": "a's mean over the test queries (each query's value averaged over seeds first), percent",
    "mean_b": "b's mean over the test queries (each query's value averaged over seeds first), percent",
    "difference": "mean_a - mean_b, percent points",
    "p_value": "two-sided paired randomisation test's p-value (10,000 sign flips)",
    "p_holm": "the p-value after Holm's adjustment over every comparison of the dataset",
    "significant": "p_holm below 0.05",
    "training": "the training folder (its parameters)",
    "epoch": "the training epoch",
    "network": "the network (one per hash table where tables are trained apart)",
    "balance": "bit balance loss, unweighted (mean over the epoch's batches)",
    "fence": "no-sitting-on-the-fence loss, unweighted",
    "supervision": "weak supervision loss, unweighted",
    "balance_weighted": "alpha x bit balance",
    "fence_weighted": "beta x no sitting on the fence",
    "supervision_weighted": "gamma x weak supervision",
    "total": "the weighted total loss",
    "protocol": "the learning-to-hash protocol (datasets[].hamming.protocol)",
    "features": "the features the published numbers were computed on",
    "published_as": "the method's name in the source",
    "bits": "code length in bits",
    "published": "the published number, percent",
    "our_dataset": "our dataset that follows the protocol",
    "our_space": "our embedding space",
    "ours_tie_aware": "ours with ties in Hamming distance averaged over every order (tie-aware), percent: the one "
                      "to set beside published numbers (DeepHash-pytorch's unstable sort lies closer to it)",
    "setting": "the source's setting",
    "source": "where the published number is printed",
    "rank": "rank in the list, 1 = best",
}
# wide tables: the report's layout (a dataset and a parameter value per column) and the Hamming table (code lengths)
PATTERNS = (
    (re.compile(r"(\S+) (\w+)=(\S+)"), "{0}, {1} = {2}: this row's metric in percent, mean over seeds"),
    (re.compile(r"(\d+) bits"), "{0}-bit codes: this row's measure in percent, mean over seeds"),
)


def describe(column: str) -> str:
    """What ``column`` holds, in which units ('' for a column the glossary does not know)."""
    if column in GLOSSARY:
        return GLOSSARY[column]
    for pattern, text in PATTERNS:
        if match := pattern.fullmatch(column):
            return text.format(*match.groups())
    return ""


def rst(text: str) -> str:
    """Plain text as reStructuredText shows it (the HTML report's captions): "@" escaped (else "recall@10" becomes a
    mailto: link), and "*", "`", a backslash and a word's trailing "_" (a reference) too."""
    text = text.replace("\\", "\\\\").replace("@", "\\@").replace("*", "\\*").replace("`", "\\`")
    return re.sub(r"(\w)_(?=\W|$)", r"\1\\_", text)


def plain(text: str) -> str:
    """The plain text of a caption: ``rst``'s escapes undone, a link (`name`_) its name."""
    return re.sub(r"\\(.)", r"\1", re.sub(r"(?<!\\)`([^`]+)`_", r"\1", text))


def cell(value) -> str:
    """A cell as the Markdown tables write it (lshbench.tables.to_markdown): two decimals, empty stays empty."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return f"{value:.2f}" if isinstance(value, float) else str(value)


STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 12px; color: #1e293b; }
h1 { font-size: 18px; margin: 0 0 6px; }
.bar { display: flex; gap: 12px; align-items: center; margin: 6px 0 10px; flex-wrap: wrap; }
input { padding: 3px 6px; border: 1px solid #94a3b8; border-radius: 4px; min-width: 260px; }
a.download { padding: 3px 8px; background: #10b981; color: white; border-radius: 4px; text-decoration: none; }
.scroll { overflow: auto; max-height: 80vh; border: 1px solid #e2e8f0; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 8px; border-bottom: 1px solid #e2e8f0; white-space: nowrap; text-align: left; }
td.n { text-align: right; }
th { position: sticky; top: 0; background: #f1f5f9; cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " \\25B2"; } th[aria-sort=descending]::after { content: " \\25BC"; }
tr:nth-child(even) td { background: #f8fafc; }
dl { columns: 2 420px; font-size: 13px; } dt { font-weight: 600; } dd { margin: 0 0 6px 12px; }
"""
SCRIPT = """
const table = document.querySelector("table"), body = table.tBodies[0];
const rows = Array.from(body.rows);
function key(row, i) { const t = row.cells[i].textContent; const n = parseFloat(t);
  return t === "" ? null : (isNaN(n) || !/^-?[0-9.]+(e-?[0-9]+)?$/.test(t) ? t : n); }
table.querySelectorAll("th").forEach((th, i) => th.addEventListener("click", () => {
  const up = th.getAttribute("aria-sort") !== "ascending";
  table.querySelectorAll("th").forEach(h => h.removeAttribute("aria-sort"));
  th.setAttribute("aria-sort", up ? "ascending" : "descending");
  const sorted = rows.slice().sort((a, b) => { const x = key(a, i), y = key(b, i);
    if (x === null) return 1; if (y === null) return -1;
    const c = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === "number" ? -1 : 1);
    return up ? c : -c; });
  sorted.forEach(r => body.appendChild(r)); }));
document.querySelector("input").addEventListener("input", e => {
  const words = e.target.value.toLowerCase().split(/\\s+/).filter(Boolean);
  let shown = 0;
  rows.forEach(r => { const t = r.textContent.toLowerCase(); const ok = words.every(w => t.includes(w));
    r.style.display = ok ? "" : "none"; shown += ok; });
  document.querySelector("#count").textContent = shown + " of " + rows.length + " rows"; });
"""


def table_page(table: pd.DataFrame, name: str, caption: str, csv: bytes) -> str:
    """The page of one table: ``caption`` (as the report's caption: ``rst``-escaped) above it, the CSV's bytes as
    its download."""
    numeric = [pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])
               for c in table.columns]
    head = "".join(f'<th title="{html.escape(describe(str(c)))}">{html.escape(str(c))}</th>' for c in table.columns)
    body = "\n".join("<tr>" + "".join(f'<td class="n">{html.escape(cell(v))}</td>' if n else
                                      f"<td>{html.escape(cell(v))}</td>" for v, n in zip(row, numeric)) + "</tr>"
                     for row in table.itertuples(index=False))
    glossary = "".join(f"<dt>{html.escape(str(c))}</dt><dd>{html.escape(describe(str(c)) or '(see the caption)')}"
                       "</dd>" for c in dict.fromkeys(table.columns))
    href = "data:text/csv;base64," + base64.b64encode(csv).decode()
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(name)}</title><style>{STYLE}</style></head>
<body>
<h1>{html.escape(name)}</h1>
<p>{html.escape(plain(caption))}</p>
<div class="bar"><input type="search" placeholder="filter rows (every word must appear)"
 aria-label="filter rows"><span id="count">{len(table)} rows</span>
<a class="download" download="{html.escape(name)}.csv" href="{href}">download {html.escape(name)}.csv</a>
<span>click a column's header to sort; hover it for its meaning</span></div>
<div class="scroll"><table id="{html.escape(name)}" data-rows="{len(table)}">
<thead><tr>{head}</tr></thead>
<tbody>
{body}
</tbody></table></div>
<h2 style="font-size:15px">Columns</h2>
<dl>{glossary}</dl>
<script>{SCRIPT}</script>
<script type="application/json" id="columns">{json.dumps([str(c) for c in table.columns])}</script>
</body></html>
"""
