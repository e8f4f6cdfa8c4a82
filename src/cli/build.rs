//! `kiln build`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_cache::{ImageName, Store};
use kiln_solver::lower::Options;
use kiln_solver::progress::Progress;
use kiln_solver::{BuildRequest, Error};
use tokio_util::sync::CancellationToken;

use crate::exit::{self, Failure};
use crate::render::Renderer;
use crate::render::diagnostic;

/// Flags of `kiln build`.
#[derive(clap::Args, Debug)]
// A flag given twice takes its last value, as scripts that append
// options expect.
#[command(args_override_self = true)]
pub struct Args {
    /// Name and optionally tag the image (`name:tag`); repeatable.
    #[arg(short = 't', long = "tag")]
    tags: Vec<String>,
    /// The Dockerfile (default: `Dockerfile` in the context; `-` for stdin).
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Set a build-time variable: `KEY=VALUE`, or `KEY` to take it from the
    /// environment.
    #[arg(long = "build-arg")]
    build_args: Vec<String>,
    /// Grant an entitlement: `network.host` lets `RUN --network=host` use
    /// the host's network. Repeatable or comma separated.
    #[arg(long = "allow", value_delimiter = ',')]
    allow: Vec<String>,
    /// Set a label on the image (`KEY=VALUE`; over the Dockerfile's
    /// LABELs); repeatable.
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Build this stage and what it needs, not the last one.
    #[arg(long)]
    target: Option<String>,
    /// Do not use the cache for any step.
    #[arg(long)]
    no_cache: bool,
    /// On each cache miss, tell what changed since the last build of the
    /// same Dockerfile: the instruction, a variable, the base image, an
    /// earlier step, the copied files.
    #[arg(long)]
    explain_cache: bool,
    /// Do not use the cache for these stages (names or indices, comma
    /// separated or repeated).
    #[arg(long, value_delimiter = ',')]
    no_cache_filter: Vec<String>,
    /// Progress output: auto, plain, tty, rawjson or quiet. auto is plain
    /// unless stdout and stderr are terminals and NO_COLOR and CI are unset.
    #[arg(long, default_value = "auto", env = "BUILDKIT_PROGRESS")]
    progress: String,
    /// Write the image ID to this file.
    #[arg(long)]
    iidfile: Option<PathBuf>,
    /// Write the build result (image digest, config digest, descriptor,
    /// names) as JSON to this file, with BuildKit's keys.
    #[arg(long)]
    metadata_file: Option<PathBuf>,
    /// Where the result goes besides the store: `type=local,dest=DIR` (the
    /// root filesystem), `type=tar,dest=FILE`, `type=oci,dest=FILE` (OCI
    /// layout tarball), `type=docker,dest=FILE` (for `docker load`), or
    /// `type=image` (the store only, the default). A bare `DIR` means
    /// `type=local`; `dest=-` writes tarballs to stdout.
    #[arg(short = 'o', long = "output")]
    output: Option<String>,
    /// A secret for `RUN --mount=type=secret`: `id=ID,src=FILE`,
    /// `id=ID,env=VAR`, or `id=ID` (the variable ID if set, else the file
    /// ID); repeatable. Values never reach the image, the cache or logs.
    #[arg(long = "secret")]
    secrets: Vec<String>,
    /// How many steps may run at once (default: twice the number of CPUs,
    /// at least 4).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// The build context: a directory; a git repository
    /// (`https://host/repo.git#ref:dir`, `git@host:repo.git`, `git://…`);
    /// an http(s) URL of a tarball (plain, gzip, bzip2, xz or zstd) or of a
    /// Dockerfile alone; or `-` for either on standard input.
    context: PathBuf,
}

/// Steps spend much of their time waiting (on disk, on a network, in
/// `sleep`) rather than computing, so one step per CPU would serialise
/// independent stages on a small CI agent: four sleeping stages on two
/// CPUs would take twice their critical path.
fn default_jobs() -> usize {
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    (2 * cpus).max(4)
}

/// Reads a Dockerfile (or stdin for `-`), returning the name to show and
/// the bytes.
pub fn read_dockerfile(path: &Path) -> Result<(String, Vec<u8>), Failure> {
    // Read one byte past the parser's limit, so that a huge file is
    // refused by the parser without being read whole.
    let limit = kiln_parser::MAX_FILE as u64 + 1;
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut buf)
            .map_err(|e| Failure::input(format!("reading the Dockerfile from stdin: {e}")))?;
        return Ok(("Dockerfile".to_string(), buf));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit).read_to_end(&mut bytes))
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Failure::input(format!("Dockerfile not found: {}", path.display()))
            }
            _ => Failure::input(format!("cannot read {}: {e}", path.display())),
        })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "Dockerfile".to_string());
    Ok((name, bytes))
}

/// The ignore file that applies: `<Dockerfile>.dockerignore` beside the
/// Dockerfile replaces the context's `.dockerignore` (semantics.md IGN-2).
fn read_dockerignore(
    dockerfile: &Path,
    context: &Path,
) -> Result<Option<(String, Vec<u8>)>, Failure> {
    let own = dockerfile
        .file_name()
        .filter(|_| dockerfile != Path::new("-"))
        .map(|n| dockerfile.with_file_name(format!("{}.dockerignore", n.to_string_lossy())));
    for candidate in own.into_iter().chain([context.join(".dockerignore")]) {
        match std::fs::read(&candidate) {
            Ok(bytes) => {
                let name = candidate
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                return Ok(Some((name, bytes)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Failure::input(format!(
                    "cannot read {}: {e}",
                    candidate.display()
                )));
            }
        }
    }
    Ok(None)
}

fn parse_build_args(raw: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut out = BTreeMap::new();
    for a in raw {
        match a.split_once('=') {
            Some(("", _)) => {
                return Err(Failure::input(format!(
                    "invalid --build-arg {a:?}: empty name"
                )));
            }
            Some((k, v)) => {
                out.insert(k.to_string(), v.to_string());
            }
            // A bare name takes its value from the environment, and is
            // skipped when the environment lacks it (as docker does).
            None => {
                if let Ok(v) = std::env::var(a) {
                    out.insert(a.clone(), v);
                }
            }
        }
    }
    Ok(out)
}

/// Checks `--allow`: only `network.host` can be granted.
fn allow_network_host(allow: &[String]) -> Result<bool, Failure> {
    let mut host = false;
    for a in allow {
        match a.as_str() {
            "network.host" => host = true,
            "security.insecure" | "device" => {
                return Err(Failure::input(format!(
                    "--allow {a}: kiln does not grant this entitlement"
                )));
            }
            other => {
                return Err(Failure::input(format!(
                    "--allow {other:?}: unknown entitlement (want network.host)"
                )));
            }
        }
    }
    Ok(host)
}

/// `--label KEY=VALUE`s; a bare `KEY` is an empty label, as with docker.
fn parse_labels(labels: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut out = BTreeMap::new();
    for l in labels {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        if k.is_empty() {
            return Err(Failure::input(format!("invalid --label {l:?}: empty key")));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// Where a `--secret` value comes from.
#[derive(Debug, PartialEq, Eq)]
enum SecretSource {
    File(PathBuf),
    Env(String),
}

/// Parses a `--secret` value as buildx does: `type=file|env`, `id`,
/// `src`/`source`, `env`; an id alone names a variable if one is set,
/// else a file.
fn parse_secret(spec: &str) -> Result<(String, SecretSource), String> {
    let (mut id, mut src, mut env, mut kind) = (None, None, None, None);
    for field in spec.split(',') {
        let Some((key, value)) = field.split_once('=') else {
            return Err(format!("invalid field '{field}' must be a key=value pair"));
        };
        match key.to_lowercase().as_str() {
            "type" if value == "file" || value == "env" => kind = Some(value.to_string()),
            "type" => return Err(format!("unsupported secret type {value:?}")),
            "id" => id = Some(value.to_string()),
            "source" | "src" => src = Some(value.to_string()),
            "env" => env = Some(value.to_string()),
            other => return Err(format!("unexpected key '{other}' in '{field}'")),
        }
    }
    let id = id.filter(|i| !i.is_empty()).ok_or("secret missing ID")?;
    if kind.as_deref() == Some("env") && env.is_none() {
        env = src.take();
    }
    let source = match (env, src) {
        (Some(e), _) => SecretSource::Env(e),
        (None, Some(f)) => SecretSource::File(PathBuf::from(f)),
        (None, None) if std::env::var_os(&id).is_some() => SecretSource::Env(id.clone()),
        (None, None) => SecretSource::File(PathBuf::from(&id)),
    };
    Ok((id, source))
}

/// Reads the `--secret`s. A file that cannot be read is an error now; a
/// variable that is not set leaves the secret missing, so that a mount
/// not marked `required` goes without it.
fn load_secrets(specs: &[String]) -> Result<kiln_solver::secrets::Secrets, Failure> {
    use kiln_solver::secrets::MAX_SECRET_SIZE;
    let mut out = kiln_solver::secrets::Secrets::default();
    for spec in specs {
        let bad = |m: String| Failure::input(format!("invalid --secret: {m}"));
        let (id, source) = parse_secret(spec).map_err(bad)?;
        let value = match source {
            SecretSource::Env(name) => match std::env::var_os(&name) {
                Some(v) => std::os::unix::ffi::OsStringExt::into_vec(v),
                None => continue,
            },
            SecretSource::File(path) => {
                let mut buf = Vec::new();
                std::fs::File::open(&path)
                    .and_then(|f| f.take(MAX_SECRET_SIZE as u64 + 1).read_to_end(&mut buf))
                    .map_err(|e| {
                        Failure::input(format!("secret {id}: reading {}: {e}", path.display()))
                    })?;
                buf
            }
        };
        out.insert(&id, value).map_err(Failure::input)?;
    }
    Ok(out)
}

/// Where `kiln build` takes its context from.
enum ContextArg {
    Dir(PathBuf),
    Git(kiln_solver::git::GitUrl),
    Url(String),
    Stdin,
}

impl ContextArg {
    fn parse(arg: &Path) -> Result<ContextArg, Failure> {
        let text = arg.to_string_lossy();
        if text == "-" {
            return Ok(ContextArg::Stdin);
        }
        match kiln_solver::git::GitUrl::parse(&text) {
            Some(Ok(url)) => return Ok(ContextArg::Git(url)),
            Some(Err(message)) => return Err(Failure::input(message)),
            None => {}
        }
        if text.starts_with("http://") || text.starts_with("https://") {
            return Ok(ContextArg::Url(text.into_owned()));
        }
        Ok(ContextArg::Dir(arg.to_path_buf()))
    }
}

/// What a build needs before it starts.
struct Prepared {
    req: BuildRequest,
    name: String,
    dockerfile: Vec<u8>,
    tags: Vec<ImageName>,
    /// Keeps an unpacked context until the build is over.
    _unpacked: Option<kiln_solver::remote::UnpackedContext>,
}

/// Reads a file of an unpacked (untrusted) context, resolved inside it:
/// `Ok(None)` when it is missing. At most `limit` bytes are read.
fn read_in_context(root: &Path, rel: &str, limit: u64) -> Result<Option<Vec<u8>>, Failure> {
    let fail = |e: String| Failure::input(format!("reading {rel} in the context: {e}"));
    let Some(f) = kiln_cache::fsops::open_file(root, rel).map_err(|e| fail(e.to_string()))? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    f.take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    Ok(Some(bytes))
}

/// Runs a context fetch (which blocks) on the runtime's blocking pool.
fn fetch_in_background(
    rt: &tokio::runtime::Runtime,
    store: &Arc<Store>,
    progress: &Progress,
    cancel: &CancellationToken,
    f: impl FnOnce(
        &Arc<Store>,
        &Progress,
        &CancellationToken,
    ) -> kiln_solver::Result<kiln_solver::remote::UnpackedContext>
    + Send
    + 'static,
) -> Result<kiln_solver::remote::UnpackedContext, Failure> {
    let (store, progress, cancel) = (store.clone(), progress.clone(), cancel.clone());
    let job = rt.spawn_blocking(move || f(&store, &progress, &cancel));
    rt.block_on(job)
        .map_err(|e| Failure::infra(format!("fetching the context: {e}")))?
        .map_err(|e| match e {
            Error::Canceled => Failure::new(130, "build canceled"),
            e => Failure::new(exit::for_class(e.class()), e.to_string()),
        })
}

/// Finds the context (downloading or unpacking it if need be), the
/// Dockerfile and the ignore file, and makes the build request.
fn prepare(
    store: &Arc<Store>,
    args: &Args,
    source: ContextArg,
    progress: &Progress,
    rt: &tokio::runtime::Runtime,
    cancel: &CancellationToken,
) -> Result<Prepared, Failure> {
    use kiln_solver::remote;
    let solver_err = |e: Error| Failure::new(exit::for_class(e.class()), e.to_string());
    // Flags first: a mistake in one should not cost a download.
    let mut tags = Vec::new();
    for t in &args.tags {
        tags.push(ImageName::parse(t).map_err(|e| Failure::input(e.to_string()))?);
    }
    let options = Options {
        build_args: parse_build_args(&args.build_args)?,
        target: args.target.clone(),
        no_cache: args.no_cache,
        no_cache_filter: args.no_cache_filter.clone(),
        allow_network_host: allow_network_host(&args.allow)?,
    };
    let secrets = Arc::new(load_secrets(&args.secrets)?);
    let labels = parse_labels(&args.labels)?;
    let (context, unpacked, remote_name) = match source {
        ContextArg::Dir(dir) => {
            match std::fs::metadata(&dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(Failure::input(format!(
                        "context {} is not a directory",
                        dir.display()
                    )));
                }
                Err(_) => {
                    return Err(Failure::input(format!(
                        "context directory {} does not exist",
                        dir.display()
                    )));
                }
            }
            (dir, None, None)
        }
        ContextArg::Url(url) => {
            let u = url.clone();
            let unpacked = fetch_in_background(rt, store, progress, cancel, move |s, p, c| {
                remote::fetch_context(s, &u, p, c)
            })?;
            let name = kiln_solver::op::redact_userinfo(&url);
            (unpacked.root(), Some(unpacked), Some(name))
        }
        ContextArg::Git(url) => {
            let u = url.clone();
            let unpacked = fetch_in_background(rt, store, progress, cancel, move |s, p, c| {
                remote::git_context(s, &u, p, c)
            })?;
            (unpacked.root(), Some(unpacked), Some(url.shown()))
        }
        ContextArg::Stdin => {
            let (_spooled, path) =
                remote::spool(store, std::io::stdin().lock()).map_err(solver_err)?;
            let unpacked = remote::unpack_file(store, &path).map_err(solver_err)?;
            (unpacked.root(), Some(unpacked), Some("-".to_string()))
        }
    };
    let limit = kiln_parser::MAX_FILE as u64 + 1;
    let (name, dockerfile, dockerignore) = match &unpacked {
        None => {
            let dockerfile_path = match &args.file {
                Some(f) => f.clone(),
                None => {
                    let upper = context.join("Dockerfile");
                    let lower = context.join("dockerfile");
                    if !upper.exists() && lower.exists() {
                        lower
                    } else {
                        upper
                    }
                }
            };
            let (name, dockerfile) = read_dockerfile(&dockerfile_path)?;
            let dockerignore = read_dockerignore(&dockerfile_path, &context)?;
            (name, dockerfile, dockerignore)
        }
        // A lone Dockerfile: the context is empty.
        Some(u) if u.dockerfile.is_some() => (
            "Dockerfile".to_string(),
            u.dockerfile.clone().unwrap_or_default(),
            None,
        ),
        Some(_) if args.file.as_deref() == Some(Path::new("-")) => {
            let (name, dockerfile) = read_dockerfile(Path::new("-"))?;
            let ignore = read_in_context(&context, ".dockerignore", limit)?
                .map(|b| (".dockerignore".to_string(), b));
            (name, dockerfile, ignore)
        }
        // `-f` names a file inside the unpacked context.
        Some(_) => {
            // Without `-f`: `Dockerfile`, else `dockerfile`.
            let candidates = match &args.file {
                Some(f) => vec![f.to_string_lossy().into_owned()],
                None => vec!["Dockerfile".to_string(), "dockerfile".to_string()],
            };
            let mut found = None;
            for rel in &candidates {
                if let Some(bytes) = read_in_context(&context, rel, limit)? {
                    found = Some((rel.clone(), bytes));
                    break;
                }
            }
            let (rel, dockerfile) = found.ok_or_else(|| {
                Failure::input(format!(
                    "Dockerfile not found in the context: {}",
                    candidates[0]
                ))
            })?;
            let name = Path::new(&rel)
                .file_name()
                .map_or("Dockerfile".to_string(), |n| {
                    n.to_string_lossy().into_owned()
                });
            let own = format!("{rel}.dockerignore");
            let ignore = match read_in_context(&context, &own, limit)? {
                Some(b) => Some((format!("{name}.dockerignore"), b)),
                None => read_in_context(&context, ".dockerignore", limit)?
                    .map(|b| (".dockerignore".to_string(), b)),
            };
            (name, dockerfile, ignore)
        }
    };
    let req = BuildRequest {
        context: std::fs::canonicalize(&context)
            .map_err(|e| Failure::input(format!("context {}: {e}", context.display())))?,
        remote_context: remote_name,
        dockerfile: dockerfile.clone(),
        dockerfile_name: name.clone(),
        options,
        tags: tags.clone(),
        dockerignore,
        explain_cache: args.explain_cache,
        jobs: args.jobs.unwrap_or_else(default_jobs),
        secrets,
        labels,
    };
    Ok(Prepared {
        req,
        name,
        dockerfile,
        tags,
        _unpacked: unpacked,
    })
}

pub fn run(store: Arc<Store>, args: Args) -> Result<i32, Failure> {
    let output = match &args.output {
        None => Output::Image,
        Some(o) => Output::parse(o)?,
    };
    let Some(mut renderer) = Renderer::for_mode(&args.progress) else {
        return Err(Failure::input(format!(
            "invalid --progress {:?}: want auto, plain, tty, rawjson or quiet",
            args.progress
        )));
    };
    let source = ContextArg::parse(&args.context)?;
    if matches!(source, ContextArg::Stdin) && args.file.as_deref() == Some(Path::new("-")) {
        return Err(Failure::input(
            "the context and the Dockerfile cannot both come from standard input",
        ));
    }
    let rt = super::runtime()?;
    let cancel = CancellationToken::new();
    // SIGINT and SIGTERM cancel the build, its context fetch included.
    let c = cancel.clone();
    rt.spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let terminated = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = terminated => {},
        }
        c.cancel();
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let drawing = std::thread::spawn(move || {
        for e in rx {
            renderer.event(e);
        }
        renderer.finish();
    });
    let progress = Progress::new(tx);
    let prepared = match prepare(&store, &args, source, &progress, &rt, &cancel) {
        Ok(p) => p,
        Err(f) => {
            drop(progress);
            let _ = drawing.join();
            return Err(f);
        }
    };
    let Prepared {
        req,
        name,
        dockerfile,
        tags,
        _unpacked,
    } = prepared;
    let store_for_output = store.clone();
    let result = rt.block_on(kiln_solver::build(
        store,
        kiln_executor::Sandbox::new(),
        req,
        progress,
        cancel.clone(),
    ));
    // Every sender is gone once the build returns and the runtime stops.
    drop(rt);
    let _ = drawing.join();
    match result {
        Ok(r) => {
            output.write(&store_for_output, &r.image, &tags, r.epoch)?;
            if let Some(path) = &args.iidfile {
                write_atomic(path, r.image.config.to_string().as_bytes())?;
            }
            if let Some(path) = &args.metadata_file {
                let names: Vec<String> = tags.iter().map(|t| t.full()).collect();
                let meta = serde_json::json!({
                    "containerimage.digest": r.image.manifest.to_string(),
                    "containerimage.config.digest": r.image.config.to_string(),
                    "containerimage.descriptor": {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": r.image.manifest.to_string(),
                        "size": r.image.manifest_size,
                    },
                    "image.name": names.join(","),
                });
                let text = serde_json::to_string_pretty(&meta).unwrap_or_default();
                write_atomic(path, text.as_bytes())?;
            }
            Ok(0)
        }
        Err(Error::Canceled) if cancel.is_cancelled() => Err(Failure::new(130, "build canceled")),
        Err(e) => Err(render_error(&name, &dockerfile, e)),
    }
}

/// `--output`.
enum Output {
    Image,
    Local(PathBuf),
    Tar(PathBuf),
    Oci(PathBuf),
    Docker(PathBuf),
}

impl Output {
    fn parse(s: &str) -> Result<Output, Failure> {
        if !s.contains('=') {
            return Ok(Output::Local(PathBuf::from(s)));
        }
        let mut kind = None;
        let mut dest = None;
        for field in s.split(',') {
            match field.split_once('=') {
                Some(("type", v)) => kind = Some(v.to_string()),
                Some(("dest", v)) => dest = Some(PathBuf::from(v)),
                _ => {
                    return Err(Failure::input(format!(
                        "--output: unknown field {field:?} (want type= and dest=)"
                    )));
                }
            }
        }
        let need = |d: Option<PathBuf>, k: &str| {
            d.ok_or_else(|| Failure::input(format!("--output type={k} needs dest=")))
        };
        match kind.as_deref() {
            Some("image") | None if dest.is_none() => Ok(Output::Image),
            Some("local") | None => Ok(Output::Local(need(dest, "local")?)),
            Some("tar") => Ok(Output::Tar(need(dest, "tar")?)),
            Some("oci") => Ok(Output::Oci(need(dest, "oci")?)),
            Some("docker") => Ok(Output::Docker(need(dest, "docker")?)),
            Some(other) => Err(Failure::input(format!(
                "--output type={other} is not supported (want image, local, tar, oci or docker)"
            ))),
        }
    }

    fn write(
        &self,
        store: &Store,
        id: &kiln_cache::ImageId,
        tags: &[ImageName],
        epoch: Option<i64>,
    ) -> Result<(), Failure> {
        use kiln_cache::export;
        if matches!(self, Output::Image) {
            return Ok(());
        }
        let image = store.image_by_manifest(&id.manifest)?;
        let to_file = |dest: &Path,
                       f: &dyn Fn(&mut dyn std::io::Write) -> kiln_cache::Result<()>|
         -> Result<(), Failure> {
            if dest == Path::new("-") {
                let mut out = std::io::stdout().lock();
                return f(&mut out).map_err(Failure::from);
            }
            let fail =
                |e: std::io::Error| Failure::infra(format!("writing {}: {e}", dest.display()));
            let dir = dest
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
            {
                let mut w = std::io::BufWriter::new(tmp.as_file_mut());
                f(&mut w).map_err(Failure::from)?;
                std::io::Write::flush(&mut w).map_err(fail)?;
            }
            tmp.persist(dest).map_err(|e| fail(e.error))?;
            Ok(())
        };
        match self {
            Output::Image => Ok(()),
            Output::Local(dir) => {
                export::write_rootfs_dir(store, &image, dir, epoch).map_err(Failure::from)
            }
            Output::Tar(dest) => {
                to_file(dest, &|w| export::write_rootfs_tar(store, &image, w, epoch))
            }
            Output::Oci(dest) => {
                to_file(dest, &|w| export::write_oci_archive(store, &image, tags, w))
            }
            Output::Docker(dest) => to_file(dest, &|w| {
                export::write_docker_archive(store, &image, tags, w)
            }),
        }
    }
}

/// Writes a file for CI to read: whole or not at all.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let fail = |e: std::io::Error| Failure::infra(format!("writing {}: {e}", path.display()));
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Turns a build error into the message and exit code the user sees.
fn render_error(file: &str, dockerfile: &[u8], e: Error) -> Failure {
    let code = exit::for_class(e.class());
    let source = String::from_utf8_lossy(dockerfile);
    let message = match &e {
        Error::Parse(p) => diagnostic::with_span(file, &source, p.span, &p.to_string()),
        Error::Dockerfile { message, span, .. } => {
            diagnostic::with_span(file, &source, *span, message)
        }
        _ => match e.lines() {
            Some(lines) => diagnostic::with_lines(file, &source, lines, &e.to_string()),
            None => e.to_string(),
        },
    };
    Failure::new(code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_flags_as_buildx_reads_them() {
        let file = |p: &str| SecretSource::File(PathBuf::from(p));
        let env = |e: &str| SecretSource::Env(e.to_string());
        assert_eq!(
            parse_secret("id=a,src=/f"),
            Ok(("a".to_string(), file("/f")))
        );
        assert_eq!(
            parse_secret("id=a,source=/f"),
            Ok(("a".to_string(), file("/f")))
        );
        assert_eq!(parse_secret("id=a,env=V"), Ok(("a".to_string(), env("V"))));
        assert_eq!(
            parse_secret("type=env,id=a,src=V"),
            Ok(("a".to_string(), env("V")))
        );
        // An id alone: a variable of that name when set, else a file.
        assert_eq!(
            parse_secret("id=PATH"),
            Ok(("PATH".to_string(), env("PATH")))
        );
        assert_eq!(
            parse_secret("id=kiln-no-such-variable"),
            Ok((
                "kiln-no-such-variable".to_string(),
                file("kiln-no-such-variable")
            ))
        );
        assert_eq!(parse_secret("src=/f"), Err("secret missing ID".to_string()));
        assert_eq!(
            parse_secret("id=a,type=ssh"),
            Err("unsupported secret type \"ssh\"".to_string())
        );
        assert_eq!(
            parse_secret("id=a,path=/f"),
            Err("unexpected key 'path' in 'path=/f'".to_string())
        );
        assert_eq!(
            parse_secret("id=a,oops"),
            Err("invalid field 'oops' must be a key=value pair".to_string())
        );
    }
}
