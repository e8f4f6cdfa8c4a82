//! Image names: Docker's reference grammar and normalisation (`busybox` is
//! `docker.io/library/busybox:latest`), and the familiar short form people
//! type and see.
//!
//! Written here rather than taken from `oci_spec::distribution::Reference`:
//! that parser compiles one very large regular expression on first use,
//! about 50 ms per kiln process, which is most of a cached rebuild. The
//! grammar is distribution/reference's (`reference.go`, `normalize.go`).

use std::fmt;

use crate::error::{Error, Result};

/// A normalised image name with a tag and/or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageName {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

const NAME_TOTAL_LENGTH_MAX: usize = 255;

fn invalid(name: &str, reason: &str) -> Error {
    Error::InvalidReference {
        name: name.to_string(),
        reason: reason.to_string(),
    }
}

/// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`
fn domain_component(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// A host, optionally with a port: domain components joined by dots, or
/// a bracketed IPv6 address.
fn valid_domain(d: &str) -> bool {
    let port_ok = |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit());
    if let Some(rest) = d.strip_prefix('[') {
        let Some((inner, after)) = rest.split_once(']') else {
            return false;
        };
        let addr_ok =
            !inner.is_empty() && inner.bytes().all(|c| c.is_ascii_hexdigit() || c == b':');
        return addr_ok && (after.is_empty() || after.strip_prefix(':').is_some_and(port_ok));
    }
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    host.split('.').all(domain_component) && port.is_none_or(port_ok)
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn path_component(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !is_alnum_lower(b[0]) || !is_alnum_lower(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum_lower(b[i]) {
            i += 1;
            continue;
        }
        // A separator: `.`, `_`, `__` or a run of `-`, then alphanumerics.
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if b.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || !b.get(i).is_some_and(|c| is_alnum_lower(*c)) {
            return false;
        }
    }
    true
}

fn is_alnum_lower(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// `algorithm:hex` with a known algorithm and the right length.
fn valid_digest(d: &str) -> std::result::Result<(), &'static str> {
    let Some((alg, hex)) = d.split_once(':') else {
        return Err("invalid checksum digest format");
    };
    let want = match alg {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        a if !a.is_empty()
            && a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"+.-_".contains(&c)) =>
        {
            return Err("unsupported digest algorithm");
        }
        _ => return Err("invalid checksum digest format"),
    };
    if hex.len() < 32 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err("invalid checksum digest format");
    }
    if hex.len() != want {
        return Err("invalid checksum digest length");
    }
    Ok(())
}

impl ImageName {
    /// Parses and normalises a name as Docker does.
    pub fn parse(s: &str) -> Result<ImageName> {
        if s.is_empty() {
            return Err(invalid(
                s,
                "repository name must have at least one component",
            ));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                valid_digest(d).map_err(|m| invalid(s, m))?;
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A tag follows the last `:` that comes after the last `/`.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let t = &rest[last_slash + i + 1..];
                if !valid_tag(t) {
                    return Err(invalid(s, "invalid reference format"));
                }
                (&rest[..last_slash + i], Some(t.to_string()))
            }
            None => (rest, None),
        };
        let (domain, path) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains(['.', ':']) || first == "localhost" || first.starts_with('[') =>
            {
                (first.to_string(), remainder.to_string())
            }
            _ => ("docker.io".to_string(), name.to_string()),
        };
        let domain = if domain == "index.docker.io" {
            "docker.io".to_string()
        } else {
            domain
        };
        if !valid_domain(&domain) {
            return Err(invalid(s, "invalid reference format"));
        }
        if path.bytes().any(|c| c.is_ascii_uppercase()) {
            return Err(invalid(s, "repository name must be lowercase"));
        }
        if !path.split('/').all(path_component) {
            return Err(invalid(s, "invalid reference format"));
        }
        let repository = if domain == "docker.io" && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if repository.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(invalid(
                s,
                &format!(
                    "repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
                ),
            ));
        }
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_string()),
            (t, _) => t,
        };
        Ok(ImageName {
            registry: domain,
            repository,
            tag,
            digest,
        })
    }

    /// The full form, e.g. `docker.io/library/busybox:latest`: the key in
    /// the store.
    pub fn full(&self) -> String {
        self.with_tag_and_digest(format!("{}/{}", self.registry, self.repository))
    }

    /// `repository` with `:tag` and `@digest` as given.
    fn with_tag_and_digest(&self, mut s: String) -> String {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// Registry host (`docker.io`, `localhost:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Repository path within the registry.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The repository as `docker images` shows it: Docker Hub's
    /// `docker.io/` and `library/` prefixes dropped.
    pub fn familiar_repository(&self) -> String {
        if self.registry == "docker.io" {
            self.repository
                .strip_prefix("library/")
                .unwrap_or(&self.repository)
                .to_string()
        } else {
            format!("{}/{}", self.registry, self.repository)
        }
    }

    /// The familiar form with the tag, e.g. `busybox:latest`.
    pub fn familiar(&self) -> String {
        self.with_tag_and_digest(self.familiar_repository())
    }
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_docker() {
        let n = ImageName::parse("busybox").unwrap();
        assert_eq!(n.full(), "docker.io/library/busybox:latest");
        assert_eq!(n.familiar(), "busybox:latest");
        let n = ImageName::parse("localhost:5000/app:1").unwrap();
        assert_eq!(n.full(), "localhost:5000/app:1");
        assert_eq!(n.familiar(), "localhost:5000/app:1");
        let n = ImageName::parse("me/app:2").unwrap();
        assert_eq!(n.full(), "docker.io/me/app:2");
        assert_eq!(n.familiar(), "me/app:2");
        let n = ImageName::parse("index.docker.io/library/alpine:3.20").unwrap();
        assert_eq!(n.familiar(), "alpine:3.20");
        let n = ImageName::parse(
            "ghcr.io/o/r/x@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        )
        .unwrap();
        assert_eq!(n.tag(), None);
        assert_eq!(n.registry(), "ghcr.io");
        assert_eq!(n.repository(), "o/r/x");
        let n = ImageName::parse("localhost/app").unwrap();
        assert_eq!(n.full(), "localhost/app:latest");
        let n = ImageName::parse("[::1]:5000/app:v1.0-rc_2").unwrap();
        assert_eq!(n.registry(), "[::1]:5000");
        let n = ImageName::parse("a__b/c.d-e---f:t").unwrap();
        assert_eq!(n.repository(), "a__b/c.d-e---f");
    }

    #[test]
    fn refuses_bad_names() {
        for bad in [
            "",
            "Bad:Name",
            "UPPER",
            "a b",
            "app:",
            ":tag",
            "app:-bad",
            "a/b/",
            "/a",
            "a..b",
            "a___b",
            "-a",
            "a@sha256:123",
            "a@md5:e3b0c44298fc1c149afbf4c8996fb924",
            "host:port/app",
            &format!("a:{}", "t".repeat(129)),
            &"a".repeat(256),
        ] {
            assert!(ImageName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
