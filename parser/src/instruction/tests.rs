use super::*;

fn stages(src: &str) -> Stages {
    parse_stages(src.as_bytes()).unwrap().1
}

fn err(src: &str) -> Error {
    parse_stages(src.as_bytes()).unwrap_err()
}

#[test]
fn stages_and_global_args() {
    let s = stages("ARG V=1\nFROM a:$V AS Build\nRUN x\nFROM scratch\nCOPY --from=build /a /b\n");
    assert_eq!(s.global_args.len(), 1);
    assert_eq!(s.stages.len(), 2);
    assert_eq!(s.stages[0].from.name.as_deref(), Some("build"));
    assert_eq!(s.stages[0].from.base.value, "a:$V");
    let Command::Copy(c) = &s.stages[1].commands[0].command else {
        panic!("not a copy")
    };
    assert_eq!(c.from.as_ref().unwrap().value, "build");
    assert_eq!(c.sources[0].value, "/a");
    assert_eq!(c.dest.value, "/b");
}

#[test]
fn unknown_instruction_points_at_keyword() {
    let e = err("FROM a\n\n  FNTRYPOINT x\n");
    assert_eq!(
        e.to_string(),
        "unknown instruction: FNTRYPOINT (did you mean ENTRYPOINT?)"
    );
    assert_eq!((e.span.start.line, e.span.start.column), (3, 3));
    assert_eq!(e.span.end.column, 13);
}

#[test]
fn unknown_flag_points_at_flag() {
    let e = err("FROM a\nRUN --mont=type=cache,target=/x true\n");
    assert_eq!(e.to_string(), "unknown flag: --mont (did you mean mount?)");
    assert_eq!((e.span.start.line, e.span.start.column), (2, 5));
}

#[test]
fn shell_and_exec_forms() {
    let s = stages("FROM a\nRUN echo hi\nCMD [\"a\", \"b\"]\nENTRYPOINT x y\n");
    let cmds = &s.stages[0].commands;
    let Command::Run(r) = &cmds[0].command else {
        panic!()
    };
    assert_eq!(r.command.args, vec!["echo hi"]);
    assert!(r.command.prepend_shell);
    let Command::Cmd(c) = &cmds[1].command else {
        panic!()
    };
    assert_eq!(c.args, vec!["a", "b"]);
    assert!(!c.prepend_shell);
    let Command::Entrypoint(e) = &cmds[2].command else {
        panic!()
    };
    assert_eq!(e.args, vec!["x y"]);
}

#[test]
fn argument_count_errors() {
    assert_eq!(
        err("FROM a\nCOPY x\n").to_string(),
        "COPY requires at least two arguments, but only one was provided. Destination could not be determined"
    );
    assert_eq!(
        err("FROM a\nENV x\n").to_string(),
        "ENV must have two arguments"
    );
    assert_eq!(
        err("FROM a b\n").to_string(),
        "FROM requires either one or three arguments"
    );
    assert_eq!(
        err("FROM a AS 1x\n").to_string(),
        "invalid name for build stage: \"1x\", name can't start with a number or contain symbols"
    );
    assert_eq!(
        err("RUN x\n").to_string(),
        "no build stage in current context"
    );
    assert_eq!(
        err("FROM a\nSHELL sh -c\n").to_string(),
        "SHELL requires the arguments to be in JSON form"
    );
    assert_eq!(
        err("FROM a\nONBUILD ONBUILD RUN x\n").to_string(),
        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    );
    assert_eq!(
        err("FROM a\nONBUILD FROM x\n").to_string(),
        "FROM isn't allowed as an ONBUILD trigger"
    );
}

#[test]
fn env_and_label_pairs() {
    let s = stages("FROM a\nENV a=1 b=\"2 3\"\nLABEL k v w\n");
    let Command::Env(env) = &s.stages[0].commands[0].command else {
        panic!()
    };
    assert_eq!(env.len(), 2);
    assert_eq!(
        (env[1].key.as_str(), env[1].value.as_str()),
        ("b", "\"2 3\"")
    );
    let Command::Label(l) = &s.stages[0].commands[1].command else {
        panic!()
    };
    assert_eq!(
        (l[0].key.as_str(), l[0].value.as_str(), l[0].legacy),
        ("k", "v w", true)
    );
}

#[test]
fn healthcheck_forms() {
    let s = stages("FROM a\nHEALTHCHECK --interval=5s --retries=3 CMD curl x\nHEALTHCHECK NONE\n");
    let Command::Healthcheck(h) = &s.stages[0].commands[0].command else {
        panic!()
    };
    assert_eq!(h.test, vec!["CMD-SHELL", "curl x"]);
    assert_eq!(h.interval, Duration::from_secs(5));
    assert_eq!(h.retries, 3);
    let Command::Healthcheck(h) = &s.stages[0].commands[1].command else {
        panic!()
    };
    assert_eq!(h.test, vec!["NONE"]);
    assert_eq!(
        err("FROM a\nHEALTHCHECK FOO x\n").to_string(),
        "Unknown type \"FOO\" in HEALTHCHECK (try CMD)"
    );
    assert_eq!(
        err("FROM a\nHEALTHCHECK --interval=1us CMD x\n").to_string(),
        "Interval \"interval\" cannot be less than 1ms"
    );
    assert_eq!(
        err("FROM a\nHEALTHCHECK --retries=-1 CMD x\n").to_string(),
        "--retries cannot be negative (-1)"
    );
}

#[test]
fn expose_sorted_and_onbuild_text() {
    let s = stages("FROM a\nEXPOSE 8080 443/udp 80\nONBUILD RUN echo hi\n");
    let Command::Expose(p) = &s.stages[0].commands[0].command else {
        panic!()
    };
    let v: Vec<&str> = p.iter().map(|p| p.value.as_str()).collect();
    assert_eq!(v, vec!["443/udp", "80", "8080"]);
    let Command::Onbuild(o) = &s.stages[0].commands[1].command else {
        panic!()
    };
    assert_eq!(o, "RUN echo hi");
}
