//! Go's `time.ParseDuration` syntax (`1h30m`, `1.5s`, `300ms`, `-2s`), which
//! HEALTHCHECK options use.

use std::time::Duration;

use nom::branch::alt;
use nom::bytes::complete::tag;
use nom::character::complete::{digit0, digit1};
use nom::combinator::{all_consuming, opt, recognize};
use nom::multi::many1;
use nom::{IResult, Parser};

/// A parsed duration: Go allows a sign, so keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoDuration {
    /// True for a leading `-` with a nonzero value.
    pub negative: bool,
    /// The magnitude.
    pub duration: Duration,
}

fn number(i: &str) -> IResult<&str, &str> {
    alt((
        recognize((digit1, opt((tag("."), digit0)))),
        recognize((tag("."), digit1)),
    ))
    .parse(i)
}

fn unit(i: &str) -> IResult<&str, u128> {
    alt((
        tag("ns").map(|_| 1u128),
        tag("us").map(|_| 1_000),
        tag("µs").map(|_| 1_000),
        tag("μs").map(|_| 1_000),
        tag("ms").map(|_| 1_000_000),
        tag("s").map(|_| 1_000_000_000),
        tag("m").map(|_| 60_000_000_000),
        tag("h").map(|_| 3_600_000_000_000),
    ))
    .parse(i)
}

/// Parses a Go duration string. `"0"` alone is allowed without a unit.
pub fn parse_go_duration(s: &str) -> Option<GoDuration> {
    let (body, negative) = match s.as_bytes().first() {
        Some(b'-') => (&s[1..], true),
        Some(b'+') => (&s[1..], false),
        _ => (s, false),
    };
    if body == "0" {
        return Some(GoDuration {
            negative: false,
            duration: Duration::ZERO,
        });
    }
    let (_, parts) = all_consuming(many1((number, unit))).parse(body).ok()?;
    let mut total: u128 = 0;
    for (num, scale) in parts {
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        let int: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let mut nanos = int.checked_mul(scale)?;
        // Fractions beyond nanosecond precision are dropped, as in Go.
        let mut div = 1u128;
        let mut frac_val = 0u128;
        for d in frac.bytes().take(30) {
            frac_val = frac_val * 10 + u128::from(d - b'0');
            div *= 10;
        }
        nanos = nanos.checked_add(frac_val * scale / div)?;
        total = total.checked_add(nanos)?;
    }
    // Go's Duration is an int64 of nanoseconds.
    if total > i64::MAX as u128 {
        return None;
    }
    let duration = Duration::from_nanos(u64::try_from(total).ok()?);
    Some(GoDuration {
        negative: negative && !duration.is_zero(),
        duration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Option<(bool, u128)> {
        parse_go_duration(s).map(|g| (g.negative, g.duration.as_nanos()))
    }

    #[test]
    fn go_durations() {
        assert_eq!(d("1h30m"), Some((false, 5_400_000_000_000)));
        assert_eq!(d("1.5s"), Some((false, 1_500_000_000)));
        assert_eq!(d(".5ms"), Some((false, 500_000)));
        assert_eq!(d("-2s"), Some((true, 2_000_000_000)));
        assert_eq!(d("0"), Some((false, 0)));
        assert_eq!(d("10"), None);
        assert_eq!(d("interval"), None);
        assert_eq!(d(""), None);
        assert_eq!(d("3000000h"), None);
    }
}
