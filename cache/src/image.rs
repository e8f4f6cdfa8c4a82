//! Image documents: kiln's own image-config types (Docker's fields, sorted
//! maps so that digests are reproducible, unknown fields kept), and OCI
//! manifests built with `oci-spec`.

use std::collections::BTreeMap;

use oci_spec::image::{Descriptor, ImageManifest, ImageManifestBuilder, MediaType};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digest::Digest;
use crate::error::{Error, Result};

/// The empty JSON object Docker uses as a set member (`ExposedPorts`,
/// `Volumes`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// HEALTHCHECK in the config; durations in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", …]` or `["CMD-SHELL", text]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    /// Nanoseconds between checks; 0 = default.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    /// Nanoseconds a check may take; 0 = default.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    /// Grace period in nanoseconds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    /// Interval during the start period, in nanoseconds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    /// Failures before unhealthy; 0 = default.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub retries: i32,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

fn is_zero_i32(v: &i32) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

fn none_or_empty<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_none_or(|v| v.is_empty())
}

/// The runtime part of an image config (`config` in the JSON), with
/// Docker's field names and its omit-empty behaviour.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// `USER`.
    #[serde(rename = "User", default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// `EXPOSE`, as `port/proto` keys.
    #[serde(
        rename = "ExposedPorts",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub exposed_ports: BTreeMap<String, Empty>,
    /// `KEY=value` strings.
    #[serde(rename = "Env", default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// `ENTRYPOINT`.
    #[serde(rename = "Entrypoint", default, skip_serializing_if = "none_or_empty")]
    pub entrypoint: Option<Vec<String>>,
    /// `CMD`.
    #[serde(rename = "Cmd", default, skip_serializing_if = "none_or_empty")]
    pub cmd: Option<Vec<String>>,
    /// `VOLUME`.
    #[serde(
        rename = "Volumes",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub volumes: BTreeMap<String, Empty>,
    /// `WORKDIR`.
    #[serde(
        rename = "WorkingDir",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub working_dir: String,
    /// `LABEL`.
    #[serde(rename = "Labels", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `STOPSIGNAL`.
    #[serde(
        rename = "StopSignal",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub stop_signal: String,
    /// Set by every CMD (Windows heritage that changes the digest).
    #[serde(rename = "ArgsEscaped", default, skip_serializing_if = "is_false")]
    pub args_escaped: bool,
    /// `HEALTHCHECK`.
    #[serde(
        rename = "Healthcheck",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub healthcheck: Option<HealthConfig>,
    /// `ONBUILD` triggers.
    #[serde(rename = "OnBuild", default, skip_serializing_if = "Vec::is_empty")]
    pub on_build: Vec<String>,
    /// `SHELL`.
    #[serde(rename = "Shell", default, skip_serializing_if = "Vec::is_empty")]
    pub shell: Vec<String>,
    /// Fields kiln does not know, kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// `rootfs` of an image config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Digests of the uncompressed layer tars, bottom first.
    pub diff_ids: Vec<Digest>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".to_string(),
            diff_ids: Vec::new(),
        }
    }
}

/// One history entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// What made the layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Free text (`buildkit.dockerfile.v0` for Dockerfile steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True when the step made no layer.
    #[serde(default, skip_serializing_if = "is_false")]
    pub empty_layer: bool,
}

/// An image config, with the field order of Docker's Go structs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// RFC 3339 creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// `MAINTAINER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// CPU architecture, Go naming (`amd64`, `arm64`).
    pub architecture: String,
    /// Operating system (`linux`).
    pub os: String,
    /// CPU variant (`v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The runtime configuration.
    #[serde(default)]
    pub config: ContainerConfig,
    /// The layer diff IDs.
    #[serde(default)]
    pub rootfs: RootFs,
    /// History entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// Fields kiln does not know, kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The default PATH BuildKit puts in Linux images that lack one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Go's name of the architecture kiln runs on.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

impl ImageConfig {
    /// The config of `FROM scratch`: no layers, root working directory,
    /// the default PATH (semantics.md IMG-3, ENV-4).
    pub fn scratch() -> ImageConfig {
        ImageConfig {
            created: None,
            author: None,
            architecture: host_architecture().to_string(),
            os: "linux".to_string(),
            variant: None,
            config: ContainerConfig {
                env: vec![format!("PATH={DEFAULT_PATH}")],
                working_dir: "/".to_string(),
                ..ContainerConfig::default()
            },
            rootfs: RootFs::default(),
            history: Vec::new(),
            extra: BTreeMap::new(),
        }
    }

    /// Parses a config blob.
    pub fn from_json(bytes: &[u8]) -> Result<ImageConfig> {
        serde_json::from_slice(bytes).map_err(|source| Error::Json {
            what: "image config".to_string(),
            source,
        })
    }

    /// The canonical bytes kiln stores (compact JSON, sorted maps).
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising owned, string-keyed data cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// An `Env` value, if set.
    pub fn env(&self, key: &str) -> Option<&str> {
        self.config
            .env
            .iter()
            .rev()
            .find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    }
}

/// Media type of kiln's uncompressed layers in the local store.
pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

fn oci_digest(d: &Digest) -> Result<oci_spec::image::Digest> {
    d.to_string().parse().map_err(|_| Error::InvalidReference {
        name: d.to_string(),
        reason: "not an OCI digest".to_string(),
    })
}

/// A layer as a manifest lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerDesc {
    /// Blob digest.
    pub digest: Digest,
    /// Blob size.
    pub size: u64,
}

/// Builds an OCI image manifest for a config blob and layer blobs.
pub fn build_manifest(config: &Digest, config_size: u64, layers: &[LayerDesc]) -> Result<Vec<u8>> {
    let layer_descs: Vec<Descriptor> = layers
        .iter()
        .map(|l| {
            Ok(Descriptor::new(
                MediaType::ImageLayer,
                l.size,
                oci_digest(&l.digest)?,
            ))
        })
        .collect::<Result<_>>()?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(Descriptor::new(
            MediaType::ImageConfig,
            config_size,
            oci_digest(config)?,
        ))
        .layers(layer_descs)
        .build()
        .map_err(|e| Error::InvalidReference {
            name: "manifest".to_string(),
            reason: e.to_string(),
        })?;
    serde_json::to_vec(&manifest).map_err(|source| Error::Json {
        what: "manifest".to_string(),
        source,
    })
}

/// Parses a manifest blob.
pub fn parse_manifest(bytes: &[u8]) -> Result<ImageManifest> {
    serde_json::from_slice(bytes).map_err(|source| Error::Json {
        what: "image manifest".to_string(),
        source,
    })
}

/// The config digest and layers of a manifest, in kiln's digest type.
pub fn manifest_parts(m: &ImageManifest) -> Result<(Digest, Vec<LayerDesc>)> {
    let conv = |d: &oci_spec::image::Digest| -> Result<Digest> {
        d.to_string().parse().map_err(|_| Error::InvalidReference {
            name: d.to_string(),
            reason: "kiln stores sha256 digests only".to_string(),
        })
    };
    let config = conv(m.config().digest())?;
    let layers = m
        .layers()
        .iter()
        .map(|l| {
            Ok(LayerDesc {
                digest: conv(l.digest())?,
                size: l.size(),
            })
        })
        .collect::<Result<_>>()?;
    Ok((config, layers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_and_keeps_unknown_fields() {
        let json = br#"{"architecture":"amd64","os":"linux","config":{"Env":["A=1"],"Cmd":["sh"],"Weird":7},"rootfs":{"type":"layers","diff_ids":[]},"zzz":true}"#;
        let c = ImageConfig::from_json(json).unwrap();
        assert_eq!(c.env("A"), Some("1"));
        assert_eq!(c.config.extra.get("Weird"), Some(&Value::from(7)));
        let out = String::from_utf8(c.to_json()).unwrap();
        assert!(out.contains("\"Weird\":7"), "{out}");
        assert!(out.contains("\"zzz\":true"), "{out}");
        assert_eq!(ImageConfig::from_json(out.as_bytes()).unwrap(), c);
    }

    #[test]
    fn scratch_has_path_and_root_workdir() {
        let c = ImageConfig::scratch();
        assert_eq!(c.env("PATH"), Some(DEFAULT_PATH));
        assert_eq!(c.config.working_dir, "/");
        let s = String::from_utf8(c.to_json()).unwrap();
        assert!(s.starts_with("{\"architecture\""), "{s}");
    }

    #[test]
    fn manifest_lists_layers() {
        let cfg = Digest::of(b"cfg");
        let l = LayerDesc {
            digest: Digest::of(b"layer"),
            size: 5,
        };
        let bytes = build_manifest(&cfg, 3, &[l]).unwrap();
        let m = parse_manifest(&bytes).unwrap();
        let (c, layers) = manifest_parts(&m).unwrap();
        assert_eq!(c, cfg);
        assert_eq!(layers, vec![l]);
    }
}
