//! Per-instruction flag declarations and their parsing (BuildKit's
//! `bflag.go`): every instruction says which flags it takes and of what
//! kind; anything else is refused by name.

use std::borrow::Cow;
use std::ops::Range;

use crate::ast::Word;
use crate::error::ErrorKind;
use crate::split::go_lower;
use crate::suggest::suggest;

/// The kind of value a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `--link`, `--link=true|false`.
    Bool,
    /// `--from=x`, once.
    String,
    /// `--exclude=x`, repeatable.
    Strings,
}

/// A flag as given, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Given<'a> {
    /// The value: borrowed from the word, or `true`/`false` for a boolean.
    pub(crate) value: Cow<'a, str>,
    pub(crate) range: Range<usize>,
}

/// The flags of one instruction after parsing, in the order given.
#[derive(Debug, Default)]
pub(crate) struct Flags<'a> {
    values: Vec<(&'static str, Given<'a>)>,
}

impl<'a> Flags<'a> {
    /// Parses `words` against the declared flags.
    pub(crate) fn parse(
        words: &'a [Word],
        decl: &[(&'static str, Kind)],
    ) -> Result<Flags<'a>, (ErrorKind, Range<usize>)> {
        let mut flags = Flags::default();
        for w in words {
            let a = w.value.as_str();
            if a == "--" {
                break;
            }
            let Some(body) = a.strip_prefix("--") else {
                return Err((ErrorKind::NotAFlag(a.to_string()), w.range.clone()));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let flag_name = || format!("--{name}");
            let Some(&(decl_name, kind)) = decl.iter().find(|(n, _)| *n == name) else {
                let names: Vec<&str> = decl.iter().map(|(n, _)| *n).collect();
                return Err((
                    ErrorKind::UnknownFlag {
                        flag: flag_name(),
                        suggestion: suggest(name, &names, true),
                    },
                    w.range.clone(),
                ));
            };
            // Only a repeatable flag may come again; the others are few, so
            // this scan stays linear in the number of flags.
            if kind != Kind::Strings && flags.values.iter().any(|(n, _)| *n == decl_name) {
                return Err((ErrorKind::DuplicateFlag(flag_name()), w.range.clone()));
            }
            let value: Cow<'a, str> = match (kind, value) {
                (Kind::Bool, Some("")) => {
                    return Err((ErrorKind::MissingFlagValue(flag_name()), w.range.clone()));
                }
                (Kind::Bool, None) => Cow::Borrowed("true"),
                (Kind::Bool, Some(v)) => match go_lower(v).as_str() {
                    "true" => Cow::Borrowed("true"),
                    "false" => Cow::Borrowed("false"),
                    _ => {
                        return Err((
                            ErrorKind::NotBoolean {
                                flag: flag_name(),
                                value: v.to_string(),
                            },
                            w.range.clone(),
                        ));
                    }
                },
                (_, None) => {
                    return Err((ErrorKind::MissingFlagValue(flag_name()), w.range.clone()));
                }
                (_, Some(v)) => Cow::Borrowed(v),
            };
            flags.values.push((
                decl_name,
                Given {
                    value,
                    range: w.range.clone(),
                },
            ));
        }
        Ok(flags)
    }

    /// The value of a single-valued flag, if given.
    pub(crate) fn get(&self, name: &str) -> Option<&Given<'a>> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, g)| g)
    }

    /// All values of a repeatable flag, in order.
    pub(crate) fn all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Given<'a>> + 's {
        self.values
            .iter()
            .filter(move |(n, _)| *n == name)
            .map(|(_, g)| g)
    }

    /// A boolean flag: `None` if not given.
    pub(crate) fn bool(&self, name: &str) -> Option<bool> {
        self.get(name).map(|g| g.value == "true")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(v: &[&str]) -> Vec<Word> {
        v.iter()
            .map(|s| Word {
                value: (*s).to_string(),
                range: 0..s.len(),
            })
            .collect()
    }

    const DECL: &[(&str, Kind)] = &[
        ("from", Kind::String),
        ("link", Kind::Bool),
        ("exclude", Kind::Strings),
    ];

    #[test]
    fn parses_declared_flags() {
        let w = words(&["--from=a", "--link", "--exclude=x", "--exclude=y"]);
        let f = Flags::parse(&w, DECL).unwrap();
        assert_eq!(f.get("from").unwrap().value, "a");
        assert_eq!(f.bool("link"), Some(true));
        assert_eq!(f.all("exclude").count(), 2);
        let w = words(&["--link=FALSE"]);
        let f = Flags::parse(&w, DECL).unwrap();
        assert_eq!(f.bool("link"), Some(false));
    }

    #[test]
    fn refuses_bad_flags() {
        let err = |v: &[&str]| Flags::parse(&words(v), DECL).unwrap_err().0.to_string();
        assert_eq!(
            err(&["--form=a"]),
            "unknown flag: --form (did you mean from?)"
        );
        assert_eq!(err(&["--zzzzzz"]), "unknown flag: --zzzzzz");
        assert_eq!(
            err(&["--from=a", "--from=b"]),
            "duplicate flag specified: --from"
        );
        assert_eq!(err(&["--from"]), "missing a value on flag: --from");
        assert_eq!(err(&["--link="]), "missing a value on flag: --link");
        assert_eq!(
            err(&["--link=maybe"]),
            "expecting boolean value for flag --link, not: maybe"
        );
    }
}
