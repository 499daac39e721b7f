//! Latency of scoring one 30-word English text with the embedded model.

use aiserve_sentiment::SentimentModel;
use criterion::{black_box, criterion_group, criterion_main, Criterion};

/// A 30-word review-like sentence.
const TEXT: &str = "I really did not expect much from this little cafe, but the coffee was \
excellent, the staff were friendly and the pastries fresh. Not perfect, yet I will come back!";

fn bench_score(c: &mut Criterion) {
    assert_eq!(TEXT.split_whitespace().count(), 30);
    let model = SentimentModel::embedded();
    c.bench_function("score_30_words", |b| b.iter(|| model.score(black_box(TEXT))));
}

criterion_group!(benches, bench_score);
criterion_main!(benches);
