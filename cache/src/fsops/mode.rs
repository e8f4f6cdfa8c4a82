//! `--chmod` values: an octal mode, or a symbolic one (`u+x,go-r`,
//! `a=rX`) applied to each file's own mode with chmod(1)'s rules.

/// The bits each class owns: its rwx and its special bit (setuid for u,
/// setgid for g, sticky for o).
const USER: u32 = 0o4700;
const GROUP: u32 = 0o2070;
const OTHER: u32 = 0o1007;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Remove,
    Set,
}

/// What a clause grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Perm {
    /// `r`, `w`, `x`, `s`, `t` bits, and `X` (execute where a directory or
    /// already executable by someone).
    Bits { bits: u32, cond_exec: bool },
    /// `u`, `g` or `o`: copy that class's current bits.
    Copy(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Clause {
    /// Union of the class masks named (`USER`, `GROUP`, `OTHER`).
    who: u32,
    op: Op,
    perm: Perm,
}

const MAX_CLAUSES: usize = 16;

/// A parsed `--chmod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chmod(Repr);

// The symbolic form is a few hundred bytes, kept inline so that copy
// options stay `Copy`; one exists per COPY step.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repr {
    Octal(u32),
    /// Clauses in order; `None` past the last.
    Symbolic([Option<Clause>; MAX_CLAUSES]),
}

/// The rwx bits of the classes in `who`.
fn class_bits(who: u32) -> u32 {
    who & 0o777
}

impl Chmod {
    /// An octal mode.
    pub fn octal(mode: u32) -> Chmod {
        Chmod(Repr::Octal(mode & 0o7777))
    }

    /// Parses octal (`0755`, `644`) or symbolic (`u=rwX,go=rX`, `+x`)
    /// text; `None` when it is neither.
    pub fn parse(s: &str) -> Option<Chmod> {
        if !s.is_empty() && s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return u32::from_str_radix(s, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .map(Chmod::octal);
        }
        let mut clauses = [None; MAX_CLAUSES];
        let mut n = 0;
        for part in s.split(',') {
            let bytes = part.as_bytes();
            let mut i = 0;
            let mut who = 0;
            while let Some(&c) = bytes.get(i) {
                who |= match c {
                    b'u' => USER,
                    b'g' => GROUP,
                    b'o' => OTHER,
                    b'a' => USER | GROUP | OTHER,
                    _ => break,
                };
                i += 1;
            }
            if who == 0 {
                who = USER | GROUP | OTHER;
            }
            if i == bytes.len() {
                return None;
            }
            while i < bytes.len() {
                let op = match bytes[i] {
                    b'+' => Op::Add,
                    b'-' => Op::Remove,
                    b'=' => Op::Set,
                    _ => return None,
                };
                i += 1;
                let start = i;
                while i < bytes.len() && !matches!(bytes[i], b'+' | b'-' | b'=') {
                    i += 1;
                }
                let perm = match &part[start..i] {
                    "u" => Perm::Copy(USER),
                    "g" => Perm::Copy(GROUP),
                    "o" => Perm::Copy(OTHER),
                    perms => {
                        let mut bits = 0;
                        let mut cond_exec = false;
                        for c in perms.bytes() {
                            match c {
                                b'r' => bits |= 0o444,
                                b'w' => bits |= 0o222,
                                b'x' => bits |= 0o111,
                                b'X' => cond_exec = true,
                                b's' => bits |= 0o6000,
                                b't' => bits |= 0o1000,
                                _ => return None,
                            }
                        }
                        Perm::Bits { bits, cond_exec }
                    }
                };
                *clauses.get_mut(n)? = Some(Clause { who, op, perm });
                n += 1;
            }
        }
        (n > 0).then_some(Chmod(Repr::Symbolic(clauses)))
    }

    /// The mode a file or directory gets, given its current mode.
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let clauses = match &self.0 {
            Repr::Octal(m) => return *m,
            Repr::Symbolic(c) => c,
        };
        let mut mode = mode & 0o7777;
        for c in clauses.iter().flatten() {
            let grant = match c.perm {
                // One class's rwx, copied into every class.
                Perm::Copy(from) => {
                    let shift = match from {
                        USER => 6,
                        GROUP => 3,
                        _ => 0,
                    };
                    ((mode & class_bits(from)) >> shift) * 0o111
                }
                Perm::Bits { bits, cond_exec } => {
                    if cond_exec && (is_dir || mode & 0o111 != 0) {
                        bits | 0o111
                    } else {
                        bits
                    }
                }
            };
            // A clause only changes the bits of the classes it names.
            let mask = c.who;
            let grant = grant & mask;
            mode = match c.op {
                Op::Add => mode | grant,
                Op::Remove => mode & !grant,
                Op::Set => (mode & !mask) | grant,
            };
        }
        mode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(s: &str, mode: u32, dir: bool) -> u32 {
        Chmod::parse(s)
            .unwrap_or_else(|| panic!("{s} does not parse"))
            .apply(mode, dir)
    }

    #[test]
    fn octal() {
        assert_eq!(Chmod::parse("755"), Some(Chmod::octal(0o755)));
        assert_eq!(Chmod::parse("04755"), Some(Chmod::octal(0o4755)));
        assert_eq!(Chmod::parse("10000"), None);
        assert_eq!(Chmod::parse(""), None);
    }

    #[test]
    fn symbolic_like_chmod() {
        assert_eq!(sym("u+x,go-r", 0o644, false), 0o700);
        assert_eq!(sym("u+x,go-r", 0o755, false), 0o711);
        assert_eq!(sym("a=rX", 0o644, false), 0o444);
        assert_eq!(sym("a=rX", 0o755, false), 0o555);
        assert_eq!(sym("a=rX", 0o700, true), 0o555);
        assert_eq!(sym("+x", 0o644, false), 0o755);
        assert_eq!(sym("u=rwX,go=rX", 0o600, false), 0o644);
        assert_eq!(sym("g=u", 0o750, false), 0o770);
        assert_eq!(sym("u+s", 0o755, false), 0o4755);
        assert_eq!(sym("o+t", 0o755, true), 0o1755);
        assert_eq!(sym("u=rw", 0o4755, false), 0o655);
        assert_eq!(sym("go=", 0o777, false), 0o700);
        for bad in [
            "q+x",
            "u",
            "u+y",
            "u+x,",
            "+r+w+x+r+w+x+r+w+x+r+w+x+r+w+x+r+w",
        ] {
            assert_eq!(Chmod::parse(bad), None, "{bad}");
        }
    }
}
