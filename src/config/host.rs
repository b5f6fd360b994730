//! Facts about the machine that defaults depend on, read once and passed in, so that
//! validation stays a pure function of its inputs and tests can supply their own.
//!
//! The default `[payment] order_prefix` must differ between terminals of one merchant: every
//! `out_trade_no` starts with it and the gateway refuses a number used before
//! (ORDER_CONFLICT). It is `SP` followed by the first 6 hex digits of `/etc/machine-id`
//! (unique per installation), or, when there is no machine id, of the MD5 of the hostname.

use md5::{Digest, Md5};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// The content of `/etc/machine-id`, if readable.
    pub machine_id: Option<String>,
    /// The kernel's hostname, if readable.
    pub hostname: Option<String>,
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
        }
    }

    /// `SP` + 6 hex digits from the machine id, else from the hostname's MD5; `None` when
    /// neither is known (then the config must set `order_prefix`).
    pub fn default_order_prefix(&self) -> Option<String> {
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
        };
        assert_eq!(host.default_order_prefix().as_deref(), Some("SP3F9A1C"));
    }

    #[test]
    fn prefix_falls_back_to_hostname_hash() {
        let host = HostFacts {
            machine_id: None,
            hostname: Some("raspberrypi".into()),
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
        };
        assert_ne!(other.default_order_prefix(), host.default_order_prefix());
        // A machine id too short to give 6 hex digits is not used.
        let short = HostFacts {
            machine_id: Some("abc".into()),
            hostname: Some("raspberrypi".into()),
        };
        assert_eq!(short.default_order_prefix(), host.default_order_prefix());
    }

    #[test]
    fn no_prefix_without_any_identity() {
        assert_eq!(HostFacts::default().default_order_prefix(), None);
    }
}
