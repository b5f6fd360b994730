//! What the counter's display shows for a sale in each state.

use super::machine::Engine;
use super::output::Output;
use super::record::SaleRecord;
use super::sale::SaleState;
use super::screen::Screen;
use super::time::Timestamp;
use crate::protocol::Fen;

impl Engine {
    pub(super) fn show_counter(&mut self) {
        let screen = match self.counter.as_ref().and_then(|id| self.sales.get(id)) {
            Some(sale) => self.screen_for(&sale.record, self.now),
            None => self.storage_screen(None).unwrap_or(Screen::Ready),
        };
        self.outputs.push_back(Output::Show(screen));
    }

    /// While storage fails, the counter says so whatever the sale's state.
    fn storage_screen(&self, amount: Option<Fen>) -> Option<Screen> {
        self.storage_fault().map(|detail| Screen::StorageFault {
            amount,
            detail: detail.to_string(),
        })
    }

    pub(super) fn screen_for(&self, r: &SaleRecord, now: Timestamp) -> Screen {
        let amount = r.amount;
        let held = matches!(
            r.state,
            SaleState::Armed | SaleState::Queued | SaleState::Submitting
        );
        if let Some(screen) = self.storage_screen(held.then_some(amount)) {
            return screen;
        }
        match r.state {
            SaleState::Armed => Screen::Armed {
                amount,
                subject: r.subject.clone(),
            },
            SaleState::Submitting => Screen::Processing { amount },
            SaleState::WaitingCustomer if r.qr_url.is_some() => Screen::PayQr {
                amount,
                url: r.qr_url.clone().unwrap_or_default(),
            },
            SaleState::WaitingCustomer => Screen::WaitingCustomer {
                amount,
                seconds_left: r.deadline_at.map_or(0, |d| {
                    u32::try_from(d.since(now).as_secs()).unwrap_or(u32::MAX)
                }),
            },
            SaleState::Queued => Screen::Offline {
                amount,
                queue_depth: self.queue_depth().max(1),
            },
            SaleState::Unknown | SaleState::Unresolved => Screen::Checking { amount },
            SaleState::Paid => Screen::Paid {
                amount,
                payway: r.payway,
                trade_no_tail: r
                    .trade_no
                    .as_deref()
                    // The last six characters, not bytes: the gateway's text may be
                    // non-ASCII, and a byte slice inside a character panics.
                    .map(|t| {
                        let skip = t.chars().count().saturating_sub(6);
                        t.chars().skip(skip).collect()
                    })
                    .unwrap_or_default(),
            },
            SaleState::Failed => Screen::Failed {
                amount,
                err_code: r.err_code.clone(),
                reason: r
                    .err_code_des
                    .clone()
                    .or_else(|| r.err_code.clone())
                    .unwrap_or_else(|| "not paid".into()),
            },
            SaleState::Expired => Screen::Expired { amount },
            SaleState::Disarmed => Screen::Ready,
        }
    }
}
