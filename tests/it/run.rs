//! `kiln run`.

use crate::require_root;
use crate::support::Kiln;

#[test]
fn exit_codes_pass_through() {
    require_root!();
    let k = Kiln::new();
    assert_eq!(
        k.kiln(&["run", "--rm", "busybox", "sh", "-c", "exit 7"])
            .code,
        7
    );
    assert_eq!(k.kiln(&["run", "--rm", "busybox", "true"]).code, 0);
    let r = k.kiln(&["run", "--rm", "busybox", "/no/such/program"]);
    assert_eq!(r.code, 127, "{}", r.stderr);
    // The command is pid 1: signals from inside its own namespace cannot
    // kill it, as in docker without --init.
    let r = k.kiln(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "kill -9 $$; echo alive",
    ]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (
            0, "alive
"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn runs_in_a_sandbox() {
    require_root!();
    let k = Kiln::new();
    let r = k
        .kiln(&[
            "run",
            "--rm",
            "-h",
            "box",
            "busybox",
            "sh",
            "-c",
            "echo $$; hostname; cat /proc/net/dev | wc -l",
        ])
        .ok();
    // pid 1, own hostname, only loopback (two header lines + lo).
    assert_eq!(r.stdout, "1\nbox\n3\n");
}

#[test]
fn env_workdir_user_flags() {
    require_root!();
    let k = Kiln::new();
    let r = k
        .kiln(&[
            "run",
            "--rm",
            "-e",
            "A=1",
            "-w",
            "/tmp/x",
            "-u",
            "nobody",
            "busybox",
            "sh",
            "-c",
            "echo $A; pwd; id -u",
        ])
        .ok();
    assert_eq!(r.stdout, "1\n/tmp/x\n65534\n");
}

#[test]
fn unknown_image_is_125() {
    require_root!();
    let k = Kiln::new();
    let r = k.kiln(&["run", "--rm", "nosuch", "true"]);
    assert_eq!(r.code, 125);
    assert!(
        r.stderr.contains("image nosuch:latest not found"),
        "{}",
        r.stderr
    );
}
