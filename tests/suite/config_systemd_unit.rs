//! The systemd unit promises what the design asks (notify with watchdog, restart on failure
//! but not on a bad config, state/config/runtime directories, a dedicated user with device
//! groups, ordering after time sync) and is hardened to `systemd-analyze security` "OK" or
//! better, which is measured whenever `systemd-analyze` is installed.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const UNIT: &str = include_str!("../../systemd/scanpay.service");

/// `Key=value` lines of the unit; a key given several times keeps every value.
fn directives() -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in UNIT.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            map.entry(key.to_string())
                .or_default()
                .push(value.to_string());
        }
    }
    map
}

#[test]
fn unit_has_the_promised_directives() {
    let d = directives();
    let one = |key: &str| -> &str {
        match d.get(key).map(Vec::as_slice) {
            Some([value]) => value,
            other => panic!("{key}: expected one value, got {other:?}"),
        }
    };
    assert_eq!(one("Type"), "notify");
    assert_eq!(one("NotifyAccess"), "main");
    assert_eq!(one("WatchdogSec"), "30");
    assert_eq!(one("Restart"), "on-failure");
    assert_eq!(
        one("RestartPreventExitStatus"),
        scanpay::cli::EXIT_CONFIG.to_string()
    );
    assert_eq!(one("User"), "scanpay");
    assert_eq!(one("StateDirectory"), "scanpay");
    assert_eq!(one("ConfigurationDirectory"), "scanpay");
    assert_eq!(one("RuntimeDirectory"), "scanpay");
    assert_eq!(one("UMask"), "0077");
    for group in ["dialout", "input", "spi", "gpio"] {
        assert!(
            one("SupplementaryGroups").split(' ').any(|g| g == group),
            "{group}"
        );
    }
    for target in ["time-sync.target", "network-online.target"] {
        assert!(one("After").contains(target), "After= lacks {target}");
        assert!(one("Wants").contains(target), "Wants= lacks {target}");
    }
    for device in ["ttyUSB", "ttyACM", "input", "spidev", "gpiochip"] {
        assert!(
            d["DeviceAllow"]
                .iter()
                .any(|v| v.starts_with(&format!("char-{device} "))),
            "DeviceAllow lacks {device}"
        );
    }
    // Both doors full (register API and notify listener) still leave most descriptors to the
    // journal and devices.
    let nofile: usize = one("LimitNOFILE").parse().expect("LimitNOFILE is a number");
    let doors = 2 * scanpay::http_conn::Limits::DOORS.max_connections;
    assert!(
        nofile >= 4 * doors,
        "LimitNOFILE={nofile} for {doors} door connections"
    );
    assert_eq!(one("CapabilityBoundingSet"), "");
    assert_eq!(one("RestrictAddressFamilies"), "AF_INET AF_INET6 AF_UNIX");
    for flag in [
        "NoNewPrivileges",
        "ProtectHome",
        "PrivateTmp",
        "MemoryDenyWriteExecute",
        "LockPersonality",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "RestrictNamespaces",
        "RestrictRealtime",
        "RestrictSUIDSGID",
    ] {
        assert_eq!(one(flag), "yes", "{flag}");
    }
    assert_eq!(one("ProtectSystem"), "strict");
    assert!(d["SystemCallFilter"].contains(&"@system-service".to_string()));
    // The command it starts takes the config the same way every command does.
    assert!(one("ExecStart").ends_with("daemon --config /etc/scanpay/config.toml"));
}

/// The overall exposure `systemd-analyze security --offline=true` gives the unit, with its
/// rating word, or `None` when systemd-analyze is not installed.
fn security_rating(unit: &Path) -> Option<(f64, String)> {
    let output = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(unit)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| {
            panic!(
                "no rating in systemd-analyze output:\n{text}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let rest = line.rsplit_once(": ").expect("`...: 1.5 OK`").1;
    let mut words = rest.split_whitespace();
    let score = words.next().unwrap().parse().unwrap();
    Some((score, words.next().unwrap().to_string()))
}

#[test]
fn systemd_analyze_rates_the_unit_ok_or_better() {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/scanpay.service");
    match security_rating(&unit) {
        Some((score, rating)) => {
            crate::fault_support::print_figures(&format!(
                "systemd-analyze security: {score} {rating}"
            ));
            assert!(
                matches!(rating.as_str(), "OK" | "PERFECT"),
                "exposure {score} {rating}"
            );
        }
        // Not installed: the directive checks above still hold the unit to its design.
        None => crate::fault_support::print_figures(
            "systemd-analyze not installed; exposure not measured",
        ),
    }
}

#[test]
fn sysusers_creates_the_service_user_and_device_groups() {
    let sysusers = include_str!("../../systemd/scanpay.sysusers");
    let lines: Vec<Vec<&str>> = sysusers
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(lines.iter().any(|l| l[..2] == ["u", "scanpay"]));
    assert!(lines.iter().any(|l| l[..2] == ["g", "spi"]));
    assert!(lines.iter().any(|l| l[..2] == ["g", "gpio"]));
}

#[test]
fn udev_rule_names_the_path_the_example_config_uses() {
    let rules = include_str!("../../systemd/99-scanpay-scanner.rules");
    let active: Vec<&str> = rules
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(active.len(), 1, "exactly one active rule: {active:?}");
    assert!(active[0].contains("SUBSYSTEM==\"tty\""));
    assert!(active[0].contains("SYMLINK+=\"scanpay-scanner\""));
    let example = include_str!("../../systemd/config.example.toml");
    assert!(example.contains("path = \"/dev/scanpay-scanner\""));
}
