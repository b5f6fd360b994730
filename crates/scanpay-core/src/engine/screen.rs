//! What the display should show: pure data decided by the engine, drawn by `display`.
//!
//! The engine never knows pixels, fonts or languages; the display never knows sale rules.

use serde::{Deserialize, Serialize};

use crate::protocol::{Fen, Payway};

/// One full screen. Every field is safe to show: no payment code, no key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "screen", rename_all = "snake_case")]
pub enum Screen {
    /// Nothing armed: waiting for the register.
    Ready,
    /// A sale is armed: show the amount and ask for the customer's code.
    Armed { amount: Fen, subject: String },
    /// The payment request is on its way.
    Processing { amount: Fen },
    /// USERPAYING: the customer confirms on the phone; counts down to the cashier's deadline.
    WaitingCustomer { amount: Fen, seconds_left: u32 },
    /// Paid. `trade_no_tail` is the last digits of the gateway's trade number, for receipts.
    Paid {
        amount: Fen,
        payway: Option<Payway>,
        trade_no_tail: String,
    },
    /// Not paid. `err_code` picks the advice ("ask for another payment method", …);
    /// `reason` is the gateway's own words (err_code_des) or ours.
    Failed {
        amount: Fen,
        err_code: Option<String>,
        reason: String,
    },
    /// The gateway cannot be reached: the request is queued and will be sent when it returns.
    Offline { amount: Fen, queue_depth: usize },
    /// Outcome unknown or unresolved: do not scan again, the terminal is checking.
    Checking { amount: Fen },
    /// A queued request got too old to send; nothing was charged.
    Expired { amount: Fen },
    /// The scanner is unplugged or missing.
    ScannerMissing,
    /// Customer scans the merchant (C scans B): a QR code of the h5 payment URL.
    PayQr { amount: Fen, url: String },
    /// The journal cannot write (disk full, I/O error): no payment is taken until it can;
    /// the cashier takes another payment method or waits, it resumes by itself. `amount` is
    /// the sale at the counter, if any (a held pay goes out once its record is written);
    /// `detail` is the journal's words, for whoever fixes the disk.
    StorageFault { amount: Option<Fen>, detail: String },
}
