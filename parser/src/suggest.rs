//! "Did you mean …?" for misspelt instructions and flags, with BuildKit's
//! rule: the closest option under an edit distance of 3.

use crate::split::{go_lower, go_upper};

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The option closest to `value`, if one is within distance 2. An exact
/// match means the value was fine and the error is about something else,
/// so it gives no suggestion. Without case sensitivity the answer takes
/// the case of `value` when that is all-lower or all-upper.
pub(crate) fn suggest(value: &str, options: &[&str], case_sensitive: bool) -> Option<String> {
    let val = if case_sensitive {
        value.to_string()
    } else {
        go_lower(value)
    };
    let mut best: Option<String> = None;
    let mut min = 3;
    for opt in options {
        let opt = if case_sensitive {
            (*opt).to_string()
        } else {
            go_lower(opt)
        };
        if val == opt {
            return None;
        }
        let d = distance(&val, &opt);
        if d < min {
            min = d;
            best = Some(if case_sensitive {
                opt
            } else if value == go_lower(value) {
                go_lower(&opt)
            } else if value == go_upper(value) {
                go_upper(&opt)
            } else {
                opt
            });
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        let opts = ["ENTRYPOINT", "RUN", "COPY"];
        assert_eq!(
            suggest("FNTRYPOINT", &opts, false),
            Some("ENTRYPOINT".into())
        );
        assert_eq!(
            suggest("fntrypoint", &opts, false),
            Some("entrypoint".into())
        );
        assert_eq!(suggest("XYZZY", &opts, false), None);
        assert_eq!(
            suggest("mont", &["mount", "network"], true),
            Some("mount".into())
        );
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
