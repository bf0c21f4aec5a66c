//! Running the `escalate` binary as a user would, for the black-box tests.
#![allow(dead_code)]

use std::process::{Command, Output};

/// Runs escalate in the crate directory with only the given `ESCALATE_*` variables.
pub fn escalate(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_escalate"));
    cmd.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("ESCALATE_")) {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Exit code 2, nothing on stdout, and exactly one line on stderr containing `wanted`.
pub fn assert_one_line_error(o: &Output, wanted: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert_eq!(stdout(o), "");
    assert_eq!(err.lines().count(), 1, "one line expected: {err:?}");
    assert!(err.contains(wanted), "{err:?} should contain {wanted:?}");
}

/// Standard output parsed as JSON, after checking the command succeeded.
pub fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap()
}
