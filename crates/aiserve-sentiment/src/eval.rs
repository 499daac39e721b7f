//! Reading the sentiment TSV format and computing evaluation metrics.
//!
//! TSV format: a header line `domain<TAB>id<TAB>valence<TAB>text`, then one row per
//! item; `valence` is the mean human rating in `[-4, 4]`.
//!
//! Metrics, per domain and overall:
//! * `n`: number of items;
//! * `pearson_r`: Pearson correlation between score and valence;
//! * `n_sign` / `sign_acc`: on items with `|valence| >= 0.5`, the fraction whose
//!   score has the same strict sign as the valence (a score of exactly 0 is wrong).
//!
//! `scripts/vader_eval.py` computes the same metrics for VADER and prints the
//! same table.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::SentimentError;

/// Items with `|valence|` at least this large count for sign accuracy.
pub const SIGN_THRESHOLD: f64 = 0.5;

/// One labelled item.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Source domain (`tweets`, `movie`, `amazon`, `nyt`).
    pub domain: String,
    /// Item id (unique within a domain).
    pub id: String,
    /// Mean human valence rating in `[-4, 4]`.
    pub valence: f32,
    /// The text.
    pub text: String,
}

/// Reads a TSV file with header `domain id valence text`.
pub fn read_tsv(path: impl AsRef<Path>) -> Result<Vec<Example>, SentimentError> {
    let path = path.as_ref();
    let content = std::fs::read_to_string(path).map_err(|e| SentimentError::io(path, e))?;
    parse_tsv(&content, &path.display().to_string())
}

/// Parses TSV content (see [`read_tsv`]); `name` is used in error messages.
pub fn parse_tsv(content: &str, name: &str) -> Result<Vec<Example>, SentimentError> {
    let err = |line: usize, message: String| SentimentError::Parse {
        path: name.to_string(),
        line,
        message,
    };
    let mut lines = content.lines().enumerate();
    match lines.next() {
        Some((_, h))
            if h.trim_end_matches('\r')
                .split('\t')
                .take(4)
                .eq(["domain", "id", "valence", "text"]) => {}
        Some((_, h)) => return Err(err(1, format!("unexpected header {h:?}"))),
        None => return Err(err(1, "empty file".into())),
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let mut parts = line.splitn(4, '\t');
        let (Some(domain), Some(id), Some(valence), Some(text)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(err(i + 1, "expected 4 tab-separated fields".into()));
        };
        let valence: f32 = valence
            .trim()
            .parse()
            .map_err(|_| err(i + 1, format!("bad valence {valence:?}")))?;
        if !valence.is_finite() {
            return Err(err(i + 1, format!("bad valence {valence}")));
        }
        out.push(Example {
            domain: domain.to_string(),
            id: id.to_string(),
            valence,
            text: text.to_string(),
        });
    }
    Ok(out)
}

/// Metrics for one domain (or overall).
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Domain name, or `overall`.
    pub domain: String,
    /// Number of items.
    pub n: usize,
    /// Pearson r between score and valence (0 when undefined).
    pub pearson: f64,
    /// Number of items with `|valence| >= SIGN_THRESHOLD`.
    pub n_sign: usize,
    /// Sign accuracy on those items (0 when there are none).
    pub sign_acc: f64,
}

/// Evaluation result: one row per domain (sorted by name) plus overall.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    /// Per-domain metrics, sorted by domain name.
    pub domains: Vec<Metrics>,
    /// Metrics over all items.
    pub overall: Metrics,
}

impl EvalReport {
    /// Metrics for `domain` (or `"overall"`), if present.
    pub fn get(&self, domain: &str) -> Option<&Metrics> {
        if domain == "overall" {
            return Some(&self.overall);
        }
        self.domains.iter().find(|m| m.domain == domain)
    }
}

/// Pearson correlation of two equally long slices (0 if undefined).
pub fn pearson(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len().min(ys.len());
    if n < 2 {
        return 0.0;
    }
    let mx = xs[..n].iter().sum::<f64>() / n as f64;
    let my = ys[..n].iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.iter().zip(ys) {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return 0.0;
    }
    sxy / (sxx * syy).sqrt()
}

fn metrics(domain: &str, pairs: &[(f64, f64)]) -> Metrics {
    let xs: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let ys: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    let signed: Vec<&(f64, f64)> = pairs.iter().filter(|p| p.1.abs() >= SIGN_THRESHOLD).collect();
    let correct = signed
        .iter()
        .filter(|(s, v)| (*s > 0.0 && *v > 0.0) || (*s < 0.0 && *v < 0.0))
        .count();
    Metrics {
        domain: domain.to_string(),
        n: pairs.len(),
        pearson: pearson(&xs, &ys),
        n_sign: signed.len(),
        sign_acc: if signed.is_empty() {
            0.0
        } else {
            correct as f64 / signed.len() as f64
        },
    }
}

/// Computes the metrics of `scores` (one per example, same order) against the
/// examples' valence. Extra scores or examples beyond the shorter length are
/// ignored.
pub fn evaluate(examples: &[Example], scores: &[f32]) -> EvalReport {
    let mut by_domain: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    let mut all = Vec::with_capacity(examples.len());
    for (ex, &s) in examples.iter().zip(scores) {
        let p = (f64::from(s), f64::from(ex.valence));
        by_domain.entry(ex.domain.as_str()).or_default().push(p);
        all.push(p);
    }
    EvalReport {
        domains: by_domain.iter().map(|(d, p)| metrics(d, p)).collect(),
        overall: metrics("overall", &all),
    }
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<10} {:>6} {:>10} {:>7} {:>9}",
            "domain", "n", "pearson_r", "n_sign", "sign_acc"
        )?;
        for m in self.domains.iter().chain(std::iter::once(&self.overall)) {
            writeln!(
                f,
                "{:<10} {:>6} {:>10.4} {:>7} {:>9.4}",
                m.domain, m.n, m.pearson, m.n_sign, m.sign_acc
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_evaluate() {
        let tsv =
            "domain\tid\tvalence\ttext\na\t1\t2.0\tgood\na\t2\t-1.0\tbad\tstill text\nb\t1\t0.1\tmeh\n\n";
        let ex = parse_tsv(tsv, "x").unwrap();
        assert_eq!(ex.len(), 3);
        assert_eq!(ex[1].text, "bad\tstill text");
        let r = evaluate(&ex, &[0.5, -0.2, 0.0]);
        assert_eq!(r.domains.len(), 2);
        let a = r.get("a").unwrap();
        assert_eq!((a.n, a.n_sign), (2, 2));
        assert!((a.pearson - 1.0).abs() < 1e-12);
        assert_eq!(a.sign_acc, 1.0);
        let b = r.get("b").unwrap();
        assert_eq!((b.n, b.n_sign, b.pearson), (1, 0, 0.0));
        assert_eq!(r.overall.n, 3);
        let table = r.to_string();
        assert!(table.starts_with("domain"));
        assert_eq!(table.lines().count(), 4);
    }

    #[test]
    fn zero_score_counts_as_wrong_sign() {
        let ex = parse_tsv("domain\tid\tvalence\ttext\na\t1\t2.0\tx\n", "x").unwrap();
        assert_eq!(evaluate(&ex, &[0.0]).overall.sign_acc, 0.0);
    }

    #[test]
    fn parse_errors() {
        assert!(parse_tsv("", "x").is_err());
        assert!(parse_tsv("bad\theader\n", "x").is_err());
        assert!(parse_tsv("domain\tid\tvalence\ttext\na\t1\n", "x").is_err());
        assert!(parse_tsv("domain\tid\tvalence\ttext\na\t1\tNaN\tx\n", "x").is_err());
        assert!(parse_tsv("domain\tid\tvalence\ttext\na\t1\tzz\tx\n", "x").is_err());
        assert!(read_tsv("/nonexistent/file.tsv").is_err());
    }

    #[test]
    fn pearson_edge_cases() {
        assert_eq!(pearson(&[], &[]), 0.0);
        assert_eq!(pearson(&[1.0, 1.0], &[1.0, 2.0]), 0.0);
        assert!((pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
    }
}
