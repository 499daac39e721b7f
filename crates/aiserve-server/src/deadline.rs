//! The caller's deadline of a gRPC call, from its `grpc-timeout` header, so
//! the runtime can drop a request that waited past it instead of computing
//! an answer nobody reads.

use std::time::{Duration, Instant};

use tonic::metadata::MetadataMap;

/// How much earlier than the caller's deadline the runtime gives up: a
/// twentieth of the timeout, at most this. The caller's clock started before
/// the request travelled, and gRPC clients (and tonic's server, which answers
/// CANCELLED "Timeout expired") enforce the deadline themselves; giving up a
/// little earlier lets the answer, DEADLINE_EXCEEDED with the runtime's
/// message, arrive while the caller still listens.
const MAX_MARGIN: Duration = Duration::from_millis(5);

/// The deadline a request's `grpc-timeout` header sets, if it has a valid one.
pub fn from_metadata(metadata: &MetadataMap) -> Option<Instant> {
    let timeout = parse_timeout(metadata.get("grpc-timeout")?.to_str().ok()?)?;
    Some(Instant::now() + timeout.saturating_sub((timeout / 20).min(MAX_MARGIN)))
}

/// Parses the gRPC timeout format: at most 8 digits and a unit
/// (`H`ours, `M`inutes, `S`econds, `m`illis, `u`micros, `n`anos).
pub fn parse_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_timeout("10u"), Some(Duration::from_micros(10)));
        assert_eq!(parse_timeout("123456789n"), None, "more than 8 digits");
        assert_eq!(parse_timeout("5x"), None);
        assert_eq!(parse_timeout("m"), None);
        assert_eq!(parse_timeout(""), None);
        let mut md = MetadataMap::new();
        assert_eq!(from_metadata(&md), None);
        md.insert("grpc-timeout", "100m".parse().unwrap());
        let d = from_metadata(&md).unwrap();
        assert!(d > Instant::now() && d <= Instant::now() + Duration::from_millis(100));
    }
}
