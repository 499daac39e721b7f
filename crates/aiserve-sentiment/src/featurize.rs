//! Text preprocessing and hashed feature extraction.
//!
//! [`featurize`] is the **single** function that turns a text into a sparse
//! feature vector. The trainer and the serving path ([`crate::SentimentModel`])
//! both call it, so train-time and serve-time features are identical by
//! construction.
//!
//! Pipeline:
//! 1. the input is truncated to [`MAX_TEXT_BYTES`] (at a char boundary);
//! 2. normalisation: lowercasing, `’` → `'`, the HTML entities `&amp; &lt; &gt;
//!    &quot; &#39;` decoded, runs of one character longer than three collapsed to
//!    three (`sooooo` → `sooo`, `!!!!!` → `!!!`);
//! 3. tokenisation: words (alphanumerics with inner apostrophes) and punctuation
//!    runs (`!`, `?!`, `:)`, `:-(`, `...`); `:d`, `:p`, `;d`, `=p` emoticons are kept
//!    whole;
//! 4. negation scope: after a negator (`not`, `no`, `never`, `*n't`, ...) every
//!    word token is marked negated until a punctuation token containing one of
//!    `. , ! ? ; :` or the word `but`;
//! 5. features, hashed into `2^hash_bits` buckets with FNV-1a + a SplitMix64
//!    finaliser (stable across platforms and releases, no randomness):
//!    token unigrams (negated tokens hashed into a separate `NEG_` space),
//!    token bigrams (with begin/end markers), character n-grams of each word
//!    with `<`/`>` boundary markers; all L2-normalised as a group;
//!    plus a bias and a few dense features (exclamation / question marks,
//!    ALL-CAPS word ratio, length).

/// Texts longer than this many bytes are truncated (at a char boundary) before
/// featurisation, bounding the cost of scoring a huge input.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// Longest word prefix (in bytes) used for character n-grams.
const MAX_CHAR_WORD_BYTES: usize = 40;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

const SEED_UNI: u64 = 0x5555_0000_0000_0001;
const SEED_NEG: u64 = 0x5555_0000_0000_0002;
const SEED_BI: u64 = 0x5555_0000_0000_0003;
const SEED_CHAR: u64 = 0x5555_0000_0000_0004;
const SEED_BOS: u64 = 0x5555_0000_0000_0005;
const SEED_EOS: u64 = 0x5555_0000_0000_0006;
const SEED_DENSE: u64 = 0x5555_0000_0000_0100;

/// Feature-extraction configuration (the defaults are the values chosen on the
/// dev set, see `MODEL.md`). It is stored in the model file header so a
/// model is always served with the features it was trained with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureConfig {
    /// Number of hash bits: the feature space has `2^hash_bits` buckets (8..=24).
    pub hash_bits: u8,
    /// Emit token bigrams in addition to unigrams.
    pub word_bigrams: bool,
    /// Smallest character n-gram length (0 disables character n-grams).
    pub char_min: u8,
    /// Largest character n-gram length (at most 8).
    pub char_max: u8,
    /// Weight of one character n-gram relative to one token feature (before
    /// normalisation).
    pub char_weight: f32,
    /// Mark tokens in a negation scope (`not good` → `NEG_good`).
    pub negation: bool,
    /// Emit the dense features (exclamation/question marks, caps ratio, length).
    pub dense: bool,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            hash_bits: 20,
            word_bigrams: true,
            char_min: 3,
            char_max: 5,
            char_weight: 0.5,
            negation: true,
            dense: true,
        }
    }
}

impl FeatureConfig {
    /// Checks that the configuration is one this featuriser supports.
    pub fn validate(&self) -> Result<(), String> {
        if !(8..=24).contains(&self.hash_bits) {
            return Err(format!("hash_bits {} not in 8..=24", self.hash_bits));
        }
        if self.char_max > 8 {
            return Err(format!("char_max {} > 8", self.char_max));
        }
        if self.char_min != 0 && (self.char_min < 1 || self.char_min > self.char_max) {
            return Err(format!(
                "char n-gram range {}..={} is invalid",
                self.char_min, self.char_max
            ));
        }
        if !self.char_weight.is_finite() || self.char_weight < 0.0 {
            return Err(format!("char_weight {} is invalid", self.char_weight));
        }
        Ok(())
    }

    /// Number of hash buckets (`2^hash_bits`).
    pub fn dim(&self) -> usize {
        1usize << self.hash_bits
    }
}

/// Kind of a token produced by [`tokenize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Alphanumeric word (may contain inner apostrophes, e.g. `don't`).
    Word,
    /// Run of punctuation / symbols / emoticon, e.g. `!!`, `?!`, `:)`.
    Punct,
}

/// One token: a byte span into the normalised text plus annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// Start byte offset in the normalised text.
    pub start: usize,
    /// End byte offset (exclusive) in the normalised text.
    pub end: usize,
    /// Word or punctuation.
    pub kind: TokenKind,
    /// Whether the token lies in a negation scope.
    pub negated: bool,
}

/// Counters gathered during normalisation, used for dense features.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Stats {
    exclamations: u32,
    questions: u32,
    words: u32,
    caps_words: u32,
}

/// Reusable buffers for [`featurize`] so that scoring does not allocate once the
/// buffers have grown.
#[derive(Debug, Default)]
pub struct Scratch {
    text: String,
    tokens: Vec<Token>,
    stats: Stats,
}

impl Scratch {
    /// Creates empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The normalised text of the last call to [`tokenize`] / [`featurize`].
    pub fn normalized(&self) -> &str {
        &self.text
    }

    /// The tokens of the last call to [`tokenize`] / [`featurize`].
    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// Text of token `t` (a token of the last call).
    pub fn token_str(&self, t: &Token) -> &str {
        self.text.get(t.start..t.end).unwrap_or("")
    }
}

fn truncate(text: &str) -> &str {
    if text.len() <= MAX_TEXT_BYTES {
        return text;
    }
    let mut end = MAX_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

const ENTITIES: [(&str, char); 5] = [
    ("&amp;", '&'),
    ("&lt;", '<'),
    ("&gt;", '>'),
    ("&quot;", '"'),
    ("&#39;", '\''),
];

/// Normalises `text` into `scratch.text` and fills `scratch.stats`.
fn normalize(text: &str, scratch: &mut Scratch) {
    let text = truncate(text);
    let out = &mut scratch.text;
    out.clear();
    out.reserve(text.len());
    let mut stats = Stats::default();
    let mut last: char = '\0';
    let mut run: u32 = 0;
    // Per-word caps tracking (on the original casing).
    let mut in_word = false;
    let mut word_upper = 0u32;
    let mut word_lower = 0u32;

    let mut push = |c: char, out: &mut String| {
        if c == last {
            run += 1;
            if run > 3 {
                return;
            }
        } else {
            last = c;
            run = 1;
        }
        out.push(c);
    };

    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let mut consumed = c.len_utf8();
        let mut ch = c;
        if c == '&' {
            for (ent, rep) in ENTITIES {
                if rest.starts_with(ent) {
                    ch = rep;
                    consumed = ent.len();
                    break;
                }
            }
        }
        rest = &rest[consumed..];

        if ch.is_alphanumeric() {
            if !in_word {
                in_word = true;
                word_upper = 0;
                word_lower = 0;
            }
            if ch.is_uppercase() {
                word_upper += 1;
            } else if ch.is_lowercase() {
                word_lower += 1;
            }
        } else if in_word {
            in_word = false;
            stats.words += 1;
            if word_upper >= 2 && word_lower == 0 {
                stats.caps_words += 1;
            }
        }
        match ch {
            '!' => stats.exclamations += 1,
            '?' => stats.questions += 1,
            _ => {}
        }
        let ch = if ch == '\u{2019}' || ch == '\u{2018}' || ch == '`' {
            '\''
        } else {
            ch
        };
        if ch.is_uppercase() {
            for lc in ch.to_lowercase() {
                push(lc, out);
            }
        } else {
            push(ch, out);
        }
    }
    if in_word {
        stats.words += 1;
        if word_upper >= 2 && word_lower == 0 {
            stats.caps_words += 1;
        }
    }
    scratch.stats = stats;
}

fn is_negator(w: &str) -> bool {
    matches!(
        w,
        "not"
            | "no"
            | "never"
            | "nothing"
            | "nobody"
            | "none"
            | "neither"
            | "nor"
            | "nowhere"
            | "cannot"
            | "without"
            | "aint"
            | "dont"
            | "cant"
            | "wont"
            | "isnt"
            | "arent"
            | "wasnt"
            | "werent"
            | "didnt"
            | "doesnt"
            | "hasnt"
            | "havent"
            | "hadnt"
            | "couldnt"
            | "shouldnt"
            | "wouldnt"
    ) || w.ends_with("n't")
}

fn ends_scope(p: &str) -> bool {
    p.bytes()
        .any(|b| matches!(b, b'.' | b',' | b'!' | b'?' | b';' | b':'))
}

/// Normalises and tokenises `text` into `scratch` (see the module docs), marking
/// negation scopes when `negation` is true.
pub fn tokenize(text: &str, negation: bool, scratch: &mut Scratch) {
    normalize(text, scratch);
    let s = scratch.text.as_str();
    let tokens = &mut scratch.tokens;
    tokens.clear();
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if c.is_whitespace() {
            continue;
        }
        if c.is_alphanumeric() {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = iter.peek() {
                if d.is_alphanumeric() {
                    end = j + d.len_utf8();
                    iter.next();
                } else if d == '\'' {
                    // Inner apostrophe: keep only if followed by an alphanumeric.
                    let next = s[j + 1..].chars().next();
                    if next.is_some_and(char::is_alphanumeric) {
                        end = j + 1;
                        iter.next();
                    } else {
                        break;
                    }
                } else {
                    break;
                }
            }
            tokens.push(Token {
                start: i,
                end,
                kind: TokenKind::Word,
                negated: false,
            });
        } else {
            let mut end = i + c.len_utf8();
            let mut lastc = c;
            while let Some(&(j, d)) = iter.peek() {
                if d.is_alphanumeric() || d.is_whitespace() {
                    break;
                }
                end = j + d.len_utf8();
                lastc = d;
                iter.next();
            }
            // Emoticons such as ":d", ":p", ";d", "=p" (already lowercased).
            if matches!(lastc, ':' | ';' | '=') {
                if let Some(&(j, d)) = iter.peek() {
                    if d == 'd' || d == 'p' {
                        let after = s[j + 1..].chars().next();
                        if !after.is_some_and(char::is_alphanumeric) {
                            end = j + 1;
                            iter.next();
                        }
                    }
                }
            }
            tokens.push(Token {
                start: i,
                end,
                kind: TokenKind::Punct,
                negated: false,
            });
        }
    }
    if negation {
        let mut in_scope = false;
        for t in tokens.iter_mut() {
            let w = &s[t.start..t.end];
            match t.kind {
                TokenKind::Punct => {
                    if ends_scope(w) {
                        in_scope = false;
                    }
                }
                TokenKind::Word => {
                    if is_negator(w) {
                        in_scope = true;
                    } else if w == "but" {
                        in_scope = false;
                    } else if in_scope {
                        t.negated = true;
                    }
                }
            }
        }
    }
}

#[inline]
fn fnv_step(h: u64, b: u8) -> u64 {
    (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
}

/// FNV-1a 64-bit hash of `bytes` (stable, platform independent).
#[inline]
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |h, &b| fnv_step(h, b))
}

/// SplitMix64 finaliser: spreads the bits of `x` so that the top bits are usable
/// as a bucket index.
#[inline]
pub fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[inline]
fn bucket(h: u64, bits: u8) -> u32 {
    (mix64(h) >> (64 - u32::from(bits))) as u32
}

/// Number of character n-grams [`featurize`] emits for a word of `len` bytes
/// (boundary markers included).
fn char_ngram_count(len: usize, min: usize, max: usize) -> usize {
    let l = len.min(MAX_CHAR_WORD_BYTES) + 2;
    (min..=max).map(|n| l.saturating_sub(n - 1)).sum()
}

/// Turns `text` into a sparse feature vector of `(bucket, value)` pairs written
/// to `out` (cleared first). Buckets may repeat; the model's score is the sum of
/// `weight[bucket] * value` over the pairs.
///
/// This is the one feature function used by both training and serving.
/// The configuration must be valid (see [`FeatureConfig::validate`]); an invalid
/// configuration yields an empty vector rather than a panic.
pub fn featurize(cfg: &FeatureConfig, text: &str, scratch: &mut Scratch, out: &mut Vec<(u32, f32)>) {
    out.clear();
    if cfg.validate().is_err() {
        return;
    }
    tokenize(text, cfg.negation, scratch);
    let bits = cfg.hash_bits;
    let s = scratch.text.as_bytes();
    let tokens = &scratch.tokens;
    let use_chars = cfg.char_min > 0 && cfg.char_weight > 0.0;
    let (cmin, cmax) = (usize::from(cfg.char_min), usize::from(cfg.char_max));

    // Count features first so that values are already normalised when pushed.
    let n_tok = tokens.len();
    let n_bi = if cfg.word_bigrams { n_tok + 1 } else { 0 };
    let n_char: usize = if use_chars {
        tokens
            .iter()
            .filter(|t| t.kind == TokenKind::Word)
            .map(|t| char_ngram_count(t.end - t.start, cmin, cmax))
            .sum()
    } else {
        0
    };
    let cw = cfg.char_weight;
    let norm2 = (n_tok + n_bi) as f32 + cw * cw * n_char as f32;
    let scale = if norm2 > 0.0 { 1.0 / norm2.sqrt() } else { 0.0 };
    let char_val = cw * scale;

    let mut prev = SEED_BOS;
    let mut buf = [0u8; MAX_CHAR_WORD_BYTES + 2];
    for t in tokens {
        let bytes = &s[t.start..t.end];
        let h = fnv1a64(bytes);
        let seed = if t.negated { SEED_NEG } else { SEED_UNI };
        out.push((bucket(h ^ seed, bits), scale));
        if cfg.word_bigrams {
            out.push((bucket(prev.rotate_left(23) ^ h ^ SEED_BI, bits), scale));
        }
        prev = h;
        if use_chars && t.kind == TokenKind::Word {
            let w = &bytes[..bytes.len().min(MAX_CHAR_WORD_BYTES)];
            let len = w.len() + 2;
            buf[0] = b'<';
            buf[1..len - 1].copy_from_slice(w);
            buf[len - 1] = b'>';
            for start in 0..len {
                let mut hc = FNV_OFFSET ^ SEED_CHAR;
                for n in 1..=cmax {
                    if start + n > len {
                        break;
                    }
                    hc = fnv_step(hc, buf[start + n - 1]);
                    if n >= cmin {
                        out.push((bucket(hc, bits), char_val));
                    }
                }
            }
        }
    }
    if cfg.word_bigrams {
        out.push((bucket(prev.rotate_left(23) ^ SEED_EOS ^ SEED_BI, bits), scale));
    }

    // Bias (always present).
    out.push((bucket(SEED_DENSE, bits), 1.0));
    if cfg.dense {
        let st = scratch.stats;
        let dense = [
            (f32::ln_1p(st.exclamations as f32) * 0.5),
            (f32::ln_1p(st.questions as f32) * 0.5),
            (st.caps_words as f32 / st.words.max(1) as f32),
            (f32::ln_1p(n_tok as f32) * 0.2),
        ];
        for (k, v) in dense.into_iter().enumerate() {
            out.push((bucket(SEED_DENSE + 1 + k as u64, bits), v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<(String, bool)> {
        let mut s = Scratch::new();
        tokenize(text, true, &mut s);
        s.tokens()
            .iter()
            .map(|t| (s.token_str(t).to_string(), t.negated))
            .collect()
    }

    fn words(text: &str) -> Vec<String> {
        toks(text).into_iter().map(|(w, _)| w).collect()
    }

    #[test]
    fn tokenizer_keeps_emoticons_and_punctuation() {
        assert_eq!(
            words("GREAT movie!!! :) I'm so happy :-( ?! :D"),
            vec!["great", "movie", "!!!", ":)", "i'm", "so", "happy", ":-(", "?!", ":d"]
        );
    }

    #[test]
    fn tokenizer_collapses_repeats_and_decodes_entities() {
        assert_eq!(words("sooooo goooood!!!!!!"), vec!["sooo", "goood", "!!!"]);
        assert_eq!(words("salt &amp; pepper"), vec!["salt", "&", "pepper"]);
        assert_eq!(words("don’t"), vec!["don't"]);
    }

    #[test]
    fn tokenizer_handles_edge_cases() {
        assert!(words("").is_empty());
        assert!(words("   \t\n ").is_empty());
        assert_eq!(words("'quoted'"), vec!["'", "quoted", "'"]);
        assert_eq!(words("ÉTÉ Straße"), vec!["été", "straße"]);
        assert_eq!(words("日本語 テスト"), vec!["日本語", "テスト"]);
        let odd = "\u{0}\u{FFFD}\u{200B}\u{1F600}a\u{0301}";
        let _ = words(odd); // must not panic
    }

    #[test]
    fn negation_scope_until_punctuation() {
        let t = toks("this is not good at all, but fine");
        let neg: Vec<(&str, bool)> = t.iter().map(|(w, n)| (w.as_str(), *n)).collect();
        assert_eq!(
            neg,
            vec![
                ("this", false),
                ("is", false),
                ("not", false),
                ("good", true),
                ("at", true),
                ("all", true),
                (",", false),
                ("but", false),
                ("fine", false)
            ]
        );
        let t = toks("I don't like it but love this");
        assert!(t[3].1, "like negated: {t:?}");
        assert!(!t[5].1 && !t[6].1, "scope ends at 'but': {t:?}");
        let t = toks("never again. great");
        assert!(t[1].1 && !t[3].1, "{t:?}");
    }

    #[test]
    fn negation_can_be_disabled() {
        let mut s = Scratch::new();
        tokenize("not good", false, &mut s);
        assert!(s.tokens().iter().all(|t| !t.negated));
    }

    #[test]
    fn hash_is_stable() {
        // Known FNV-1a 64 test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(mix64(0), 0);
        assert_ne!(mix64(1), mix64(2));
    }

    #[test]
    fn featurize_is_deterministic_and_in_range() {
        let cfg = FeatureConfig::default();
        let mut s = Scratch::new();
        let mut a = Vec::new();
        let mut b = Vec::new();
        featurize(&cfg, "Not bad at all!! :)", &mut s, &mut a);
        featurize(&cfg, "Not bad at all!! :)", &mut Scratch::new(), &mut b);
        assert_eq!(a, b);
        assert!(a.iter().all(|&(i, v)| (i as usize) < cfg.dim() && v.is_finite()));
        // Sparse part is L2-normalised by counts: sum of squares ~ 1 (+ dense).
        let mut c = Vec::new();
        featurize(&cfg, "not good", &mut s, &mut c);
        let mut d = Vec::new();
        featurize(&cfg, "good", &mut s, &mut d);
        assert_ne!(c, d);
    }

    #[test]
    fn featurize_handles_empty_and_huge_inputs() {
        let cfg = FeatureConfig::default();
        let mut s = Scratch::new();
        let mut out = Vec::new();
        featurize(&cfg, "", &mut s, &mut out);
        assert!(!out.is_empty(), "bias feature always present");
        assert!(out.iter().all(|&(_, v)| v.is_finite()));
        let huge = "é".repeat(MAX_TEXT_BYTES); // 2 bytes each: truncation mid-char
        featurize(&cfg, &huge, &mut s, &mut out);
        assert!(s.normalized().len() <= MAX_TEXT_BYTES);
        let long_word = "x".repeat(1000);
        featurize(&cfg, &long_word, &mut s, &mut out);
        assert!(out.iter().all(|&(_, v)| v.is_finite()));
    }

    #[test]
    fn invalid_config_yields_empty_vector() {
        let cfg = FeatureConfig {
            hash_bits: 40,
            ..FeatureConfig::default()
        };
        assert!(cfg.validate().is_err());
        let mut out = vec![(1, 1.0)];
        featurize(&cfg, "good", &mut Scratch::new(), &mut out);
        assert!(out.is_empty());
    }
}
