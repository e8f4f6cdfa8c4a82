//! Instructions that only change the image config: CMD, ENTRYPOINT,
//! LABEL, MAINTAINER, EXPOSE, VOLUME, USER, STOPSIGNAL, SHELL, HEALTHCHECK
//! and ONBUILD.

use kiln_cache::image::{Empty, HealthConfig};
use kiln_parser::go_quote;
use kiln_parser::instruction::{Command, CommandLine, Instruction};

use super::{Lowering, StageState, at, lines};
use crate::error::Result;

/// Go's `%q` of a string list, as BuildKit's history lines show commands.
fn go_list(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", q.join(" "))
}

fn wrap(st: &StageState, cl: &CommandLine) -> Vec<String> {
    if cl.prepend_shell && !cl.args.is_empty() {
        let mut v = st.shell.clone();
        v.extend(cl.args.iter().cloned());
        v
    } else {
        cl.args.clone()
    }
}

pub(super) fn lower_config(
    l: &mut Lowering<'_>,
    st: &mut StageState,
    ins: &Instruction,
) -> Result<()> {
    let env = st.env().clone();
    match &ins.command {
        Command::Cmd(cl) => {
            let cmd = wrap(st, cl);
            st.history(format!("CMD {}", go_list(&cmd)), true);
            st.config.config.cmd = Some(cmd);
            // Every CMD sets ArgsEscaped (semantics.md CE-3).
            st.config.config.args_escaped = true;
            st.cmd_set = true;
        }
        Command::Entrypoint(cl) => {
            let ep = wrap(st, cl);
            st.history(format!("ENTRYPOINT {}", go_list(&ep)), true);
            st.config.config.entrypoint = Some(ep);
            // A new ENTRYPOINT drops an inherited CMD (CE-1).
            if !st.cmd_set {
                st.config.config.cmd = None;
            }
        }
        Command::Label(pairs) => {
            let mut shown = Vec::new();
            for kv in pairs {
                let k = l.expand_at(&kv.key, kv.span, &env, lines(ins))?;
                let v = l.expand_at(&kv.value, kv.span, &env, lines(ins))?;
                shown.push(format!("{k}={v}"));
                st.config.config.labels.insert(k, v);
            }
            st.history(format!("LABEL {}", shown.join(" ")), true);
        }
        Command::Maintainer(m) => {
            let v = l.expand(m, &env, ins)?;
            st.history(format!("MAINTAINER {v}"), true);
            st.config.author = Some(v);
        }
        Command::Expose(ports) => {
            // The words were sorted as written, at parse time; expansion
            // and ranges keep that order (BuildKit's `dispatchExpose`).
            let mut added = Vec::new();
            for p in ports {
                let words = super::scope::lexer(l.df.escape)
                    .process_words(&p.value, &env)
                    .map_err(|e| {
                        at(
                            p.span,
                            lines(ins),
                            format!("failed to process {:?}: {e}", p.value),
                        )
                    })?;
                for spec in words {
                    let keys = parse_port(&spec).map_err(|m| at(p.span, lines(ins), m))?;
                    for k in keys {
                        st.config.config.exposed_ports.insert(k.clone(), Empty {});
                        added.push(k);
                    }
                }
            }
            st.history(format!("EXPOSE [{}]", added.join(" ")), true);
        }
        Command::Volume(vols) => {
            let mut added = Vec::new();
            for v in vols {
                let path = l.expand(v, &env, ins)?;
                if path.is_empty() {
                    return Err(at(
                        v.span,
                        lines(ins),
                        "VOLUME specified can not be an empty string",
                    ));
                }
                st.config.config.volumes.insert(path.clone(), Empty {});
                added.push(path);
            }
            st.history(format!("VOLUME [{}]", added.join(" ")), true);
        }
        Command::User(u) => {
            let v = l.expand(u, &env, ins)?;
            st.history(format!("USER {v}"), true);
            st.config.config.user = v;
        }
        Command::StopSignal(s) => {
            let v = l.expand(s, &env, ins)?;
            if !valid_signal(&v) {
                return Err(at(s.span, lines(ins), format!("invalid signal: {v}")));
            }
            st.history(format!("STOPSIGNAL {v}"), true);
            st.config.config.stop_signal = v;
        }
        Command::Shell(sh) => {
            st.shell = sh.clone();
            st.config.config.shell = sh.clone();
            st.history(format!("SHELL [{}]", sh.join(" ")), true);
        }
        Command::Healthcheck(h) => {
            let nanos = |d: std::time::Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
            st.config.config.healthcheck = Some(HealthConfig {
                test: h.test.clone(),
                interval: nanos(h.interval),
                timeout: nanos(h.timeout),
                start_period: nanos(h.start_period),
                start_interval: nanos(h.start_interval),
                retries: h.retries,
            });
            st.history(
                format!(
                    "HEALTHCHECK {{Test:[{}] Interval:{} Timeout:{} StartPeriod:{} StartInterval:{} Retries:{}}}",
                    h.test.join(" "),
                    go_duration(h.interval),
                    go_duration(h.timeout),
                    go_duration(h.start_period),
                    go_duration(h.start_interval),
                    h.retries
                ),
                true,
            );
        }
        // BuildKit records no history entry for ONBUILD.
        Command::Onbuild(expr) => st.config.config.on_build.push(expr.clone()),
        other => {
            return Err(at(
                ins.location.keyword,
                lines(ins),
                format!("{} is not supported yet", other.name()),
            ));
        }
    }
    Ok(())
}

/// Go's `time.Duration` text: `0s`, `500ms`, `1.5s`, `1m0s`, `1h0m0s`.
fn go_duration(d: std::time::Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".to_string();
    }
    let frac = |value: u128, unit: u128| -> String {
        let whole = value / unit;
        let rest = value % unit;
        if rest == 0 {
            return whole.to_string();
        }
        let digits = unit.to_string().len() - 1;
        let s = format!("{whole}.{rest:0digits$}");
        s.trim_end_matches('0').to_string()
    };
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", frac(ns, 1_000));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", frac(ns, 1_000_000));
    }
    let hours = ns / 3_600_000_000_000;
    let minutes = (ns / 60_000_000_000) % 60;
    let seconds = frac(ns % 60_000_000_000, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}

/// Docker's port specs: `80`, `80/tcp`, `53/UDP`, `8000-8001`,
/// `ip:host:ctr` (only the container port counts). One key per port
/// (semantics.md EXP-1).
fn parse_port(spec: &str) -> std::result::Result<Vec<String>, String> {
    let spec = spec.rsplit(':').next().unwrap_or(spec);
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto.to_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let num = |s: &str| -> std::result::Result<u16, String> {
        s.parse::<u16>()
            .map_err(|_| format!("invalid containerPort: {s}"))
    };
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let p = num(ports)?;
            (p, p)
        }
    };
    if end < start {
        return Err(format!(
            "invalid range specified for container port: {ports}"
        ));
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// A signal name (`SIGTERM`, `TERM`, case-insensitive) or number.
fn valid_signal(v: &str) -> bool {
    // moby/sys/signal `ParseSignal`: any non-zero integer (Go's `Atoi`,
    // sign included), else a name of its Linux map, `SIG` optional.
    if let Ok(n) = v.parse::<i64>() {
        return n != 0;
    }
    let up = v.to_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    const NAMES: &[&str] = &[
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
        "RTMIN", "RTMAX",
    ];
    if NAMES.contains(&name) {
        return true;
    }
    // RTMIN+1 … RTMIN+15 and RTMAX-14 … RTMAX-1, written exactly so.
    let offset = |rest: Option<&str>, max: u32| {
        rest.filter(|r| !r.starts_with('0') && r.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|r| r.parse::<u32>().ok())
            .is_some_and(|n| (1..=max).contains(&n))
    };
    offset(name.strip_prefix("RTMIN+"), 15) || offset(name.strip_prefix("RTMAX-"), 14)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        assert_eq!(parse_port("80").unwrap(), vec!["80/tcp"]);
        assert_eq!(parse_port("53/UDP").unwrap(), vec!["53/udp"]);
        assert_eq!(
            parse_port("8000-8001").unwrap(),
            vec!["8000/tcp", "8001/tcp"]
        );
        assert_eq!(parse_port("127.0.0.1:80:8080").unwrap(), vec!["8080/tcp"]);
        assert!(parse_port("80/foo").is_err());
        assert!(parse_port("x").is_err());
    }

    #[test]
    fn durations_like_go() {
        use std::time::Duration;
        for (d, want) in [
            (Duration::ZERO, "0s"),
            (Duration::from_secs(5), "5s"),
            (Duration::from_secs(60), "1m0s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_micros(1500), "1.5ms"),
            (
                Duration::from_secs(90) + Duration::from_millis(500),
                "1m30.5s",
            ),
        ] {
            assert_eq!(go_duration(d), want);
        }
    }

    #[test]
    fn signals() {
        for ok in [
            "SIGTERM",
            "term",
            "9",
            "SIGRTMIN+3",
            "RTMAX",
            "RTMAX-14",
            "rtmin+15",
            "100",
            "-3",
            "+5",
        ] {
            assert!(valid_signal(ok), "{ok}");
        }
        for bad in [
            "FOO",
            "0",
            "-0",
            "SIGRTMIN+99",
            "RTMAX-15",
            "RTMIN+03",
            "RTMIN+",
            "RTMIN-1",
            "",
            // Multi-byte text after a prefix once split a character.
            "RTMINé",
            "RTMAX+é",
            "99999999999999999999",
        ] {
            assert!(!valid_signal(bad), "{bad}");
        }
    }
}
