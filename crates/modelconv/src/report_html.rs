//! `--report FILE.html` of `convert`, `verify` and `check-inference`: one
//! self-contained page (inline CSS, SVG and a few lines of script; no
//! network, works offline, follows the system's dark theme) with charts a
//! user reads faster than the text output, and the full table, sortable.
//! Hand-written: a template engine or chart crate would outweigh the page.

use std::collections::BTreeMap;
use std::fmt::Write;

use modelconv_core::error::IoContext;

use crate::check::CheckReport;
use crate::convert::ConversionReport;
use crate::{Result, VerifyReport};

/// Writes `html` to `path`.
pub fn write(path: &std::path::Path, html: &str) -> Result<()> {
    std::fs::write(path, html).at(path)
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = r#"
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #ffffff; --muted: #6a737d; --bar: #3b82f6;
  --bad: #dc2626; --grid: #d0d7de; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --muted: #8b949e;
  --bar: #60a5fa; --bad: #f87171; --grid: #30363d; } }
body { font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); margin: 2em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; }
.pass { color: #16a34a; font-weight: 600; } .fail { color: var(--bad); font-weight: 600; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 2px 8px; border-bottom: 1px solid var(--grid); text-align: left; }
th.sortable { cursor: pointer; user-select: none; } th.sortable:after { content: " \2195"; color: var(--muted); }
svg text { fill: var(--fg); font-size: 11px; } svg .bar { fill: var(--bar); } svg .bad { fill: var(--bad); }
svg .rule { stroke: var(--muted); stroke-dasharray: 3 3; }
.note { color: var(--muted); }
"#;

/// Sorts a table by the clicked column (numbers as numbers).
const SCRIPT: &str = r#"
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.classList.add("sortable");
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var asc = th.dataset.dir !== "asc"; th.dataset.dir = asc ? "asc" : "desc";
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.v || a.cells[col].textContent,
            y = b.cells[col].dataset.v || b.cells[col].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var r = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return asc ? r : -r;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
document.body.dataset.ready = "1";
"#;

/// A whole page.
fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{t}</title>\
         <style>{STYLE}</style></head>\n<body>\n<h1>{t}</h1>\n{body}\n<script>{SCRIPT}</script>\n</body></html>\n",
        t = esc(title)
    )
}

/// A horizontal bar chart of `(label, value)`; `rule` draws a threshold
/// line; values below it are drawn as failing.
fn bars(
    items: &[(String, f64)],
    lo: f64,
    hi: f64,
    rule: Option<f64>,
    fmt: &dyn Fn(f64) -> String,
) -> String {
    let (label_w, bar_w, row_h) = (260.0, 420.0, 18.0);
    let h = row_h * items.len() as f64 + 24.0;
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let x = |v: f64| label_w + ((v - lo) / span).clamp(0.0, 1.0) * bar_w;
    let mut s = format!(
        "<svg role=\"img\" width=\"{}\" height=\"{h}\" viewBox=\"0 0 {} {h}\">",
        label_w + bar_w + 90.0,
        label_w + bar_w + 90.0
    );
    for (i, (label, v)) in items.iter().enumerate() {
        let y = i as f64 * row_h + 4.0;
        let class = if rule.is_some_and(|r| *v < r) {
            "bad"
        } else {
            "bar"
        };
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <rect class=\"{class}\" x=\"{label_w}\" y=\"{y}\" width=\"{:.1}\" height=\"{}\"><title>{} {}</title></rect>\
             <text x=\"{:.1}\" y=\"{}\">{}</text>",
            label_w - 6.0,
            y + 12.0,
            esc(label),
            (x(*v) - label_w).max(1.0),
            row_h - 4.0,
            esc(label),
            fmt(*v),
            x(*v) + 4.0,
            y + 12.0,
            fmt(*v)
        );
    }
    if let Some(r) = rule {
        let _ = write!(
            s,
            "<line class=\"rule\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"0\" y2=\"{1}\"/>",
            x(r),
            h - 20.0
        );
    }
    s.push_str("</svg>");
    s
}

/// A sortable table; each cell is (text, sort value).
fn table(headers: &[&str], rows: &[Vec<(String, Option<f64>)>]) -> String {
    let mut s = String::from("<table class=\"sortable\"><thead><tr>");
    for h in headers {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr></thead><tbody>");
    for row in rows {
        s.push_str("<tr>");
        for (text, v) in row {
            match v {
                Some(v) => {
                    let _ = write!(s, "<td data-v=\"{v}\">{}</td>", esc(text));
                }
                None => {
                    let _ = write!(s, "<td>{}</td>", esc(text));
                }
            }
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

fn status(passed: bool) -> &'static str {
    if passed {
        "<span class=\"pass\">PASS</span>"
    } else {
        "<span class=\"fail\">FAIL</span>"
    }
}

/// The layer number in a tensor name (`model.layers.3.…`, `blk.3.…`,
/// `encoder.layer.3.…`), if any.
fn layer_of(name: &str) -> Option<usize> {
    let parts: Vec<&str> = name.split(['.', ' ']).collect();
    parts
        .windows(2)
        .find(|w| matches!(w[0], "layers" | "layer" | "blk" | "h" | "block" | "blocks"))
        .and_then(|w| w[1].parse().ok())
}

/// The tensor's kind: its name without the layer prefix
/// (`self_attn.q_proj.weight`).
pub(crate) fn kind_of(name: &str) -> String {
    let name = name.split(" -> ").next().unwrap_or(name);
    match layer_of(name) {
        Some(n) => {
            let marker = format!(".{n}.");
            name.split_once(&marker)
                .map_or(name, |(_, k)| k)
                .to_string()
        }
        None => name.to_string(),
    }
}

/// The page of a `verify` run.
pub fn verify_page(source: &str, output: &str, r: &VerifyReport) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<p>{} — <code>{}</code> against <code>{}</code>: {} tensors compared, {} bit-exact, \
         min cosine {:.6}, max RMSE {:.3e}, {} missing, {} extra.</p>",
        status(r.passed),
        esc(source),
        esc(output),
        r.compared,
        r.bit_exact,
        r.min_cosine,
        r.max_rmse,
        r.missing.len(),
        r.extra.len()
    );
    b.push_str("<h2>What each tensor was held to</h2>");
    let checks: Vec<(String, f64)> = r
        .checks
        .iter()
        .map(|(c, n)| (c.clone(), *n as f64))
        .collect();
    let most = checks.iter().map(|c| c.1).fold(1.0, f64::max);
    b.push_str(&bars(&checks, 0.0, most, None, &|v| format!("{v:.0}")));
    // Lowest cosine per layer and per tensor kind: where did it hurt?
    let mut by_layer: BTreeMap<usize, f64> = BTreeMap::new();
    let mut by_kind: BTreeMap<String, f64> = BTreeMap::new();
    for t in &r.tensors {
        if let Some(l) = layer_of(&t.name) {
            let e = by_layer.entry(l).or_insert(1.0);
            *e = e.min(t.cosine);
        }
        let e = by_kind.entry(kind_of(&t.name)).or_insert(1.0);
        *e = e.min(t.cosine);
    }
    let lo = r.min_cosine.min(0.99) - 0.001;
    let fmt = |v: f64| format!("{v:.6}");
    if !by_layer.is_empty() {
        b.push_str("<h2>Lowest cosine by layer</h2>");
        let items: Vec<(String, f64)> = by_layer
            .iter()
            .map(|(l, c)| (format!("layer {l}"), *c))
            .collect();
        b.push_str(&bars(&items, lo, 1.0, None, &fmt));
    }
    b.push_str("<h2>Lowest cosine by tensor kind</h2>");
    let items: Vec<(String, f64)> = by_kind.into_iter().collect();
    b.push_str(&bars(&items, lo, 1.0, None, &fmt));
    b.push_str("<h2>Every tensor</h2><p class=\"note\">Click a column to sort.</p>");
    let rows: Vec<Vec<(String, Option<f64>)>> = r
        .tensors
        .iter()
        .map(|t| {
            vec![
                (t.name.clone(), None),
                (if t.passed { "ok" } else { "FAIL" }.into(), None),
                (t.check.clone(), None),
                (format!("{} -> {}", t.dtypes.0, t.dtypes.1), None),
                (format!("{:?}", t.shapes.1), None),
                (format!("{:.6}", t.cosine), Some(t.cosine)),
                (format!("{:.3e}", t.rmse), Some(t.rmse)),
                (format!("{:.3e}", t.max_abs_error), Some(t.max_abs_error)),
                (t.problem.clone().unwrap_or_default(), None),
            ]
        })
        .collect();
    b.push_str(&table(
        &[
            "tensor", "result", "held to", "dtypes", "shape", "cosine", "RMSE", "max abs",
            "problem",
        ],
        &rows,
    ));
    page("modelconv verify", &b)
}

fn mb(v: f64) -> String {
    format!("{:.3} MB", v / 1e6)
}

/// Bars of bytes per key, before and after side by side.
fn before_after(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> String {
    let most = before
        .values()
        .chain(after.values())
        .copied()
        .max()
        .unwrap_or(1) as f64;
    let mut items = Vec::new();
    for (k, v) in before {
        items.push((format!("{k} (source)"), *v as f64));
    }
    for (k, v) in after {
        items.push((format!("{k} (output)"), *v as f64));
    }
    bars(&items, 0.0, most, None, &mb)
}

/// The page of a `convert` run (with `--validate`: its checks too).
pub fn conversion_page(r: &ConversionReport) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<p>{} — <code>{}</code> ({}) → <code>{}</code> ({}): {} tensors, {} parameters, \
         {} → {} (ratio {:.2}x) in {:.2} s.</p>",
        status(r.success),
        esc(&r.source),
        esc(&r.source_format),
        esc(&r.output.display().to_string()),
        esc(&r.output_format),
        r.tensors,
        r.total_parameters,
        mb(r.source_size_bytes as f64),
        mb(r.output_size_bytes as f64),
        r.compression_ratio,
        r.conversion_time_sec
    );
    b.push_str("<h2>Bytes by type, source → output</h2>");
    b.push_str(&before_after(
        &r.sizes.source_by_dtype,
        &r.sizes.output_by_type,
    ));
    b.push_str(
        "<h2>Output bytes by tensor kind</h2><p class=\"note\">Source and output names \
         can differ (GGUF's own names); the output is grouped by its own.</p>",
    );
    let most = r.sizes.output_by_kind.values().copied().max().unwrap_or(1) as f64;
    let items: Vec<(String, f64)> = r
        .sizes
        .output_by_kind
        .iter()
        .map(|(k, v)| (k.clone(), *v as f64))
        .collect();
    b.push_str(&bars(&items, 0.0, most, None, &mb));
    b.push_str("<h2>Files</h2>");
    let rows: Vec<Vec<(String, Option<f64>)>> = r
        .files
        .iter()
        .map(|f| {
            vec![
                (f.path.display().to_string(), None),
                (mb(f.size as f64), Some(f.size as f64)),
                (f.sha256.clone(), None),
            ]
        })
        .collect();
    b.push_str(&table(&["file", "size", "sha256"], &rows));
    if let Some(v) = &r.validation {
        let _ = write!(
            b,
            "<h2>--validate: tensors</h2><p>{} — {} compared, {} bit-exact, min cosine {:.6}; \
             only failing tensors are kept in a conversion's report.</p>",
            status(v.passed),
            v.compared,
            v.bit_exact,
            v.min_cosine
        );
        let checks: Vec<(String, f64)> = v
            .checks
            .iter()
            .map(|(c, n)| (c.clone(), *n as f64))
            .collect();
        let most = checks.iter().map(|c| c.1).fold(1.0, f64::max);
        b.push_str(&bars(&checks, 0.0, most, None, &|x| format!("{x:.0}")));
    }
    if let Some(c) = &r.inference {
        b.push_str("<h2>--validate: check-inference</h2>");
        b.push_str(&inference_body(c));
    }
    if !r.warnings.is_empty() {
        b.push_str("<h2>Warnings</h2><ul>");
        for w in &r.warnings {
            let _ = write!(b, "<li>{}</li>", esc(w));
        }
        b.push_str("</ul>");
    }
    page("modelconv convert", &b)
}

/// The page of a `check-inference` run.
pub fn check_page(r: &CheckReport) -> String {
    page("modelconv check-inference", &inference_body(r))
}

fn inference_body(r: &CheckReport) -> String {
    let c = &r.comparison;
    let mut b = String::new();
    let _ = write!(
        b,
        "<p>{} — {} (<code>{}</code>, {}) against {} (<code>{}</code>, {}): {} samples, \
         lowest cosine {:.6}, threshold {}; non-finite outputs {} / {}.</p>",
        status(c.passed),
        r.source.family,
        esc(&r.source.path),
        esc(&r.source.format),
        r.output.family,
        esc(&r.output.path),
        esc(&r.output.format),
        c.samples,
        c.min_cosine,
        c.threshold,
        c.non_finite.0,
        c.non_finite.1
    );
    let lo = c.min_cosine.min(c.threshold) - 0.001;
    for k in &c.kinds {
        let _ = write!(b, "<h2>{}: cosine per sample</h2>", esc(&k.kind));
        let items: Vec<(String, f64)> = k
            .cosines
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("sample {}", i + 1), *v))
            .collect();
        b.push_str(&bars(&items, lo, 1.0, Some(c.threshold), &|v| {
            format!("{v:.6}")
        }));
    }
    b.push_str("<h2>Summary</h2>");
    let rows: Vec<Vec<(String, Option<f64>)>> = c
        .kinds
        .iter()
        .map(|k| {
            vec![
                (k.kind.clone(), None),
                (format!("{:.6}", k.average), Some(k.average)),
                (format!("{:.6}", k.min), Some(k.min)),
                (format!("{:.6}", k.max), Some(k.max)),
                (format!("{:.2e}", k.std), Some(k.std)),
                (format!("{:.3e}", k.max_abs_diff), Some(k.max_abs_diff)),
            ]
        })
        .collect();
    b.push_str(&table(
        &["output", "average", "min", "max", "std", "max abs diff"],
        &rows,
    ));
    b
}

#[cfg(test)]
mod tests {
    use super::{esc, kind_of, layer_of};

    #[test]
    fn names_and_escaping() {
        assert_eq!(
            layer_of("model.layers.12.self_attn.q_proj.weight"),
            Some(12)
        );
        assert_eq!(layer_of("blk.3.attn_q.weight"), Some(3));
        assert_eq!(layer_of("model.norm.weight"), None);
        assert_eq!(
            kind_of("model.layers.12.self_attn.q_proj.weight"),
            "self_attn.q_proj.weight"
        );
        assert_eq!(
            esc("<a href=\"x\">&</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
    }
}
