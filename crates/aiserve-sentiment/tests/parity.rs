//! Train/serve parity: the dev scores the trainer computed from its own
//! train-time feature vectors (written to tests/fixtures/dev_scores.tsv by
//! `train-sentiment`) must equal what the embedded model's serving path
//! (`SentimentModel::score`) produces, for every dev row.

use aiserve_sentiment::eval::read_tsv;
use aiserve_sentiment::SentimentModel;

#[test]
fn serve_scores_match_train_time_scores() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let dev = read_tsv(format!("{dir}/../../data/sentiment/dev.tsv")).expect("dev set readable");
    let fixture = std::fs::read_to_string(format!("{dir}/tests/fixtures/dev_scores.tsv"))
        .expect("fixture readable (regenerate with train-sentiment)");
    let mut lines = fixture.lines();
    assert_eq!(lines.next(), Some("domain\tid\tscore"));
    let rows: Vec<(&str, &str, f32)> = lines
        .map(|l| {
            let mut p = l.split('\t');
            let (d, i, s) = (p.next().unwrap(), p.next().unwrap(), p.next().unwrap());
            (d, i, s.parse().unwrap())
        })
        .collect();
    assert_eq!(rows.len(), dev.len(), "fixture and dev set differ in length");
    let model = SentimentModel::embedded();
    let mut max_diff = 0.0f32;
    for (ex, (d, id, expected)) in dev.iter().zip(&rows) {
        assert_eq!(
            (ex.domain.as_str(), ex.id.as_str()),
            (*d, *id),
            "row order differs"
        );
        let got = model.score(&ex.text);
        let diff = (got - expected).abs();
        max_diff = max_diff.max(diff);
        assert!(
            diff <= 1e-6,
            "{d}/{id}: serve {got} vs train {expected} (diff {diff})"
        );
    }
    // Batch scoring goes through the same path.
    let texts: Vec<&str> = dev.iter().map(|e| e.text.as_str()).collect();
    let batch = model.score_batch(&texts);
    for (b, (_, _, expected)) in batch.iter().zip(&rows) {
        assert!((b - expected).abs() <= 1e-6);
    }
    println!("max |serve - train| = {max_diff:e} over {} rows", rows.len());
}
