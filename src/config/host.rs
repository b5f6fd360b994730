//! Facts about the machine that defaults depend on, read once and passed in, so that
//! validation stays a pure function of its inputs and tests can supply their own.
//!
//! The default `[payment] order_prefix` must differ between terminals of one merchant: every
//! `out_trade_no` starts with it and the gateway refuses a number used before
//! (ORDER_CONFLICT), which the engine then looks up, so a shared prefix could credit one
//! terminal's sale with another's payment. It is `SP` followed by 6 hex digits: on a board
//! with a serial number in the device tree (every Raspberry Pi), of the MD5 of that serial
//! and the machine id, because terminals are commonly set up once and the card cloned, which
//! copies `/etc/machine-id` and the hostname; elsewhere the first 6 hex digits of
//! `/etc/machine-id`, or, when there is no machine id, of the MD5 of the hostname.

use md5::{Digest, Md5};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// The content of `/etc/machine-id`, if readable.
    pub machine_id: Option<String>,
    /// The kernel's hostname, if readable.
    pub hostname: Option<String>,
    /// The board's serial number from the device tree (a Raspberry Pi's SoC serial), if any.
    pub hardware_serial: Option<String>,
}

/// Where the device tree exposes the board's serial number (readable under the unit's
/// ProtectKernelTunables=, unlike /proc/cpuinfo under ProcSubset=pid).
const SERIAL_NUMBER: &str = "/sys/firmware/devicetree/base/serial-number";

/// The device tree's serial: a NUL-terminated string.
fn clean_serial(raw: &str) -> Option<String> {
    let serial = raw.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!serial.is_empty()).then(|| serial.to_string())
}

impl HostFacts {
    /// Reads `/etc/machine-id` and the hostname (`/proc/sys/kernel/hostname`, or
    /// `/etc/hostname` where the unit's `ProcSubset=pid` hides `/proc/sys`); a missing file
    /// is `None`.
    pub fn read() -> HostFacts {
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .ok()
                .map(|text| text.trim().to_string())
                .filter(|text| !text.is_empty())
        };
        HostFacts {
            machine_id: read("/etc/machine-id"),
            hostname: read("/proc/sys/kernel/hostname").or_else(|| read("/etc/hostname")),
            hardware_serial: std::fs::read_to_string(SERIAL_NUMBER)
                .ok()
                .and_then(|raw| clean_serial(&raw)),
        }
    }

    /// `SP` + 6 hex digits: of the MD5 of the board serial and machine id when the board has
    /// a serial, else from the machine id, else from the hostname's MD5; `None` when none is
    /// known (then the config must set `order_prefix`).
    pub fn default_order_prefix(&self) -> Option<String> {
        if let Some(serial) = &self.hardware_serial {
            let identity = format!("{serial}\n{}", self.machine_id.as_deref().unwrap_or(""));
            let hex = hex::encode(Md5::digest(identity.as_bytes()))[..6].to_string();
            return Some(format!("SP{}", hex.to_ascii_uppercase()));
        }
        let from_machine_id = self.machine_id.as_deref().and_then(|id| {
            let hex: String = id
                .chars()
                .filter(|c| c.is_ascii_hexdigit())
                .take(6)
                .collect();
            (hex.len() == 6).then_some(hex)
        });
        let from_hostname = || {
            self.hostname
                .as_deref()
                .map(|name| hex::encode(Md5::digest(name.as_bytes()))[..6].to_string())
        };
        from_machine_id
            .or_else(from_hostname)
            .map(|hex| format!("SP{}", hex.to_ascii_uppercase()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_comes_from_machine_id_first() {
        let host = HostFacts {
            machine_id: Some("3f9a1c02d5e84b7f9c0e1a2b3c4d5e6f".into()),
            hostname: Some("raspberrypi".into()),
            hardware_serial: None,
        };
        assert_eq!(host.default_order_prefix().as_deref(), Some("SP3F9A1C"));
    }

    #[test]
    fn prefix_falls_back_to_hostname_hash() {
        let host = HostFacts {
            machine_id: None,
            hostname: Some("raspberrypi".into()),
            hardware_serial: None,
        };
        // Two hosts with different names get different prefixes.
        let expected = format!(
            "SP{}",
            hex::encode(Md5::digest(b"raspberrypi"))[..6].to_ascii_uppercase()
        );
        assert_eq!(host.default_order_prefix(), Some(expected));
        let other = HostFacts {
            machine_id: None,
            hostname: Some("till-2".into()),
            hardware_serial: None,
        };
        assert_ne!(other.default_order_prefix(), host.default_order_prefix());
        // A machine id too short to give 6 hex digits is not used.
        let short = HostFacts {
            machine_id: Some("abc".into()),
            hostname: Some("raspberrypi".into()),
            hardware_serial: None,
        };
        assert_eq!(short.default_order_prefix(), host.default_order_prefix());
    }

    #[test]
    fn cloned_cards_on_different_boards_get_different_prefixes() {
        // Terminals set up once and cloned share /etc/machine-id and the hostname; the same
        // prefix makes their first sale of each day the same out_trade_no, and one's
        // ORDER_CONFLICT look-up then finds the other's payment. The board's serial differs.
        let board = |serial: &str| HostFacts {
            machine_id: Some("3f9a1c02d5e84b7f9c0e1a2b3c4d5e6f".into()),
            hostname: Some("raspberrypi".into()),
            hardware_serial: Some(serial.into()),
        };
        let a = board("10000000a3b2c1d0").default_order_prefix().unwrap();
        let b = board("10000000a3b2c1d1").default_order_prefix().unwrap();
        assert_ne!(a, b);
        assert!(a.len() == 8 && a.starts_with("SP"), "{a}");
        assert!(a[2..].bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
        // The same board always gets the same prefix.
        assert_eq!(board("10000000a3b2c1d0").default_order_prefix().unwrap(), a);
        // A serial alone (no machine id, no hostname) is enough.
        let bare = HostFacts {
            hardware_serial: Some("10000000a3b2c1d0".into()),
            ..HostFacts::default()
        };
        assert!(bare.default_order_prefix().is_some());
    }

    #[test]
    fn the_device_tree_serial_is_read_without_its_nul() {
        assert_eq!(
            clean_serial("10000000a3b2c1d0\0"),
            Some("10000000a3b2c1d0".into())
        );
        assert_eq!(clean_serial("\0\n"), None);
    }

    #[test]
    fn no_prefix_without_any_identity() {
        assert_eq!(HostFacts::default().default_order_prefix(), None);
    }
}
