//! Image names: Docker's normalisation (`busybox` is
//! `docker.io/library/busybox:latest`) via `oci-spec`, and the familiar
//! short form people type and see.

use std::fmt;

use oci_spec::distribution::Reference;

use crate::error::{Error, Result};

/// A normalised image name with a tag (and maybe a digest).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageName(Reference);

impl ImageName {
    /// Parses and normalises a name as Docker does.
    pub fn parse(s: &str) -> Result<ImageName> {
        let r: Reference =
            s.parse().map_err(
                |e: oci_spec::distribution::ParseError| Error::InvalidReference {
                    name: s.to_string(),
                    reason: e.to_string(),
                },
            )?;
        Ok(ImageName(r))
    }

    /// The full form, e.g. `docker.io/library/busybox:latest`: the key in
    /// the store.
    pub fn full(&self) -> String {
        self.0.whole()
    }

    /// Registry host (`docker.io`, `localhost:5000`).
    pub fn registry(&self) -> &str {
        self.0.registry()
    }

    /// Repository path within the registry.
    pub fn repository(&self) -> &str {
        self.0.repository()
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.0.tag()
    }

    /// The repository as `docker images` shows it: Docker Hub's
    /// `docker.io/` and `library/` prefixes dropped.
    pub fn familiar_repository(&self) -> String {
        familiar(self.registry(), self.repository())
    }

    /// The familiar form with the tag, e.g. `busybox:latest`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_repository();
        if let Some(t) = self.tag() {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = self.0.digest() {
            s.push('@');
            s.push_str(d);
        }
        s
    }
}

fn familiar(registry: &str, repository: &str) -> String {
    if registry == "docker.io" {
        repository
            .strip_prefix("library/")
            .unwrap_or(repository)
            .to_string()
    } else {
        format!("{registry}/{repository}")
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
        assert_eq!(n.familiar(), "me/app:2");
        assert!(ImageName::parse("Bad:Name").is_err());
        assert!(ImageName::parse("").is_err());
    }
}
