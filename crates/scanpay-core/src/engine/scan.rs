//! A scanned code: what it may start, and why it is refused otherwise (not a code, a
//! scanner repeat, a code already used, no sale armed, a sale already scanned).

use super::machine::Engine;
use super::output::Output;
use super::sale::SaleState;
use super::time::Timestamp;
use crate::protocol::PaymentCode;

impl Engine {
    /// A line from the scanner.
    pub fn handle_scan(&mut self, text: &str, now: Timestamp) {
        let now = self.tick(now);
        self.scan(text, now);
        self.pump(now);
    }

    fn scan(&mut self, text: &str, now: Timestamp) {
        let code = match PaymentCode::parse(text.trim()) {
            Ok(code) => code,
            Err(err) => return self.refuse(err.to_string()),
        };
        let window = self.policy.duplicate_window;
        self.recent_scans
            .retain(|_, seen| now.since(*seen) < window);
        if self.recent_scans.contains_key(&code) {
            // The scanner read the same code twice: ignore quietly, it is not a new request.
            return;
        }
        self.recent_scans.insert(code.clone(), now);
        let memory = self.policy.used_code_memory;
        self.used_codes
            .retain(|_, (used, _)| now.since(*used) < memory);
        if let Some((_, sale_id)) = self.used_codes.get(&code) {
            return self.refuse(format!(
                "payment code {code} was already used for sale {sale_id}; ask the customer to show a fresh code"
            ));
        }
        if let Some(detail) = self.storage_fault() {
            return self.refuse(format!(
                "storage fault: the terminal cannot record payments right now ({detail}); take another payment method or wait until it resumes by itself (code {code} not used)"
            ));
        }
        let Some(counter) = self.counter_sale() else {
            return self.refuse(format!(
                "no sale is armed; enter the amount on the register first, then scan (code {code} not used)"
            ));
        };
        if counter.state != SaleState::Armed {
            return self.refuse(format!(
                "sale {} is {}; wait for its result before scanning again (code {code} not used)",
                counter.sale_id,
                counter.state.as_str()
            ));
        }
        let id = counter.sale_id;
        self.used_codes.insert(code.clone(), (now, id.clone()));
        let deadline = now.plus(self.policy.cashier_deadline);
        let reachable = self.reachable;
        self.update_journaled(&id, now, |r| {
            r.payway = code.payway();
            r.auth_code = Some(code);
            r.scanned_at = Some(now);
            r.deadline_at = Some(deadline);
            if reachable {
                r.state = SaleState::Submitting;
                r.pay_attempts = r.pay_attempts.saturating_add(1);
                r.not_found.pay_attempted(now);
            } else {
                r.state = SaleState::Queued;
                r.note = Some("gateway unreachable: queued".into());
            }
        });
        if reachable {
            self.send_pay(&id);
        }
    }

    fn refuse(&mut self, reason: String) {
        self.outputs.push_back(Output::ScanRefused { reason });
    }
}
