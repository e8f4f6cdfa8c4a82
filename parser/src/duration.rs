//! Go's `time.ParseDuration` syntax (`1h30m`, `1.5s`, `300ms`, `-2s`), which
//! HEALTHCHECK options use.

use std::time::Duration;

/// A parsed duration: Go allows a sign, so keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoDuration {
    /// True for a leading `-` with a nonzero value.
    pub negative: bool,
    /// The magnitude.
    pub duration: Duration,
}

/// Parses a Go duration string. `"0"` alone is allowed without a unit.
pub fn parse_go_duration(s: &str) -> Option<GoDuration> {
    parse_go_duration_msg(s).ok()
}

const LIMIT: u64 = 1 << 63;

fn unit_nanos(u: &str) -> Option<u64> {
    Some(match u {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Go's `time.quote`: bytes outside printable ASCII as `\xNN`.
fn time_quote(s: &str) -> String {
    let mut out = String::from('"');
    for c in s.chars() {
        if c.is_ascii() && c >= ' ' {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
    }
    out.push('"');
    out
}

/// `time.ParseDuration`, step for step, with its error messages.
pub(crate) fn parse_go_duration_msg(orig: &str) -> Result<GoDuration, String> {
    let invalid = || format!("time: invalid duration {}", time_quote(orig));
    let mut s = orig;
    let mut negative = false;
    if let Some(rest) = s.strip_prefix('-') {
        negative = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(GoDuration {
            negative: false,
            duration: Duration::ZERO,
        });
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // Whole part, with Go's overflow checks.
        let mut v: u64 = 0;
        let mut i = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            if v > LIMIT / 10 {
                return Err(invalid());
            }
            v = v * 10 + u64::from(b[i] - b'0');
            if v > LIMIT {
                return Err(invalid());
            }
            i += 1;
        }
        let pre = i > 0;
        // Fraction: precision simply stops when it would overflow.
        let mut f: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let start = i;
            let mut overflow = false;
            while i < b.len() && b[i].is_ascii_digit() {
                if !overflow {
                    if f > (LIMIT - 1) / 10 {
                        overflow = true;
                    } else {
                        let y = f * 10 + u64::from(b[i] - b'0');
                        if y > LIMIT {
                            overflow = true;
                        } else {
                            f = y;
                            scale *= 10.0;
                        }
                    }
                }
                i += 1;
            }
            post = i > start;
        }
        if !pre && !post {
            return Err(invalid());
        }
        // The unit runs to the next digit or period.
        let unit_len = b[i..]
            .iter()
            .position(|&c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(b.len() - i);
        if unit_len == 0 {
            return Err(format!(
                "time: missing unit in duration {}",
                time_quote(orig)
            ));
        }
        // Digits and periods are ASCII, so these are character boundaries.
        let u = &s[i..i + unit_len];
        s = &s[i + unit_len..];
        let Some(unit) = unit_nanos(u) else {
            return Err(format!(
                "time: unknown unit {} in duration {}",
                time_quote(u),
                time_quote(orig)
            ));
        };
        if v > LIMIT / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            // Go computes the fraction in float64; so do we, to the bit.
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
            let frac = (f as f64 * (unit as f64 / scale)) as u64;
            v += frac;
            if v > LIMIT {
                return Err(invalid());
            }
        }
        total += v;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if !negative && total > LIMIT - 1 {
        return Err(invalid());
    }
    Ok(GoDuration {
        negative: negative && total != 0,
        duration: Duration::from_nanos(total),
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
        assert_eq!(d("1.s"), Some((false, 1_000_000_000)));
        assert_eq!(d("1h0.5m"), Some((false, 3_630_000_000_000)));
        assert_eq!(d("2\u{b5}s"), Some((false, 2_000)));
        assert_eq!(d(".s"), None);
        assert_eq!(d("+5ms"), Some((false, 5_000_000)));
    }

    #[test]
    fn go_messages() {
        let e = |s: &str| parse_go_duration_msg(s).unwrap_err();
        assert_eq!(e("10"), "time: missing unit in duration \"10\"");
        assert_eq!(e("5x"), "time: unknown unit \"x\" in duration \"5x\"");
        assert_eq!(e("1h30"), "time: missing unit in duration \"1h30\"");
        assert_eq!(e("x"), "time: invalid duration \"x\"");
        assert_eq!(e(""), "time: invalid duration \"\"");
        assert_eq!(e("9999999999h"), "time: invalid duration \"9999999999h\"");
        assert_eq!(
            e("1é"),
            "time: unknown unit \"\\xc3\\xa9\" in duration \"1\\xc3\\xa9\""
        );
    }
}
