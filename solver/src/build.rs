//! One build, start to end: parse, lower, solve, export the image.

use std::path::PathBuf;
use std::sync::Arc;

use kiln_cache::{ImageConfig, ImageId, ImageName, Store, now_rfc3339};
use kiln_executor::Sandbox;
use tokio_util::sync::CancellationToken;

use crate::dockerignore::Patterns;
use crate::error::{Error, Result};
use crate::lower::{ImageResolver, Options, ResolvedImage, lower};
use crate::progress::{Event, Progress};
use crate::schedule::solve;
use crate::worker::{Output, RealWorker, human_bytes};

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The context directory, read in place.
    pub context: PathBuf,
    /// For a context unpacked from a URL or standard input: its name (the
    /// URL without credentials, or `-`). Such a context is a new temporary
    /// directory each build, so its files are not kept in the stat cache,
    /// and `--explain-cache` records go by this name.
    pub remote_context: Option<String>,
    /// The Dockerfile's bytes.
    pub dockerfile: Vec<u8>,
    /// How to call the Dockerfile in messages (`Dockerfile`).
    pub dockerfile_name: String,
    /// Lowering options (build args, target, no-cache).
    pub options: Options,
    /// Names for the image.
    pub tags: Vec<ImageName>,
    /// How many steps may run at once.
    pub jobs: usize,
    /// Tell on each cache miss what changed since the last build.
    pub explain_cache: bool,
    /// The `.dockerignore` content that applies (the Dockerfile's own
    /// `<name>.dockerignore`, else the context's), with its file name.
    pub dockerignore: Option<(String, Vec<u8>)>,
    /// `--secret`s, for `RUN --mount=type=secret`.
    pub secrets: Arc<crate::secrets::Secrets>,
    /// `--label`s: set on the image last, over the Dockerfile's (LBL-1).
    pub labels: std::collections::BTreeMap<String, String>,
}

/// What a build made.
#[derive(Debug, Clone)]
pub struct BuildResult {
    /// The stored image.
    pub image: ImageId,
    /// Its config.
    pub config: ImageConfig,
    /// Warnings for the user.
    pub warnings: Vec<String>,
    /// `SOURCE_DATE_EPOCH`, for exporters that date files.
    pub epoch: Option<i64>,
}

/// Looks base images up in the store.
struct StoreImages<'a>(&'a Store);

impl ImageResolver for StoreImages<'_> {
    fn resolve(&self, name: &str) -> std::result::Result<ResolvedImage, String> {
        let n = ImageName::parse(name).map_err(|e| e.to_string())?;
        match self.0.image(&n) {
            Ok(Some(img)) => Ok(ResolvedImage {
                name: n.full(),
                manifest: img.manifest_digest,
                config: img.config,
            }),
            Ok(None) => Err(format!(
                "base image {} not found in the store (kiln import or kiln pull it first)",
                n.familiar()
            )),
            Err(e) => Err(format!("base image {}: {e}", n.familiar())),
        }
    }
}

/// Progress ids for steps outside the graph, above any vertex index.
pub(crate) const INTERNAL: usize = 1 << 30;

struct Internal<'a> {
    progress: &'a Progress,
    next: usize,
}

impl Internal<'_> {
    fn step<T>(&mut self, name: &str, f: impl FnOnce(&Progress, usize) -> Result<T>) -> Result<T> {
        let vertex = INTERNAL + self.next;
        self.next += 1;
        self.progress
            .step(vertex, name, || f(self.progress, vertex))
    }
}

/// Dates the image and its new history entries: now, or at
/// `SOURCE_DATE_EPOCH`. With the epoch, inherited entries dated after it
/// are brought back to it too (as BuildKit's exporter does), so that the
/// same inputs give the same image, byte for byte.
fn stamp_times(config: &mut ImageConfig, epoch: Option<i64>) {
    let at = epoch.and_then(|t| chrono::DateTime::from_timestamp(t, 0));
    let stamp = match at {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        None => now_rfc3339(),
    };
    config.created = Some(stamp.clone());
    for h in &mut config.history {
        let later = match (&h.created, at) {
            (None, _) => true,
            (Some(c), Some(t)) => chrono::DateTime::parse_from_rfc3339(c).is_ok_and(|c| c > t),
            (Some(_), None) => false,
        };
        if later {
            h.created = Some(stamp.clone());
        }
    }
}

/// Runs a build and stores the image.
pub async fn build(
    store: Arc<Store>,
    sandbox: Sandbox,
    req: BuildRequest,
    progress: Progress,
    cancel: CancellationToken,
) -> Result<BuildResult> {
    let mut internal = Internal {
        progress: &progress,
        next: 0,
    };
    let (df, stages) = internal.step(
        &format!(
            "[internal] load build definition from {}",
            req.dockerfile_name
        ),
        |p, v| {
            p.send(Event::Status {
                vertex: v,
                text: format!(
                    "transferring dockerfile: {} done",
                    human_bytes(req.dockerfile.len() as u64)
                ),
            });
            Ok(kiln_parser::parse_stages(&req.dockerfile)?)
        },
    )?;
    let mut warnings: Vec<String> =
        kiln_parser::lint::lint(&df, &stages, &|name| ImageName::parse(name).is_ok())
            .iter()
            .map(|w| format!("{}: {} (line {})", w.rule, w.message, w.line))
            .collect();
    if kiln_parser::lint::check_config(&df).error && !warnings.is_empty() {
        let mut rules: Vec<&str> = warnings
            .iter()
            .filter_map(|w| w.split(':').next())
            .collect();
        rules.dedup();
        for w in &warnings {
            progress.send(Event::Warning { message: w.clone() });
        }
        return Err(Error::Usage(format!(
            "lint violation found for rules: {}",
            rules.join(", ")
        )));
    }
    let lowered = lower(&df, &stages, &req.options, &StoreImages(&store))?;
    warnings.extend(lowered.warnings.iter().cloned());
    for w in &warnings {
        progress.send(Event::Warning { message: w.clone() });
    }
    for name in &lowered.base_images {
        internal.step(&format!("[internal] load metadata for {name}"), |_, _| {
            Ok(())
        })?;
    }
    let ignore = match &req.dockerignore {
        None => None,
        Some((name, bytes)) => Some(Arc::new(internal.step(
            &format!("[internal] load {name}"),
            |p, v| {
                p.send(Event::Status {
                    vertex: v,
                    text: format!(
                        "transferring context: {} done",
                        human_bytes(bytes.len() as u64)
                    ),
                });
                Patterns::from_ignore_file(&String::from_utf8_lossy(bytes))
                    .map_err(|e| Error::Usage(format!("{name}: {e}")))
            },
        )?)),
    };
    let worker = Arc::new(
        RealWorker::new(
            store.clone(),
            sandbox,
            Some(req.context.clone()),
            lowered.context_paths.clone(),
            ignore,
            progress.clone(),
        )
        .with_explainer(
            store.root().join("explain"),
            format!(
                "{}\0{}\0{:?}",
                req.remote_context
                    .clone()
                    .unwrap_or_else(|| req.context.display().to_string()),
                req.dockerfile_name,
                req.options.target
            ),
            req.explain_cache,
        )
        .with_secrets(req.secrets.clone())
        .with_stat_cache(req.remote_context.is_none()),
    );
    let dag = Arc::new(lowered.dag);
    let result = solve(dag, worker, lowered.target, req.jobs, cancel).await?;
    let snapshot = match &result.output {
        Output::Fs(s) => s.clone(),
        Output::Context(_) => None,
    };
    let mut config = lowered.config;
    config.config.labels.extend(req.labels.clone());
    config.rootfs.diff_ids = snapshot.map(|s| s.diff_ids).unwrap_or_default();
    let non_empty = config.history.iter().filter(|h| !h.empty_layer).count();
    if non_empty != config.rootfs.diff_ids.len() {
        // Base images without history would make the two disagree; the
        // layers are what matter, so history is left as it is.
        progress.send(Event::Warning {
            message: format!(
                "image history lists {non_empty} layers but the image has {}",
                config.rootfs.diff_ids.len()
            ),
        });
    }
    stamp_times(&mut config, lowered.epoch);
    let image = internal.step("exporting to image", |p, v| {
        p.send(Event::Status {
            vertex: v,
            text: "exporting layers done".to_string(),
        });
        let id = store.put_image(&req.tags, &config).map_err(Error::from)?;
        p.send(Event::Status {
            vertex: v,
            text: format!("writing image {} done", id.config),
        });
        for t in &req.tags {
            p.send(Event::Status {
                vertex: v,
                text: format!("naming to {} done", t.full()),
            });
        }
        Ok(id)
    })?;
    Ok(BuildResult {
        image,
        config,
        warnings,
        epoch: lowered.epoch,
    })
}
