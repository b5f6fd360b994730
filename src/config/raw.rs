//! The config file exactly as written: every key optional, unknown keys refused so that a
//! typo is named instead of silently ignored. Nothing here is checked beyond its TOML type;
//! `validate` turns this into the typed `Config`.
//!
//! The same shape, filled with the effective values and secrets masked, is what
//! `scanpay check-config` prints, so its output uses exactly the keys a config file accepts.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<RawGateway>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<RawPayment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline: Option<RawOffline>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanner: Option<RawScanner>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<RawDisplay>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register: Option<RawRegister>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<RawStorage>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_lowercase_values: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPayment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_query_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_interval_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_query_interval_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_window_s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_found_final_s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_prefix: Option<String>,
    // A sub-table comes last: TOML writes plain keys before tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<RawReconcile>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReconcile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fast_every_s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fast_for_s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_every_s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_for_s: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOffline {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pay_max_age_s: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScanner {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baud: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inter_char_timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDisplay {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spi: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpio_chip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dc_pin: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_pin: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backlight_pin: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_dir: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// `Debug` is written by hand: the token is a secret and is shown as `****`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegister {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Any TOML value, so that a wrongly typed token is reported by `validate` without the
    /// TOML parser quoting the secret back in its error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<toml::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_amount_fen: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_listen: Option<String>,
}

impl std::fmt::Debug for RawRegister {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        /// Writes `****` for any value.
        struct Masked;
        impl std::fmt::Debug for Masked {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("****")
            }
        }
        // Destructured so that a new field cannot be left out unnoticed.
        let RawRegister {
            listen,
            token,
            token_file,
            fixed_amount_fen,
            notify_listen,
        } = self;
        f.debug_struct("RawRegister")
            .field("listen", listen)
            .field("token", &token.as_ref().map(|_| Masked))
            .field("token_file", token_file)
            .field("fixed_amount_fen", fixed_amount_fen)
            .field("notify_listen", notify_listen)
            .finish()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_days: Option<u64>,
}
