//! Quality bar on the dev set: the embedded model must beat VADER overall on both
//! metrics, and on both metrics in at least three of the four domains.

use aiserve_sentiment::eval::{evaluate, read_tsv};
use aiserve_sentiment::SentimentModel;

/// VADER (vaderSentiment 3.3.2, `compound` score) on data/sentiment/dev.tsv, as
/// printed by:
///
/// ```text
/// pip install -r scripts/requirements-vader.txt
/// python3 scripts/vader_eval.py data/sentiment/dev.tsv
/// ```
///
/// `(domain, pearson_r, sign_acc)`; sign accuracy is over `|valence| >= 0.5`.
const VADER_DEV: [(&str, f64, f64); 5] = [
    ("amazon", 0.5464, 0.6272),
    ("movie", 0.4383, 0.5930),
    ("nyt", 0.5080, 0.5869),
    ("tweets", 0.8736, 0.9571),
    ("overall", 0.5370, 0.6581),
];

#[test]
fn beats_vader_on_dev() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/sentiment/dev.tsv");
    let dev = read_tsv(path).expect("dev set readable");
    assert_eq!(dev.len(), 2342);
    let model = SentimentModel::embedded();
    let texts: Vec<&str> = dev.iter().map(|e| e.text.as_str()).collect();
    let scores = model.score_batch(&texts);
    assert!(scores.iter().all(|s| (-1.0..=1.0).contains(s)));
    let report = evaluate(&dev, &scores);
    println!("ours:\n{report}");

    let mut domains_won = 0;
    for (domain, vader_r, vader_acc) in VADER_DEV {
        let ours = report
            .get(domain)
            .unwrap_or_else(|| panic!("domain {domain} missing"));
        let won = ours.pearson > vader_r && ours.sign_acc > vader_acc;
        println!(
            "{domain:<8} ours r={:.4} acc={:.4}  vader r={vader_r:.4} acc={vader_acc:.4}  {}",
            ours.pearson,
            ours.sign_acc,
            if won { "win" } else { "loss" }
        );
        if domain == "overall" {
            assert!(won, "must beat VADER overall on both metrics");
        } else if won {
            domains_won += 1;
        }
    }
    assert!(domains_won >= 3, "beat VADER in only {domains_won} of 4 domains");
}
