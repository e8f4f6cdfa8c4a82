//! COPY and WORKDIR: file vertices on the stage's root filesystem.

use kiln_parser::instruction::{Copy, Instruction, Spanned};

use super::{Lowering, StageState, at, lines};
use crate::error::Result;
use crate::op::{
    CopyOp, GitSource, ImageSource, MkdirOp, Op, Owner, UrlSource, VertexId, VertexMeta,
    redact_userinfo,
};

/// Lexically cleans an absolute path (`/a/./b/../c` is `/a/c`), never
/// climbing above `/`.
pub(crate) fn clean_abs(path: &str) -> String {
    format!("/{}", crate::context::clean_rel(path))
}

/// Joins a destination with the working directory, keeping a trailing
/// `/` (it means "into this directory").
pub(crate) fn resolve_dest(workdir: &str, dest: &str) -> String {
    let into = dest.is_empty() || dest.ends_with('/') || dest == "." || dest.ends_with("/.");
    let joined = if dest.starts_with('/') {
        clean_abs(dest)
    } else {
        clean_abs(&format!("{workdir}/{dest}"))
    };
    if into && joined != "/" {
        format!("{joined}/")
    } else {
        joined
    }
}

/// The name a remote file is saved under when the destination is a
/// directory: the last segment of the decoded URL path, `__unnamed__` when
/// the path has none (BuildKit's `path.Base` rule in `convert_copy.go`).
pub(crate) fn url_file_name(url: &reqwest::Url) -> String {
    let decoded = percent_decode(url.path());
    let trimmed = decoded.trim_end_matches('/');
    let base = trimmed.rsplit('/').next().unwrap_or("");
    // `..` (reachable through an encoded `/`) would name the parent.
    match base {
        "" | "." | ".." => "__unnamed__".to_string(),
        b => b.to_string(),
    }
}

/// Decodes `%XX` escapes; malformed ones stay as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn lower_copy(
    l: &mut Lowering<'_>,
    st: &mut StageState,
    ins: &Instruction,
    c: &Copy,
    stage_index: usize,
    add: bool,
) -> Result<()> {
    let keyword = if add { "ADD" } else { "COPY" };
    let env = st.env().clone();
    let mut excludes = Vec::new();
    for e in &c.excludes {
        let v = l.expand(e, &env, ins)?;
        crate::dockerignore::Patterns::new(std::slice::from_ref(&v)).map_err(|err| {
            at(
                e.span,
                lines(ins),
                format!("invalid --exclude {v:?}: {err}"),
            )
        })?;
        excludes.push(v);
    }
    // Octal up to 07777 or symbolic (semantics.md CH-2); checked here,
    // applied per file by the copy.
    let mode = match &c.chmod {
        None => None,
        Some(m) => {
            let v = l.expand(m, &env, ins)?;
            if kiln_cache::fsops::Chmod::parse(&v).is_none() {
                return Err(at(
                    m.span,
                    lines(ins),
                    format!(
                        "invalid chmod parameter: '{v}'. it should be octal string and between 0 and 07777"
                    ),
                ));
            }
            Some(v)
        }
    };
    let chown = match &c.chown {
        None => None,
        Some(o) => Some(l.expand(o, &env, ins)?),
    };
    let mut raw_sources = Vec::new();
    for s in &c.sources {
        raw_sources.push((s.span, l.expand(s, &env, ins)?));
    }
    // The same test as for git contexts (BuildKit's `dfgitutil`).
    let is_git = |v: &str| crate::git::GitUrl::parse(v).is_some();
    let is_url = |v: &str| !is_git(v) && (v.starts_with("http://") || v.starts_with("https://"));
    // Checked before the sources themselves, as BuildKit does
    // (`dispatchCopy`); COPY's flag never gets here (the parser refuses it).
    let mut git_checksum = None;
    let checksum = match &c.checksum {
        None => None,
        Some(sum) => {
            if raw_sources.len() != 1 {
                return Err(at(
                    sum.span,
                    lines(ins),
                    "checksum can't be specified for multiple sources",
                ));
            }
            let only = &raw_sources[0].1;
            if !is_url(only) && !is_git(only) {
                return Err(at(
                    sum.span,
                    lines(ins),
                    "checksum requires HTTP(S) or Git sources",
                ));
            }
            let v = l.expand(sum, &env, ins)?;
            if is_git(only) {
                // For a repository, the checksum is (a prefix of) the
                // commit's name.
                if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(at(
                        sum.span,
                        lines(ins),
                        format!(
                            "invalid checksum {v:?}: want a commit's hex name or a prefix of it"
                        ),
                    ));
                }
                git_checksum = Some(v.to_lowercase());
                None
            } else {
                Some(v.parse::<kiln_cache::Digest>().map_err(|_| {
                    at(
                        sum.span,
                        lines(ins),
                        format!("invalid checksum {v:?}: want sha256:<64 lowercase hex digits>"),
                    )
                })?)
            }
        }
    };
    let mut sources = Vec::new();
    let mut urls = Vec::new();
    let mut shown_sources = Vec::new();
    let mut git_sources = Vec::new();
    let source_count = raw_sources.len();
    for (span, v) in raw_sources {
        let git = crate::git::GitUrl::parse(&v);
        let url = is_url(&v);
        match (add, git, url) {
            (false, Some(_), _) => {
                return Err(at(span, lines(ins), "source can't be a git ref for COPY"));
            }
            (false, _, true) => {
                return Err(at(span, lines(ins), "source can't be a URL for COPY"));
            }
            (true, Some(git), _) => {
                let url = git.map_err(|m| at(span, lines(ins), m))?;
                if c.keep_git_dir == Some(true) {
                    return Err(at(
                        span,
                        lines(ins),
                        "ADD --keep-git-dir=true is not supported yet",
                    ));
                }
                shown_sources.push(redact_userinfo(&v));
                git_sources.push((span, url));
                continue;
            }
            (true, _, true) => {
                let parsed = reqwest::Url::parse(&v).map_err(|e| {
                    at(
                        span,
                        lines(ins),
                        format!("invalid URL {:?}: {e}", redact_userinfo(&v)),
                    )
                })?;
                let name = url_file_name(&parsed);
                if name.contains('\0') {
                    return Err(at(
                        span,
                        lines(ins),
                        format!(
                            "invalid URL {:?}: its file name has a NUL byte",
                            redact_userinfo(&v)
                        ),
                    ));
                }
                shown_sources.push(redact_userinfo(&v));
                urls.push(UrlSource {
                    name,
                    url: v,
                    checksum,
                    // Remote archives stay packed unless asked (ADD-3).
                    unpack: c.unpack.unwrap_or(false),
                });
                continue;
            }
            _ => {}
        }
        shown_sources.push(v.clone());
        sources.push(v);
    }
    let mut inline = Vec::new();
    for content in &c.contents {
        let data = if content.expand {
            // Heredoc bodies keep their quotes (semantics.md HD-3).
            super::scope::lexer(l.df.escape)
                .raw_quotes(true)
                .process_word(&content.data, &env)
                .map(|e| e.value)
                .map_err(|e| {
                    at(
                        ins.location.keyword,
                        lines(ins),
                        format!("failed to expand heredoc: {e}"),
                    )
                })?
        } else {
            content.data.clone()
        };
        inline.push((content.path.clone(), data));
    }
    let dest_raw = l.expand(&c.dest, &env, ins)?;
    let workdir = match st.config.config.working_dir.as_str() {
        "" => "/",
        w => w,
    };
    let dest = resolve_dest(workdir, &dest_raw);

    // A repository is a source of its own, read like the context: its
    // whole tree is copied (semantics.md ADD-5).
    let git_vertex = match git_sources.pop() {
        None => None,
        Some((span, _)) if source_count > 1 => {
            return Err(at(
                span,
                lines(ins),
                "ADD of a git repository takes no other source",
            ));
        }
        Some((_, url)) => {
            sources.push(".".to_string());
            let name = format!("[internal] load git source {}", url.shown());
            Some(l.dag.add(
                Op::Git(GitSource {
                    url,
                    checksum: git_checksum,
                }),
                vec![],
                VertexMeta {
                    name,
                    lines: Some(lines(ins)),
                    no_cache: true,
                },
            ))
        }
    };
    let (source, owner_default) = match (&c.from, git_vertex) {
        (None, Some(git)) => (git, Owner::Root),
        (None, None) if sources.is_empty() => (l.scratch(), Owner::Root),
        (None, None) => (l.context(&sources), Owner::Root),
        (Some(from), _) => (copy_source(l, ins, from, stage_index)?, Owner::Keep),
    };
    let owner = match &chown {
        Some(c) => Owner::Chown(c.clone()),
        None => owner_default,
    };
    let text = after_keyword(&ins.location.original);
    let name = st.step_name(&redact_userinfo(&format!("{keyword} {text}")));
    // BuildKit's history line: expanded values, and of the flags only
    // --parents, --chown and --chmod (`dispatchCopy`).
    let mut history = keyword.to_string();
    if c.parents {
        history.push_str(" --parents");
    }
    if let Some(o) = &chown {
        history.push_str(&format!(" --chown={o}"));
    }
    if let Some(m) = &mode {
        history.push_str(&format!(" --chmod={m}"));
    }
    for s in &shown_sources {
        history.push(' ');
        history.push_str(s);
    }
    for content in &c.contents {
        history.push_str(&format!(" <<{}", content.path));
    }
    history.push_str(&format!(" {dest_raw} # buildkit"));
    let link = c.link && mode.is_none();
    let op = Op::Copy(CopyOp {
        sources,
        dest,
        owner,
        mode,
        inline,
        excludes,
        parents: c.parents,
        // ADD extracts local archives unless `--unpack=false`.
        unpack: c.unpack.unwrap_or(add),
        urls,
    });
    // `--link` copies onto an empty tree, so the copy's cache and layer do
    // not depend on the stage; the layer is then put on the stage. With
    // `--chmod` BuildKit quietly makes a plain copy (semantics.md LNK-1).
    if link {
        let scratch = l.scratch();
        let copied = l.dag.add(
            op,
            vec![scratch, source],
            l.vertex_meta(st.no_cache, name.clone(), ins),
        );
        let link_name = match name.split_once("] ") {
            Some((step, rest)) => format!("{step}] LINK {rest}"),
            None => format!("LINK {name}"),
        };
        st.vertex = l.dag.add(
            Op::Link,
            vec![st.vertex, copied],
            l.vertex_meta(st.no_cache, link_name, ins),
        );
    } else {
        st.vertex = l.dag.add(
            op,
            vec![st.vertex, source],
            l.vertex_meta(st.no_cache, name, ins),
        );
    }
    st.history(history, false);
    Ok(())
}

/// `--from`: a stage index, a stage name, or an image (semantics.md MS-3,
/// MS-4).
pub(super) fn copy_source(
    l: &mut Lowering<'_>,
    ins: &Instruction,
    from: &Spanned<String>,
    stage_index: usize,
) -> Result<VertexId> {
    let value = from.value.as_str();
    if value.contains('$') {
        return Err(at(
            from.span,
            lines(ins),
            "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround",
        ));
    }
    let lower = value.to_lowercase();
    let by_index = lower
        .parse::<usize>()
        .ok()
        .filter(|_| lower.bytes().all(|b| b.is_ascii_digit()));
    let found = match by_index {
        Some(i) if i < l.stages.len() => Some(i),
        Some(_) => None,
        None => l
            .stages
            .iter()
            .position(|s| s.from.name.as_deref() == Some(lower.as_str())),
    };
    if let Some(i) = found {
        if i >= stage_index {
            let current = super::stage_label(&l.stages[stage_index], stage_index);
            return Err(at(
                from.span,
                lines(ins),
                format!(
                    "cannot copy from stage {value:?}, it needs to be defined before current stage {current:?}"
                ),
            ));
        }
        return Ok(l.stage(i)?.vertex);
    }
    if by_index.is_some() {
        return Err(at(
            from.span,
            lines(ins),
            format!("invalid stage index {value}"),
        ));
    }
    let img = l
        .images
        .resolve(value)
        .map_err(|m| at(from.span, lines(ins), m))?;
    if !l.base_images.contains(&img.name) {
        l.base_images.push(img.name.clone());
    }
    Ok(l.dag.add(
        Op::Image(ImageSource {
            name: img.name.clone(),
            manifest: img.manifest,
            diff_ids: img.config.rootfs.diff_ids.clone(),
        }),
        vec![],
        VertexMeta {
            name: format!("[internal] load image {}", img.name),
            lines: None,
            no_cache: false,
        },
    ))
}

/// The instruction text after its keyword, as step names show it.
pub(super) fn after_keyword(original: &str) -> String {
    original
        .trim_start()
        .split_once(char::is_whitespace)
        .map(|(_, rest)| rest.trim().to_string())
        .unwrap_or_default()
}

pub(super) fn lower_workdir(
    l: &mut Lowering<'_>,
    st: &mut StageState,
    ins: &Instruction,
    w: &Spanned<String>,
) -> Result<()> {
    let env = st.env().clone();
    let value = l.expand(w, &env, ins)?;
    let current = match st.config.config.working_dir.as_str() {
        "" => "/",
        c => c,
    };
    let path = if value.starts_with('/') {
        clean_abs(&value)
    } else {
        clean_abs(&format!("{current}/{value}"))
    };
    st.config.config.working_dir = path.clone();
    let name = st.step_name(&format!(
        "WORKDIR {}",
        after_keyword(&ins.location.original)
    ));
    if path == "/" {
        st.history("WORKDIR /".to_string(), true);
        return Ok(());
    }
    let op = Op::Mkdir(MkdirOp {
        path: path.clone(),
        user: st.config.config.user.clone(),
        mtime: l.epoch,
    });
    st.vertex = l
        .dag
        .add(op, vec![st.vertex], l.vertex_meta(st.no_cache, name, ins));
    st.history(format!("WORKDIR {path}"), false);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(clean_abs("/a/./b/../c/"), "/a/c");
        assert_eq!(clean_abs("/../.."), "/");
        assert_eq!(resolve_dest("/w", "f"), "/w/f");
        assert_eq!(resolve_dest("/w", "d/"), "/w/d/");
        assert_eq!(resolve_dest("/w", "."), "/w/");
        assert_eq!(resolve_dest("/w", ""), "/w/");
        assert_eq!(resolve_dest("/", "."), "/");
        assert_eq!(resolve_dest("/w", "/abs"), "/abs");
    }

    #[test]
    fn names_of_remote_files() {
        let name = |u: &str| url_file_name(&reqwest::Url::parse(u).unwrap());
        assert_eq!(name("https://h.example/dir/file.tar.gz"), "file.tar.gz");
        assert_eq!(name("https://h.example/dir/file?x=1#frag"), "file");
        // `path.Base` drops trailing slashes.
        assert_eq!(name("https://h.example/dir/"), "dir");
        assert_eq!(name("https://h.example/"), "__unnamed__");
        assert_eq!(name("https://h.example"), "__unnamed__");
        assert_eq!(name("https://h.example//"), "__unnamed__");
        // Decoded, as Go's `url.Path` is; an encoded `/` splits.
        assert_eq!(name("http://h/a%20b"), "a b");
        assert_eq!(name("http://h/x/a%2Fb"), "b");
        assert_eq!(name("http://h/x/a%2F.."), "__unnamed__");
        assert_eq!(name("http://h/x/%zz"), "%zz");
        assert_eq!(name("http://u:p@h/secret"), "secret");
    }

    #[test]
    fn remote_destinations() {
        // A `/`-terminated destination takes the URL's name; otherwise the
        // destination is the file (the copy decides, as for local files).
        assert_eq!(resolve_dest("/", "/dir/"), "/dir/");
        assert_eq!(resolve_dest("/w", "file"), "/w/file");
        assert_eq!(resolve_dest("/w", "."), "/w/");
    }
}
