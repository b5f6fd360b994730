//! `scanpay check-config` run as a real process: a valid config prints the effective config
//! with secrets masked and exits 0; an invalid one exits 78 (EX_CONFIG) with every problem.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use expect_test::expect;

const KEY: &str = "0123456789abcdef0123456789abcdef";
const TOKEN: &str = "register-token-XYZ";

fn scanpay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scanpay"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run scanpay")
}

/// A temp directory with a private key and a config using it (mode 0640: it may hold an
/// inline token).
fn setup(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("merchant.key");
    fs::write(&key, format!("{KEY}\n")).unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let path = dir.path().join("config.toml");
    fs::write(&path, config).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    dir
}

fn config_arg(dir: &Path) -> String {
    dir.join("config.toml").display().to_string()
}

/// stdout and stderr with the temp directory replaced, checked for leaked secrets.
fn texts(output: &Output, dir: &Path) -> (String, String) {
    let clean = |bytes: &[u8]| {
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(
            !text.contains(KEY) && !text.contains(TOKEN),
            "secret leaked:\n{text}"
        );
        text.replace(&dir.display().to_string(), "$DIR")
    };
    (clean(&output.stdout), clean(&output.stderr))
}

const GOOD: &str = r#"
[gateway]
base_url = "http://127.0.0.1:9000"
app_id = "JYK2018100001"
key_file = "merchant.key"
notify_url = "https://pos.example.com/notify"

[payment]
order_prefix = "SHOP1T2"

[scanner]
kind = "stdin"

[display]
kind = "png"
output_dir = "screens"
language = "en"

[register]
token = "register-token-XYZ"
fixed_amount_fen = 1250

[storage]
path = "journal"
"#;

#[test]
fn a_valid_config_prints_the_effective_config_masked_and_exits_0() {
    let dir = setup(GOOD);
    let output = scanpay(&["check-config", "--config", &config_arg(dir.path())]);
    let (stdout, stderr) = texts(&output, dir.path());
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
    expect![[r##"
        # effective config of $DIR/config.toml (defaults filled in, secrets masked)

        [gateway]
        base_url = "http://127.0.0.1:9000/"
        app_id = "JYK2018100001"
        key_file = "<32 bytes from $DIR/merchant.key>"
        notify_url = "https://pos.example.com/notify"
        operator_id = "scanpay"
        connect_timeout_ms = 3000
        request_timeout_ms = 10000
        sign_lowercase_values = true

        [payment]
        first_query_ms = 2000
        query_interval_ms = 3000
        max_query_interval_ms = 15000
        deadline_s = 60
        duplicate_window_s = 10
        not_found_final_s = 300
        default_subject = "scanpay"
        order_prefix = "SHOP1T2"

        [payment.reconcile]
        fast_every_s = 30
        fast_for_s = 900
        slow_every_s = 300
        slow_for_s = 86400

        [offline]
        pay_max_age_s = 30

        [scanner]
        kind = "stdin"
        suffix = "lf"

        [display]
        kind = "png"
        width = 240
        height = 240
        output_dir = "$DIR/screens"
        language = "en"

        [register]
        listen = "127.0.0.1:8750"
        token = "****"
        fixed_amount_fen = 1250

        [storage]
        path = "$DIR/journal"
        keep_days = 400
    "##]]
    .assert_eq(&stdout);
}

#[test]
fn an_inline_token_in_a_config_others_can_read_is_refused() {
    let dir = setup(GOOD);
    let path = dir.path().join("config.toml");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let output = scanpay(&["check-config", "--config", &config_arg(dir.path())]);
    let (stdout, stderr) = texts(&output, dir.path());
    assert_eq!(output.status.code(), Some(78));
    assert_eq!(stdout, "");
    expect![[r#"
        scanpay: error: config file $DIR/config.toml has 1 problem:
          [register] token: is written in a config file with mode 0644, which every local user can read; run `chmod o-rwx` on the config, or move the token to token_file (mode 0600)
    "#]]
    .assert_eq(&stderr);
    // The same config with the token in its own file is fine at 0644.
    let token = dir.path().join("token");
    fs::write(&token, format!("{TOKEN}\n")).unwrap();
    fs::set_permissions(&token, fs::Permissions::from_mode(0o600)).unwrap();
    let with_file = GOOD.replace("token = \"register-token-XYZ\"", "token_file = \"token\"");
    fs::write(&path, with_file).unwrap();
    let output = scanpay(&["check-config", "--config", &config_arg(dir.path())]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        texts(&output, dir.path()).1
    );
}

#[test]
fn credentials_in_the_gateway_urls_are_masked() {
    let with_credentials = GOOD
        .replace(
            "http://127.0.0.1:9000",
            "http://gwuser:gw-pa55@127.0.0.1:9000",
        )
        .replace(
            "https://pos.example.com",
            "https://cb:cb-pa55@pos.example.com",
        );
    let dir = setup(&with_credentials);
    for json in [false, true] {
        let mut args = vec!["check-config", "--config"];
        let config = config_arg(dir.path());
        args.push(&config);
        if json {
            args.push("--json");
        }
        let output = scanpay(&args);
        let (stdout, stderr) = texts(&output, dir.path());
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        for secret in ["gwuser", "gw-pa55", "cb-pa55"] {
            assert!(!stdout.contains(secret), "{secret} shown:\n{stdout}");
        }
        assert!(
            stdout.contains("http://****:****@127.0.0.1:9000/"),
            "{stdout}"
        );
        assert!(
            stdout.contains("https://****:****@pos.example.com/notify"),
            "{stdout}"
        );
    }
}

#[test]
fn json_output_is_the_same_config_as_json() {
    let dir = setup(GOOD);
    let output = scanpay(&[
        "--config",
        &config_arg(dir.path()),
        "check-config",
        "--json",
    ]);
    let (stdout, stderr) = texts(&output, dir.path());
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["valid"], true);
    assert_eq!(json["path"], "$DIR/config.toml");
    let config = &json["config"];
    assert_eq!(
        config["gateway"]["key_file"],
        "<32 bytes from $DIR/merchant.key>"
    );
    assert_eq!(config["register"]["token"], "****");
    assert_eq!(config["register"]["fixed_amount_fen"].to_string(), "1250");
    assert_eq!(
        config["payment"]["reconcile"]["slow_every_s"].to_string(),
        "300"
    );
    assert_eq!(config["scanner"]["kind"], "stdin");
}

const BAD: &str = r#"
[gateway]
base_url = "pay.example.com"
app_id = "JYK2018100001"
key_file = "merchant.key"
notify_url = "https://pos.example.com/notify"

[payment]
order_prefix = "SHOP1T2"
deadline_s = 0

[register]
listen = "0.0.0.0:8750"
"#;

#[test]
fn an_invalid_config_exits_78_naming_every_problem() {
    let dir = setup(BAD);
    fs::set_permissions(
        dir.path().join("merchant.key"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let output = scanpay(&["check-config", "--config", &config_arg(dir.path())]);
    let (stdout, stderr) = texts(&output, dir.path());
    assert_eq!(output.status.code(), Some(78));
    assert_eq!(stdout, "");
    expect![[r#"
        scanpay: error: config file $DIR/config.toml has 4 problems:
          [gateway] base_url: "pay.example.com" is not a URL (relative URL without a base); expected e.g. https://pay.example.com
          [gateway] key_file: $DIR/merchant.key has mode 0644, so group or others can read or replace the secret; run `chmod go-rwx $DIR/merchant.key` (and make it owned by the user scanpay runs as)
          [payment] deadline_s: 0 is out of range; expected 1 to 600 (seconds the cashier waits on one sale)
          [register] listen: 0.0.0.0:8750 is reachable from other machines but no token is set; listen on 127.0.0.1 or a unix socket, or set token_file
    "#]]
    .assert_eq(&stderr);
}

#[test]
fn an_invalid_config_with_json_prints_the_problems_as_json_too() {
    let dir = setup(BAD);
    let output = scanpay(&[
        "check-config",
        "--json",
        "--config",
        &config_arg(dir.path()),
    ]);
    let (stdout, stderr) = texts(&output, dir.path());
    assert_eq!(output.status.code(), Some(78));
    assert!(
        stderr.starts_with("scanpay: error: config file"),
        "{stderr}"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["valid"], false);
    let keys: Vec<&str> = json["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "[gateway] base_url",
            "[payment] deadline_s",
            "[register] listen"
        ]
    );
}

#[test]
fn a_typo_and_a_missing_file_are_config_errors_too() {
    let dir = setup(&GOOD.replace("[storage]\npath", "[storage]\npth"));
    let output = scanpay(&["check-config", "--config", &config_arg(dir.path())]);
    let (_, stderr) = texts(&output, dir.path());
    assert_eq!(output.status.code(), Some(78));
    expect![[r#"
        scanpay: error: config file $DIR/config.toml is not valid TOML for scanpay: line 24 ([storage] pth): unknown field `pth`, expected `path` or `keep_days`
    "#]]
    .assert_eq(&stderr);

    let output = scanpay(&["check-config", "--config", "/nonexistent/config.toml"]);
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("cannot read config file /nonexistent/config.toml"),
        "{stderr}"
    );
}

#[test]
fn logs_carry_syslog_priority_under_journald_and_time_elsewhere() {
    let dir = setup(GOOD);
    let run = |journal: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_scanpay"));
        command
            .args(["check-config", "--config", &config_arg(dir.path())])
            .env("RUST_LOG", "scanpay=debug")
            .env_remove("JOURNAL_STREAM");
        if journal {
            command.env("JOURNAL_STREAM", "8:12345");
        }
        let output = command.output().unwrap();
        assert_eq!(output.status.code(), Some(0));
        texts(&output, dir.path()).1
    };
    let journald = run(true);
    assert_eq!(
        journald,
        "<7>DEBUG scanpay::cli::check_config: config is valid path=$DIR/config.toml\n"
    );
    let terminal = run(false);
    // RFC 3339 time first, then the same line; stderr is a pipe here, so no colours.
    assert!(terminal.starts_with("20"), "{terminal}");
    assert!(
        terminal.ends_with(
            " DEBUG scanpay::cli::check_config: config is valid path=$DIR/config.toml\n"
        ),
        "{terminal}"
    );
    assert!(!terminal.contains('\x1b'), "{terminal}");
}

#[test]
fn usage_errors_exit_2_like_every_clap_program() {
    let output = scanpay(&["check-config", "--jsn"]);
    assert_eq!(output.status.code(), Some(2));
    let output = scanpay(&[]);
    assert_eq!(output.status.code(), Some(2));
}
