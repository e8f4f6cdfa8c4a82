//! `kiln images`: the tagged images, as `docker images` lists them.

use kiln_cache::Store;

use crate::exit::Failure;

/// Flags of `kiln images`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show only image IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Show full image IDs.
    #[arg(long)]
    no_trunc: bool,
}

/// "3 minutes ago", as docker shows ages.
fn age(created: Option<&str>) -> String {
    let Some(t) = created.and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok()) else {
        return "N/A".to_string();
    };
    let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    let (n, unit) = match secs {
        s if s < 60 => return "Less than a minute ago".to_string(),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86400 => (s / 3600, "hour"),
        s if s < 86400 * 14 => (s / 86400, "day"),
        s if s < 86400 * 60 => (s / (86400 * 7), "week"),
        s if s < 86400 * 365 * 2 => (s / (86400 * 30), "month"),
        s => (s / (86400 * 365), "year"),
    };
    if n == 1 {
        let article = if unit == "hour" { "An" } else { "A" };
        format!("{article} {unit} ago")
    } else {
        format!("{n} {unit}s ago")
    }
}

/// `1.23MB`, as docker shows sizes.
fn size(n: u64) -> String {
    kiln_solver::worker::human_bytes(n)
}

pub fn run(store: &Store, args: Args) -> Result<i32, Failure> {
    let images = store.images()?;
    if args.quiet {
        for i in &images {
            let id = if args.no_trunc {
                i.tag.config.to_string()
            } else {
                i.tag.config.short()
            };
            println!("{id}");
        }
        return Ok(0);
    }
    let rows: Vec<[String; 5]> = images
        .iter()
        .map(|i| {
            [
                i.name.familiar_repository(),
                i.name.tag().unwrap_or("<none>").to_string(),
                if args.no_trunc {
                    i.tag.config.to_string()
                } else {
                    i.tag.config.short()
                },
                age(i.created.as_deref()),
                size(i.size),
            ]
        })
        .collect();
    let header = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == 4 {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}   ", w = widths[i]));
            }
        }
        s
    };
    println!("{}", line(header));
    for r in &rows {
        println!(
            "{}",
            line([&r[0], &r[1], &r[2], &r[3], &r[4]].map(String::as_str))
        );
    }
    Ok(0)
}
