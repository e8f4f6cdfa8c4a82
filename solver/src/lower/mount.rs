//! `RUN --mount`: BuildKit's mount specs, parsed as its
//! `commands_runmount.go` parses them (CSV fields, keys case-insensitive,
//! default type `bind`, the same error messages), and lowered to the mounts
//! of an exec vertex as `convert_runmount.go` lowers them (relative targets
//! below the working directory, the cache id defaulting to the target,
//! `from` naming an earlier stage or an image).
//!
//! `type=secret` takes the secrets given with `kiln build --secret`, as
//! BuildKit's `dispatchSecret` names them. `type=ssh` parses (so that its
//! mistakes get BuildKit's messages) but is refused: kiln has no agent
//! forwarding yet.

use kiln_parser::go_quote;
use kiln_parser::instruction::{Instruction, Spanned};

use super::copy::{clean_abs, copy_source};
use super::scope::lexer;
use super::{Lowering, StageState, at, levenshtein, lines};
use crate::context::clean_rel;
use crate::error::Result;
use crate::op::{CacheMount, CacheSharing, RunMount, RunMountKind, SecretMount, VertexId};

/// `type=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

impl MountType {
    const ALL: [(&'static str, MountType); 5] = [
        ("bind", MountType::Bind),
        ("cache", MountType::Cache),
        ("tmpfs", MountType::Tmpfs),
        ("secret", MountType::Secret),
        ("ssh", MountType::Ssh),
    ];

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, t)| *t == self)
            .map_or("bind", |(n, _)| n)
    }
}

impl std::fmt::Display for MountType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

const SHARING: [(&str, CacheSharing); 3] = [
    ("shared", CacheSharing::Shared),
    ("private", CacheSharing::Private),
    ("locked", CacheSharing::Locked),
];

/// Every key a mount field may have, in BuildKit's order (for "did you
/// mean").
const KEYS: [&str; 19] = [
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "src",
    "dst",
    "destination",
    "ro",
    "rw",
    "readwrite",
    "env",
];

/// A parsed `--mount` value, its words expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountSpec {
    pub(crate) kind: MountType,
    pub(crate) from: String,
    pub(crate) source: String,
    pub(crate) target: String,
    pub(crate) readonly: bool,
    /// `size=` in bytes (tmpfs); 0 or less means no limit.
    pub(crate) size: i64,
    pub(crate) id: String,
    pub(crate) sharing: Option<CacheSharing>,
    pub(crate) required: bool,
    pub(crate) env: Option<String>,
    pub(crate) mode: Option<u32>,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
}

/// What is wrong with a `--mount` value, in BuildKit's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MountError {
    /// The value is not one CSV record.
    #[error("failed to parse csv mounts: {0}")]
    Csv(String),
    /// A bare word that is not a flag.
    #[error("invalid field '{0}' must be a key=value pair")]
    NotKeyValue(String),
    /// A key this mount type does not take.
    #[error("unexpected key '{key}' for mount type '{kind}'")]
    KeyForType { key: String, kind: MountType },
    /// An unknown `type=`.
    #[error("unsupported mount type {}{}", go_quote(.value), hint(.suggestion))]
    Type {
        value: String,
        suggestion: Option<String>,
    },
    /// An unknown `sharing=`.
    #[error("unsupported sharing value {}{}", go_quote(.value), hint(.suggestion))]
    Sharing {
        value: String,
        suggestion: Option<String>,
    },
    /// A boolean or size that does not parse.
    #[error("invalid value for {key}: {value}")]
    Value { key: String, value: String },
    /// A `mode`, `uid` or `gid` that does not parse.
    #[error("invalid value {value} for {key}")]
    Number { key: &'static str, value: String },
    /// An unknown key.
    #[error("unexpected key '{key}' in '{field}'{}", hint(.suggestion))]
    Key {
        key: String,
        field: String,
        suggestion: Option<String>,
    },
    /// `mode`, `uid` or `gid` on a mount that has no file of its own.
    #[error("{key} not allowed for {} type mounts", go_quote(.kind.name()))]
    FileInfo { key: &'static str, kind: MountType },
    /// `from` on a secret.
    #[error("secret mount should not have a from")]
    SecretFrom,
    /// `sharing` on a secret.
    #[error("secret mount should not define sharing")]
    SecretSharing,
    /// A secret with nothing to name it.
    #[error("invalid secret mount. one of source, target required")]
    SecretName,
    /// A secret named twice.
    #[error("both source and id can't be set")]
    SecretSourceAndId,
    /// `sharing` on a mount that is not a cache.
    #[error("invalid cache sharing set for {0} mount")]
    SharingType(MountType),
    /// A variable in `from`.
    #[error("'from' doesn't support variable expansion, define alias stage instead")]
    FromVariable,
    /// A value that does not expand.
    #[error("{0}")]
    Expand(String),
}

fn hint(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map(|s| format!(" (did you mean {s}?)"))
        .unwrap_or_default()
}

/// BuildKit's `suggest.Search`, case-sensitive: the closest option under
/// an edit distance of 3, none for an exact match.
fn suggest(value: &str, options: &[&str]) -> Option<String> {
    let mut best = None;
    let mut min = 3;
    for opt in options {
        if value == *opt {
            return None;
        }
        let d = levenshtein(value, opt);
        if d < min {
            min = d;
            best = Some((*opt).to_string());
        }
    }
    best
}

/// Splits one CSV record as Go's `encoding/csv` (through
/// `tonistiigi/go-csvvalue`) does: `,` separates fields, a field that
/// starts with `"` is quoted (`""` is a quote), a quote anywhere else is
/// an error.
fn csv_fields(line: &str) -> std::result::Result<Vec<String>, MountError> {
    let err = |pos: usize, what: &str| {
        MountError::Csv(format!("parse error on line 1, column {}: {what}", pos + 1))
    };
    let line = line
        .strip_suffix("\r\n")
        .or_else(|| line.strip_suffix('\n'))
        .unwrap_or(line);
    if line.is_empty() {
        return Err(MountError::Csv("EOF".into()));
    }
    let mut fields = Vec::new();
    let mut rest = line;
    let mut pos = 0;
    loop {
        if !rest.starts_with('"') {
            let (field, next) = match rest.find(',') {
                Some(i) => (&rest[..i], Some(i)),
                None => (rest, None),
            };
            if let Some(j) = field.find('"') {
                return Err(err(pos + j, "bare \" in non-quoted-field"));
            }
            fields.push(field.to_string());
            match next {
                Some(i) => {
                    rest = &rest[i + 1..];
                    pos += i + 1;
                    continue;
                }
                None => break,
            }
        }
        rest = &rest[1..];
        pos += 1;
        let mut field = String::new();
        loop {
            let Some(i) = rest.find('"') else {
                return Err(err(pos, "extraneous or missing \" in quoted-field"));
            };
            field.push_str(&rest[..i]);
            rest = &rest[i + 1..];
            pos += i + 1;
            if rest.starts_with('"') {
                field.push('"');
                rest = &rest[1..];
                pos += 1;
            } else if rest.starts_with(',') {
                fields.push(std::mem::take(&mut field));
                rest = &rest[1..];
                pos += 1;
                break;
            } else if rest.is_empty() {
                fields.push(field);
                return Ok(fields);
            } else {
                return Err(err(pos - 1, "extraneous or missing \" in quoted-field"));
            }
        }
    }
    Ok(fields)
}

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseUint(v, radix, 32)`.
fn parse_u32(v: &str, radix: u32) -> Option<u32> {
    if v.is_empty() || !v.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(v, radix).ok()
}

/// docker's `units.RAMInBytes`: a decimal number, optionally followed
/// (after one space) by `b`, or `k`, `m`, `g`, `t`, `p` (powers of 1024)
/// with an optional `b` or `ib`, case-insensitive. `-1` means no limit.
pub(crate) fn ram_in_bytes(size: &str) -> Option<i64> {
    if size == "-1" {
        return Some(-1);
    }
    let sep = size.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')?;
    let (num, suffix) = if size.as_bytes()[sep] == b' ' {
        (&size[..sep], &size[sep + 1..])
    } else {
        (&size[..=sep], &size[sep + 1..])
    };
    let value: f64 = num.parse().ok()?;
    if value.is_nan() || value < 0.0 {
        return None;
    }
    if suffix.is_empty() {
        return Some(value as i64);
    }
    let sfx = suffix.to_lowercase();
    if sfx.len() > 3 {
        return None;
    }
    let mut chars = sfx.chars();
    let unit = chars.next()?;
    let tail: String = chars.collect();
    if unit == 'b' {
        return tail.is_empty().then_some(value as i64);
    }
    let power = "kmgtp".find(unit)? as i32 + 1;
    if !(tail.is_empty() || tail == "b" || tail == "ib") {
        return None;
    }
    Some((value * 1024f64.powi(power)) as i64)
}

/// The `from=` values of a raw `--mount`, for finding the stages a stage
/// needs before lowering it.
pub(super) fn from_names(raw: &str) -> Vec<String> {
    csv_fields(raw)
        .unwrap_or_default()
        .iter()
        .filter_map(|f| f.split_once('='))
        .filter(|(k, _)| k.eq_ignore_ascii_case("from"))
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// Parses a `--mount` value, expanding each value with `expand`.
///
/// As in BuildKit, `from` is first checked unexpanded: a `$` in it (but
/// as its last character) is an error before anything else.
pub(crate) fn parse(
    raw: &str,
    expand: &dyn Fn(&str) -> std::result::Result<String, String>,
) -> std::result::Result<MountSpec, MountError> {
    let fields = csv_fields(raw)?;
    for field in &fields {
        if let Some((key, value)) = field.split_once('=')
            && key.to_lowercase() == "from"
            && value.find('$').is_some_and(|i| i + 1 != value.len())
        {
            return Err(MountError::FromVariable);
        }
    }
    let mut m = MountSpec {
        kind: MountType::Bind,
        from: String::new(),
        source: String::new(),
        target: String::new(),
        readonly: false,
        size: 0,
        id: String::new(),
        sharing: None,
        required: false,
        env: None,
        mode: None,
        uid: None,
        gid: None,
    };
    let mut ro_auto = true;
    for field in &fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v)),
            None => (field.to_lowercase(), None),
        };
        let Some(value) = value else {
            match key.as_str() {
                "readonly" | "ro" => {
                    m.readonly = true;
                    ro_auto = false;
                }
                "readwrite" | "rw" => {
                    m.readonly = false;
                    ro_auto = false;
                }
                "required" if matches!(m.kind, MountType::Secret | MountType::Ssh) => {
                    m.required = true;
                }
                "required" => {
                    return Err(MountError::KeyForType { key, kind: m.kind });
                }
                _ => return Err(MountError::NotKeyValue(field.clone())),
            }
            continue;
        };
        let value = expand(value).map_err(MountError::Expand)?;
        let bad_value = || MountError::Value {
            key: key.clone(),
            value: value.clone(),
        };
        match key.as_str() {
            "type" => {
                let lower = value.to_lowercase();
                let Some((_, t)) = MountType::ALL.iter().find(|(n, _)| *n == lower) else {
                    let names: Vec<&str> = MountType::ALL.iter().map(|(n, _)| *n).collect();
                    return Err(MountError::Type {
                        suggestion: suggest(&value, &names),
                        value,
                    });
                };
                m.kind = *t;
            }
            "from" => m.from = value,
            "source" | "src" => m.source = value,
            "target" | "dst" | "destination" => m.target = value,
            "readonly" | "ro" => {
                m.readonly = parse_bool(&value).ok_or_else(bad_value)?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.readonly = !parse_bool(&value).ok_or_else(bad_value)?;
                ro_auto = false;
            }
            "required" => {
                if !matches!(m.kind, MountType::Secret | MountType::Ssh) {
                    return Err(MountError::KeyForType { key, kind: m.kind });
                }
                m.required = parse_bool(&value).ok_or_else(bad_value)?;
            }
            "size" => {
                if m.kind != MountType::Tmpfs {
                    return Err(MountError::KeyForType { key, kind: m.kind });
                }
                m.size = ram_in_bytes(&value).ok_or_else(bad_value)?;
            }
            "id" => m.id = value,
            "sharing" => {
                let lower = value.to_lowercase();
                let Some((_, s)) = SHARING.iter().find(|(n, _)| *n == lower) else {
                    let names: Vec<&str> = SHARING.iter().map(|(n, _)| *n).collect();
                    return Err(MountError::Sharing {
                        suggestion: suggest(&value, &names),
                        value,
                    });
                };
                m.sharing = Some(*s);
            }
            "mode" => {
                m.mode = Some(parse_u32(&value, 8).ok_or(MountError::Number {
                    key: "mode",
                    value: value.clone(),
                })?);
            }
            "uid" => {
                m.uid = Some(parse_u32(&value, 10).ok_or(MountError::Number {
                    key: "uid",
                    value: value.clone(),
                })?);
            }
            "gid" => {
                m.gid = Some(parse_u32(&value, 10).ok_or(MountError::Number {
                    key: "gid",
                    value: value.clone(),
                })?);
            }
            "env" => m.env = Some(value),
            _ => {
                return Err(MountError::Key {
                    suggestion: suggest(&key, &KEYS),
                    key,
                    field: field.clone(),
                });
            }
        }
    }
    let file_info = matches!(
        m.kind,
        MountType::Secret | MountType::Ssh | MountType::Cache
    );
    if !file_info {
        for (key, set) in [
            ("mode", m.mode.is_some()),
            ("uid", m.uid.is_some()),
            ("gid", m.gid.is_some()),
        ] {
            if set {
                return Err(MountError::FileInfo { key, kind: m.kind });
            }
        }
    }
    if ro_auto {
        m.readonly = !matches!(m.kind, MountType::Cache | MountType::Tmpfs);
    }
    if m.kind == MountType::Secret {
        if !m.from.is_empty() {
            return Err(MountError::SecretFrom);
        }
        if m.sharing.is_some() {
            return Err(MountError::SecretSharing);
        }
        if m.source.is_empty() && m.target.is_empty() && m.id.is_empty() {
            return Err(MountError::SecretName);
        }
        if !m.source.is_empty() && !m.id.is_empty() {
            return Err(MountError::SecretSourceAndId);
        }
    }
    if m.sharing.is_some() && m.kind != MountType::Cache {
        return Err(MountError::SharingType(m.kind));
    }
    Ok(m)
}

/// A secret mount as BuildKit's `dispatchSecret` makes it: the id is
/// `source` or `id`, else the target's base name; without `env` the file
/// goes to the target, by default `/run/secrets/<id>`; with `env` only to
/// a target given. The target is taken from `/`, not from the working
/// directory.
fn secret_mount(m: &MountSpec) -> std::result::Result<RunMount, String> {
    let id = if !m.source.is_empty() {
        m.source.clone()
    } else if !m.id.is_empty() {
        m.id.clone()
    } else {
        // `parse` refused a secret with neither.
        base_name(&m.target)
    };
    let target = match (m.target.is_empty(), &m.env) {
        (false, _) => clean_abs(&m.target),
        (true, None) => format!("/run/secrets/{}", base_name(&id)),
        (true, Some(_)) => String::new(),
    };
    if target == "/" {
        return Err(format!("invalid mount target {}", go_quote(&target)));
    }
    Ok(RunMount {
        target,
        kind: RunMountKind::Secret(SecretMount {
            id,
            required: m.required,
            env: m.env.clone(),
            uid: m.uid.unwrap_or(0),
            gid: m.gid.unwrap_or(0),
            mode: m.mode.unwrap_or(0o400),
        }),
    })
}

/// Go's `path.Base`: the last element, `.` for an empty path, `/` for
/// slashes only.
fn base_name(p: &str) -> String {
    if p.is_empty() {
        return ".".to_string();
    }
    match p.trim_end_matches('/').rsplit('/').next() {
        Some("") | None => "/".to_string(),
        Some(b) => b.to_string(),
    }
}

/// The context-index pattern that names exactly the context path
/// `source` (relative, clean): wildcard characters in a name are escaped,
/// since a bind source is a path, not a pattern.
pub(crate) fn context_pattern(source: &str) -> String {
    if source.is_empty() || source == "." {
        return ".".to_string();
    }
    let mut out = String::with_capacity(source.len());
    for c in source.chars() {
        if matches!(c, '*' | '?' | '[' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A path below a mount source's root, relative and clean, `.` for the
/// root (BuildKit joins it to `/`).
fn relative_source(source: &str) -> String {
    let rel = clean_rel(source);
    if rel.is_empty() { ".".to_string() } else { rel }
}

/// The mounts of a RUN, and the vertex inputs they read: `inputs[0]` is
/// the stage's root filesystem, the others are what binds and cache bases
/// come from.
pub(super) fn lower_mounts(
    l: &mut Lowering<'_>,
    st: &StageState,
    ins: &Instruction,
    raw: &[Spanned<String>],
    stage_index: usize,
) -> Result<(Vec<RunMount>, Vec<VertexId>)> {
    let mut inputs = vec![st.vertex];
    let env = st.env().clone();
    let escape = l.df.escape;
    let expand = |word: &str| {
        lexer(escape)
            .process_word(word, &env)
            .map(|e| e.value)
            .map_err(|e| format!("failed to process {word:?}: {e}"))
    };
    let workdir = match st.config.config.working_dir.as_str() {
        "" => "/",
        w => w,
    };
    let mut mounts = Vec::new();
    for flag in raw {
        let fail = |message: String| at(flag.span, lines(ins), message);
        let m = parse(&flag.value, &expand).map_err(|e| fail(e.to_string()))?;
        match m.kind {
            MountType::Ssh => {
                return Err(fail(format!(
                    "RUN --mount=type={} is not supported yet",
                    m.kind
                )));
            }
            MountType::Secret => {
                mounts.push(secret_mount(&m).map_err(fail)?);
                continue;
            }
            MountType::Bind | MountType::Cache | MountType::Tmpfs => {}
        }
        // The source stage must be lowered already: BuildKit dispatches
        // stages in file order.
        let from = if m.from.is_empty() {
            None
        } else {
            let lower = m.from.to_lowercase();
            match l
                .stages
                .iter()
                .position(|s| s.from.name.as_deref() == Some(lower.as_str()))
            {
                Some(i) if i >= stage_index => {
                    return Err(fail(format!(
                        "cannot mount from stage {} to {}, stage needs to be defined before current command",
                        go_quote(&m.from),
                        go_quote(&m.target)
                    )));
                }
                Some(i) => Some(l.stage(i)?.vertex),
                None if m.kind == MountType::Tmpfs => None,
                None => {
                    let named = Spanned {
                        value: m.from.clone(),
                        span: flag.span,
                    };
                    Some(copy_source(l, ins, &named, stage_index)?)
                }
            }
        };
        let target = if m.target.starts_with('/') {
            clean_abs(&m.target)
        } else {
            clean_abs(&format!("{workdir}/{}", m.target))
        };
        if target == "/" {
            return Err(fail(format!("invalid mount target {}", go_quote(&target))));
        }
        let source = relative_source(&m.source);
        let kind = match m.kind {
            MountType::Tmpfs => RunMountKind::Tmpfs {
                size: u64::try_from(m.size).ok().filter(|s| *s > 0),
            },
            MountType::Cache => {
                // Owner and mode apply to the cache's own directory, so a
                // subpath ignores them (BuildKit's `setCacheUIDGID`).
                let root = source == ".";
                RunMountKind::Cache(CacheMount {
                    id: if m.id.is_empty() {
                        clean_path(&m.target)
                    } else {
                        m.id.clone()
                    },
                    sharing: m.sharing.unwrap_or_default(),
                    base: from.map(|v| input_of(&mut inputs, v)),
                    source,
                    readonly: m.readonly,
                    uid: m.uid.filter(|_| root),
                    gid: m.gid.filter(|_| root),
                    mode: m.mode.filter(|_| root),
                })
            }
            _ => {
                let v = match from {
                    Some(v) => v,
                    None => l.context(&[context_pattern(&source)]),
                };
                RunMountKind::Bind {
                    input: input_of(&mut inputs, v),
                    source,
                    readonly: m.readonly,
                }
            }
        };
        mounts.push(RunMount { target, kind });
    }
    // BuildKit sorts mounts by target: one below another's target is
    // mounted after it, whatever the order of the flags.
    mounts.sort_by(|a, b| a.target.cmp(&b.target));
    Ok((mounts, inputs))
}

/// The position of `v` in `inputs`, added if missing.
fn input_of(inputs: &mut Vec<VertexId>, v: VertexId) -> usize {
    match inputs.iter().position(|i| *i == v) {
        Some(i) => i,
        None => {
            inputs.push(v);
            inputs.len() - 1
        }
    }
}

/// Go's `path.Clean`, for the default cache id.
fn clean_path(p: &str) -> String {
    if p.starts_with('/') {
        return clean_abs(p);
    }
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(raw: &str) -> std::result::Result<MountSpec, String> {
        parse(raw, &|w: &str| Ok(w.to_string())).map_err(|e| e.to_string())
    }

    fn err(raw: &str) -> String {
        plain(raw).expect_err(raw)
    }

    #[test]
    fn defaults_like_buildkit() {
        let m = plain("target=/ctx").unwrap();
        assert_eq!((m.kind, m.readonly), (MountType::Bind, true));
        let m = plain("type=cache,target=/c").unwrap();
        assert_eq!((m.kind, m.readonly), (MountType::Cache, false));
        let m = plain("type=tmpfs,target=/t").unwrap();
        assert_eq!((m.kind, m.readonly), (MountType::Tmpfs, false));
        let m = plain("TYPE=Bind,Target=/x,rw").unwrap();
        assert_eq!(
            (m.kind, m.readonly, m.target.as_str()),
            (MountType::Bind, false, "/x")
        );
        let m = plain("type=cache,target=/c,ro,uid=1001,gid=1002,mode=0751").unwrap();
        assert_eq!(
            (m.readonly, m.uid, m.gid, m.mode),
            (true, Some(1001), Some(1002), Some(0o751))
        );
        let m = plain("src=a,dst=/b,readonly=false").unwrap();
        assert_eq!(
            (m.source.as_str(), m.target.as_str(), m.readonly),
            ("a", "/b", false)
        );
        let m = plain("type=cache,target=/c,sharing=LOCKED,id=x").unwrap();
        assert_eq!(
            (m.sharing, m.id.as_str()),
            (Some(CacheSharing::Locked), "x")
        );
        let m = plain("type=secret,id=tok,required").unwrap();
        assert!(m.required);
        let m = plain("type=bind,\"target=/a b\",ro").unwrap();
        assert_eq!(m.target, "/a b");
        // A quoted field is one field, commas and all.
        assert_eq!(
            plain("\"type=bind,target=/a\"").unwrap_err(),
            "unsupported mount type \"bind,target=/a\""
        );
    }

    /// BuildKit's `dispatchSecret`: where the id and the file come from.
    #[test]
    fn secret_ids_and_targets() {
        let secret = |raw: &str| {
            let m = secret_mount(&plain(raw).unwrap()).unwrap();
            let RunMountKind::Secret(s) = m.kind else {
                panic!("{raw}: not a secret");
            };
            (s.id, m.target, s.env, (s.uid, s.gid, s.mode))
        };
        assert_eq!(
            secret("type=secret,id=tok"),
            ("tok".into(), "/run/secrets/tok".into(), None, (0, 0, 0o400))
        );
        assert_eq!(secret("type=secret,target=/a/b/key").0, "key");
        assert_eq!(secret("type=secret,source=aws").1, "/run/secrets/aws");
        assert_eq!(secret("type=secret,id=a/b").1, "/run/secrets/b");
        assert_eq!(
            secret("type=secret,id=tok,env=TOKEN"),
            (
                "tok".into(),
                String::new(),
                Some("TOKEN".into()),
                (0, 0, 0o400)
            )
        );
        assert_eq!(
            secret("type=secret,id=tok,env=TOKEN,target=rel/f,uid=5,mode=0440").1,
            "/rel/f"
        );
        assert_eq!(
            secret("type=secret,id=tok,uid=5,gid=6,mode=0440").3,
            (5, 6, 0o440)
        );
    }

    /// BuildKit's `testMountInvalid` and `testMountFromError`, and the
    /// other messages of `parseMount`.
    #[test]
    fn errors_like_buildkit() {
        assert_eq!(
            err("typ=tmpfs"),
            "unexpected key 'typ' in 'typ=tmpfs' (did you mean type?)"
        );
        assert_eq!(
            err("type=tmp"),
            "unsupported mount type \"tmp\" (did you mean tmpfs?)"
        );
        assert_eq!(
            err("from=$ttt,type=cache,target=/tmp"),
            "'from' doesn't support variable expansion, define alias stage instead"
        );
        // The unexpanded check comes before any other error.
        assert_eq!(
            err("typ=x,from=$a"),
            "'from' doesn't support variable expansion, define alias stage instead"
        );
        // A trailing `$` is no variable.
        assert!(plain("from=a$,target=/x").is_ok());
        assert_eq!(
            err("type=bind,target=/x,foo"),
            "invalid field 'foo' must be a key=value pair"
        );
        assert_eq!(
            err("target=/x,required"),
            "unexpected key 'required' for mount type 'bind'"
        );
        assert_eq!(
            err("size=10m,type=tmpfs"),
            "unexpected key 'size' for mount type 'bind'"
        );
        assert_eq!(err("ro=maybe"), "invalid value for ro: maybe");
        assert_eq!(err("type=tmpfs,size=big"), "invalid value for size: big");
        assert_eq!(
            err("type=cache,sharing=share"),
            "unsupported sharing value \"share\" (did you mean shared?)"
        );
        assert_eq!(
            err("type=cache,sharing=nothing"),
            "unsupported sharing value \"nothing\""
        );
        assert_eq!(err("type=cache,mode=0999"), "invalid value 0999 for mode");
        assert_eq!(err("type=cache,uid=-1"), "invalid value -1 for uid");
        assert_eq!(err("type=cache,gid=x"), "invalid value x for gid");
        assert_eq!(
            err("target=/x,mode=0755"),
            "mode not allowed for \"bind\" type mounts"
        );
        assert_eq!(
            err("type=tmpfs,target=/x,uid=1"),
            "uid not allowed for \"tmpfs\" type mounts"
        );
        assert_eq!(
            err("target=/x,sharing=locked"),
            "invalid cache sharing set for bind mount"
        );
        assert_eq!(
            err("type=secret,from=a"),
            "secret mount should not have a from"
        );
        assert_eq!(
            err("type=secret"),
            "invalid secret mount. one of source, target required"
        );
        assert_eq!(
            err("type=secret,id=a,src=b"),
            "both source and id can't be set"
        );
        assert_eq!(
            err("tagret=/x"),
            "unexpected key 'tagret' in 'tagret=/x' (did you mean target?)"
        );
        assert_eq!(err("zzzzzz=1"), "unexpected key 'zzzzzz' in 'zzzzzz=1'");
        assert_eq!(err(""), "failed to parse csv mounts: EOF");
        assert_eq!(
            err("\"target=/a"),
            "failed to parse csv mounts: parse error on line 1, column 2: extraneous or missing \" in quoted-field"
        );
        assert_eq!(
            err("target=/a\"b"),
            "failed to parse csv mounts: parse error on line 1, column 10: bare \" in non-quoted-field"
        );
        assert_eq!(
            err("\"target=/a\"x"),
            "failed to parse csv mounts: parse error on line 1, column 11: extraneous or missing \" in quoted-field"
        );
    }

    #[test]
    fn values_are_expanded_but_keys_are_not() {
        let expand = |w: &str| Ok(w.replace("$T", "cache").replace("$D", "/d"));
        let m = parse("type=$T,target=$D", &expand).unwrap();
        assert_eq!((m.kind, m.target.as_str()), (MountType::Cache, "/d"));
        let failing = |w: &str| Err(format!("failed to process {w:?}: bad"));
        assert_eq!(
            parse("target=${", &failing).unwrap_err().to_string(),
            "failed to process \"${\": bad"
        );
    }

    #[test]
    fn sizes_like_docker() {
        assert_eq!(ram_in_bytes("64m"), Some(64 << 20));
        assert_eq!(ram_in_bytes("128M"), Some(128 << 20));
        assert_eq!(ram_in_bytes("1kb"), Some(1024));
        assert_eq!(ram_in_bytes("1KiB"), Some(1024));
        assert_eq!(ram_in_bytes("2 g"), Some(2 << 30));
        assert_eq!(ram_in_bytes("0.5k"), Some(512));
        assert_eq!(ram_in_bytes("10"), Some(10));
        assert_eq!(ram_in_bytes("10b"), Some(10));
        assert_eq!(ram_in_bytes("-1"), Some(-1));
        for bad in ["", "m", "10x", "10mm", "10kbb", "-5", "1bb"] {
            assert_eq!(ram_in_bytes(bad), None, "{bad}");
        }
    }

    /// Images named `base:<tag>`, each with its own layer.
    struct Images;

    impl crate::lower::ImageResolver for Images {
        fn resolve(&self, name: &str) -> std::result::Result<crate::lower::ResolvedImage, String> {
            let n = kiln_cache::ImageName::parse(name).map_err(|e| e.to_string())?;
            let which = n.tag().unwrap_or("1").to_string();
            let mut config = kiln_cache::ImageConfig::scratch();
            config.rootfs.diff_ids = vec![kiln_cache::Digest::of(which.as_bytes())];
            Ok(crate::lower::ResolvedImage {
                name: n.full(),
                manifest: kiln_cache::Digest::of(format!("manifest {which}").as_bytes()),
                config,
            })
        }
    }

    fn lowered(src: &str) -> crate::error::Result<crate::lower::Lowered> {
        let (df, stages) = kiln_parser::parse_stages(src.as_bytes()).expect(src);
        crate::lower::lower(&df, &stages, &crate::lower::Options::default(), &Images)
    }

    fn digest(src: &str) -> kiln_cache::Digest {
        let l = lowered(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        l.dag.vertex(l.target).digest
    }

    #[test]
    fn every_mount_field_is_in_the_digest_but_the_cache_name() {
        let run = |flags: &str| {
            format!("FROM base:1 AS s\nFROM base:3 AS t\nFROM base:1\nRUN {flags} make\n")
        };
        let pairs = [
            ("--mount=target=/a", "--mount=target=/b"),
            ("--mount=target=/a", "--mount=target=/a,rw"),
            ("--mount=target=/a", "--mount=target=/a,source=x"),
            ("--mount=target=/a", "--mount=target=/a,from=s"),
            ("--mount=target=/a,from=s", "--mount=target=/a,from=base:2"),
            ("--mount=target=/a", "--mount=type=cache,target=/a"),
            (
                "--mount=type=cache,target=/a",
                "--mount=type=cache,target=/a,ro",
            ),
            (
                "--mount=type=cache,target=/a",
                "--mount=type=cache,target=/a,uid=1",
            ),
            (
                "--mount=type=cache,target=/a",
                "--mount=type=cache,target=/a,gid=1",
            ),
            (
                "--mount=type=cache,target=/a",
                "--mount=type=cache,target=/a,mode=0700",
            ),
            (
                "--mount=type=cache,target=/a",
                "--mount=type=cache,target=/a,source=x",
            ),
            (
                "--mount=type=cache,target=/a",
                "--mount=type=cache,target=/a,from=s",
            ),
            (
                "--mount=type=cache,target=/a,from=s",
                "--mount=type=cache,target=/a,from=t",
            ),
            (
                "--mount=type=tmpfs,target=/a",
                "--mount=type=tmpfs,target=/a,size=1m",
            ),
            (
                "--mount=type=tmpfs,target=/a",
                "--mount=type=tmpfs,target=/b",
            ),
            ("", "--mount=type=tmpfs,target=/a"),
        ];
        for (a, b) in pairs {
            assert_ne!(digest(&run(a)), digest(&run(b)), "{a} vs {b}");
        }
        // BuildKit strips a cache's id and sharing from its keys.
        assert_eq!(
            digest(&run("--mount=type=cache,target=/a")),
            digest(&run("--mount=type=cache,target=/a,id=other,sharing=locked"))
        );
        // Flags in another order are the same mounts.
        assert_eq!(
            digest(&run("--mount=target=/a --mount=type=tmpfs,target=/b")),
            digest(&run("--mount=type=tmpfs,target=/b --mount=target=/a"))
        );
    }

    #[test]
    fn lowering_resolves_targets_sources_and_stages() {
        let l = lowered(
            "FROM base:1 AS build\nFROM base:1\nWORKDIR /w\nARG T=tgt\n\
             RUN --mount=target=$T,source=../s/ --mount=from=BUILD,target=/b \
             --mount=type=cache,target=c/ make\n",
        )
        .unwrap();
        let crate::op::Op::Exec(e) = &l.dag.vertex(l.target).op else {
            panic!("not an exec");
        };
        let targets: Vec<&str> = e.mounts.iter().map(|m| m.target.as_str()).collect();
        assert_eq!(targets, ["/b", "/w/c", "/w/tgt"]);
        assert_eq!(l.context_paths, ["s"]);
        assert_eq!(l.dag.vertex(l.target).inputs.len(), 3);
        match &e.mounts[1].kind {
            RunMountKind::Cache(c) => assert_eq!((c.id.as_str(), c.source.as_str()), ("c", ".")),
            other => panic!("{other:?}"),
        }
        let err = |src: &str| lowered(src).map(|_| ()).unwrap_err().to_string();
        assert_eq!(
            err("FROM base:1 AS a\nRUN --mount=from=a,target=/x make\n"),
            "cannot mount from stage \"a\" to \"/x\", stage needs to be defined before current command"
        );
        assert_eq!(
            err("FROM base:1\nRUN --mount=type=tmpfs,target=/.. make\n"),
            "invalid mount target \"/\""
        );
        assert_eq!(
            err("FROM base:1\nRUN --mount=type=ssh make\n"),
            "RUN --mount=type=ssh is not supported yet"
        );
    }

    #[test]
    fn paths() {
        assert_eq!(context_pattern("."), ".");
        assert_eq!(context_pattern("a/b*"), "a/b\\*");
        assert_eq!(relative_source("/"), ".");
        assert_eq!(relative_source("../a/./b/"), "a/b");
        assert_eq!(clean_path("/a/../b/"), "/b");
        assert_eq!(clean_path("cache/"), "cache");
        assert_eq!(clean_path("../x"), "../x");
        assert_eq!(clean_path(""), ".");
        assert_eq!(from_names("type=bind,FROM=Build,target=/x"), vec!["Build"]);
    }
}
