//! The words on each screen, in Chinese and English, and the advice an err_code calls for.
//!
//! Kept apart from drawing so the wording can be read, reviewed and tested as text, and so
//! the terminal's one-line fallback says exactly what the panel shows.

use crate::engine::Screen;
use crate::protocol::{ErrCode, Fen, Payway};

use super::palette::Role;
use super::Language;

/// What one screen says, before layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wording {
    /// Banner colour: the state at a glance.
    pub tone: Role,
    /// Banner text: the state in two or three words.
    pub title: String,
    /// The sale's amount, shown big.
    pub amount: Option<Fen>,
    /// What to do now, in plain words (shown prominently, wrapped).
    pub advice: Option<String>,
    /// Secondary facts: subject, wallet and reference, the gateway's reason.
    pub detail: Option<String>,
}

/// Picks the words for `screen` in `lang`.
pub fn wording(screen: &Screen, lang: Language) -> Wording {
    let zh = lang == Language::Zh;
    let pick = |z: &str, e: &str| if zh { z.to_string() } else { e.to_string() };
    let w = |tone, title: String, amount, advice: Option<String>, detail: Option<String>| Wording {
        tone,
        title,
        amount,
        advice,
        detail,
    };
    match screen {
        Screen::Ready => w(
            Role::Info,
            pick("就绪", "Ready"),
            None,
            Some(pick("等待收银台输入金额", "Waiting for the register")),
            None,
        ),
        Screen::Armed { amount, subject } => w(
            Role::Info,
            pick("请出示付款码", "Show pay code"),
            Some(*amount),
            Some(pick(
                "请打开支付宝或微信付款码",
                "Open the Alipay or WeChat pay code",
            )),
            non_empty(subject),
        ),
        Screen::Processing { amount } => w(
            Role::Info,
            pick("支付中", "Paying"),
            Some(*amount),
            Some(pick(
                "请稍候，不要重复扫码",
                "Please wait, do not scan again",
            )),
            None,
        ),
        Screen::WaitingCustomer {
            amount,
            seconds_left,
        } => w(
            Role::Caution,
            pick("等待确认", "Confirm on phone"),
            Some(*amount),
            Some(pick(
                "请在手机上确认支付",
                "Customer: confirm the payment on your phone",
            )),
            Some(if zh {
                format!("剩余 {seconds_left} 秒")
            } else {
                format!("{seconds_left} s left")
            }),
        ),
        Screen::Paid {
            amount,
            payway,
            trade_no_tail,
        } => {
            let wallet = payway.map(|p| payway_name(p, lang).to_string());
            let reference = non_empty(trade_no_tail).map(|tail| {
                if zh {
                    format!("单号尾号 {tail}")
                } else {
                    format!("Ref …{tail}")
                }
            });
            let detail = match (wallet, reference) {
                (Some(w), Some(r)) => Some(format!("{w}  {r}")),
                (w, r) => w.or(r),
            };
            w(
                Role::Good,
                pick("支付成功", "PAID"),
                Some(*amount),
                Some(pick("已收款，谢谢", "Payment received, thank you")),
                detail,
            )
        }
        Screen::Failed {
            amount,
            err_code,
            reason,
        } => w(
            Role::Bad,
            pick("支付失败", "NOT PAID"),
            Some(*amount),
            Some(failure_advice(err_code.as_deref(), lang).to_string()),
            non_empty(reason),
        ),
        Screen::Offline {
            amount,
            queue_depth,
        } => w(
            Role::Caution,
            pick("网络断开", "OFFLINE"),
            Some(*amount),
            Some(pick(
                "已排队，网络恢复后自动发送，请勿重复扫码",
                "Queued: sent when the network is back. Do not scan again",
            )),
            Some(if zh {
                format!("排队 {queue_depth} 笔")
            } else {
                format!("{queue_depth} queued")
            }),
        ),
        Screen::Checking { amount } => w(
            Role::Caution,
            pick("正在确认", "CHECKING"),
            Some(*amount),
            Some(pick(
                "请勿重复扫码，正在查询结果",
                "Do not scan again — checking the result",
            )),
            None,
        ),
        Screen::Expired { amount } => w(
            Role::Bad,
            pick("未发送", "NOT SENT"),
            Some(*amount),
            Some(pick(
                "网络中断太久，未扣款，请重新扫码",
                "Offline too long, nothing charged. Scan a new code",
            )),
            None,
        ),
        Screen::StorageFault { amount, detail } => w(
            Role::Bad,
            pick("存储故障", "STORAGE FAULT"),
            *amount,
            Some(pick(
                "暂停收款，未扣款；请用其他方式付款或稍候，恢复后自动继续",
                "Payments paused, nothing charged. Take another method or wait: resumes by itself",
            )),
            non_empty(detail),
        ),
        Screen::ScannerMissing => w(
            Role::Bad,
            pick("扫码枪未连接", "NO SCANNER"),
            None,
            Some(pick(
                "请检查扫码枪连接线",
                "Check the barcode scanner cable",
            )),
            None,
        ),
        Screen::PayQr { amount, .. } => w(
            Role::Info,
            pick("扫码支付", "Scan to pay"),
            Some(*amount),
            Some(pick("请用支付宝或微信扫码", "Scan with Alipay or WeChat")),
            None,
        ),
    }
}

/// What the cashier should do after a failure with this err_code.
pub fn failure_advice(err_code: Option<&str>, lang: Language) -> &'static str {
    let zh = lang == Language::Zh;
    let code = err_code.map(ErrCode::parse);
    match code {
        Some(ErrCode::Insufficient) => {
            if zh {
                "余额不足，请换其他支付方式"
            } else {
                "Balance too low: ask for another payment method"
            }
        }
        // A failure still marked USERPAYING: the customer did not confirm before the deadline.
        Some(ErrCode::UserPaying) => {
            if zh {
                "未及时确认，请让顾客查看手机"
            } else {
                "Not confirmed in time: ask the customer to check the phone"
            }
        }
        Some(ErrCode::OrderClosed) => {
            if zh {
                "订单已关闭，请重新收款"
            } else {
                "Order closed: start a new sale"
            }
        }
        Some(ErrCode::ParamsError) => {
            if zh {
                "付款码无效，请刷新付款码后重扫"
            } else {
                "Code refused: ask the customer to refresh the code"
            }
        }
        Some(ErrCode::SystemError) | Some(ErrCode::Frequently) => {
            if zh {
                "系统繁忙，请稍后重新收款"
            } else {
                "Gateway busy: try the sale again shortly"
            }
        }
        Some(ref c) if c.is_configuration_problem() => {
            if zh {
                "终端配置错误，请联系管理员"
            } else {
                "Terminal setup problem: call the manager"
            }
        }
        _ => {
            if zh {
                "请换其他支付方式"
            } else {
                "Ask for another payment method"
            }
        }
    }
}

/// The wallet's name as customers know it.
pub fn payway_name(payway: Payway, lang: Language) -> &'static str {
    let zh = lang == Language::Zh;
    match payway {
        Payway::Alipay => {
            if zh {
                "支付宝"
            } else {
                "Alipay"
            }
        }
        Payway::WeChat => {
            if zh {
                "微信支付"
            } else {
                "WeChat Pay"
            }
        }
        Payway::Baidu => {
            if zh {
                "百度钱包"
            } else {
                "Baidu Wallet"
            }
        }
        Payway::Jd => {
            if zh {
                "京东支付"
            } else {
                "JD Pay"
            }
        }
        Payway::Qq => {
            if zh {
                "QQ钱包"
            } else {
                "QQ Wallet"
            }
        }
    }
}

/// `clock not synced`: the small warning overlaid when the clock is untrusted.
pub fn clock_warning(lang: Language) -> &'static str {
    match lang {
        Language::Zh => "时钟未同步",
        Language::En => "clock not synced",
    }
}

/// A damaged journal waits for a person: the status page says where and what to do.
pub fn journal_warning(lang: Language) -> &'static str {
    match lang {
        Language::Zh => "账本损坏，请查看状态",
        Language::En => "journal damaged: see status",
    }
}

/// Shown instead of a QR code that cannot be drawn legibly (URL too long for the panel).
pub fn qr_unavailable(lang: Language) -> &'static str {
    match lang {
        Language::Zh => "付款链接过长，无法显示二维码，请改用付款码支付",
        Language::En => {
            "Payment link too long for a QR code here: scan the customer's pay code instead"
        }
    }
}

/// The whole screen as one line of text, for the terminal fallback and logs.
pub fn describe(screen: &Screen, lang: Language) -> String {
    let w = wording(screen, lang);
    let mut line = format!("[{}]", w.title);
    if let Some(amount) = w.amount {
        line.push_str(&format!(" {amount}"));
    }
    if let Some(advice) = w.advice {
        line.push_str(&format!(" — {advice}"));
    }
    if let Some(detail) = w.detail {
        line.push_str(&format!(" ({detail})"));
    }
    if let Screen::PayQr { url, .. } = screen {
        line.push_str(&format!(" {url}"));
    }
    line
}

/// The most characters of an outside text (the gateway's reason, the register's subject)
/// that reach layout. No panel shows more than three lines of about a hundred narrow
/// characters; the cut keeps wrapping, which measures prefix after prefix, cheap.
pub const MAX_SHOWN_CHARS: usize = 400;

/// An outside text as one line to show: control characters (a terminal escape in a gateway
/// answer) become spaces, the ends are trimmed, and past `MAX_SHOWN_CHARS` it ends in `…`.
fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    let mut shown: String = text
        .chars()
        .take(MAX_SHOWN_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(MAX_SHOWN_CHARS).is_some() {
        shown.push(super::wrap::ELLIPSIS);
    }
    let shown = shown.trim();
    (!shown.is_empty()).then(|| shown.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_follows_err_code() {
        let en = |code| failure_advice(code, Language::En);
        assert!(en(Some("INSUFFICIENT")).contains("another payment method"));
        assert!(en(Some("USERPAYING")).contains("check the phone"));
        assert!(en(Some("SIGNERROR")).contains("manager"));
        assert!(en(Some("ORDERCLOSED")).contains("new sale"));
        assert_eq!(en(None), "Ask for another payment method");
        assert_eq!(en(Some("SOMETHING_NEW")), "Ask for another payment method");
        assert!(failure_advice(Some("INSUFFICIENT"), Language::Zh).contains("余额不足"));
    }

    #[test]
    fn describes_a_screen_in_one_line() {
        let paid = Screen::Paid {
            amount: Fen(1250),
            payway: Some(Payway::Alipay),
            trade_no_tail: "4821".into(),
        };
        assert_eq!(
            describe(&paid, Language::En),
            "[PAID] ¥12.50 — Payment received, thank you (Alipay  Ref …4821)"
        );
        assert_eq!(
            describe(&paid, Language::Zh),
            "[支付成功] ¥12.50 — 已收款，谢谢 (支付宝  单号尾号 4821)"
        );
        let checking = Screen::Checking { amount: Fen(5) };
        assert_eq!(
            describe(&checking, Language::En),
            "[CHECKING] ¥0.05 — Do not scan again — checking the result"
        );
    }

    #[test]
    fn blank_reason_and_subject_are_left_out() {
        let failed = Screen::Failed {
            amount: Fen(100),
            err_code: None,
            reason: "  ".into(),
        };
        assert_eq!(wording(&failed, Language::En).detail, None);
    }

    #[test]
    fn a_huge_gateway_reason_is_cut_before_layout_and_loses_its_control_characters() {
        // err_code_des comes from the gateway unbounded (answers up to 1 MiB); wrapping it
        // measures prefix after prefix, so it must be cut to what a screen can hold first.
        let failed = Screen::Failed {
            amount: Fen(100),
            err_code: None,
            reason: format!("failed\x1b[2J{}", "余额不足 x".repeat(200_000)),
        };
        let detail = wording(&failed, Language::En).detail.unwrap();
        assert_eq!(detail.chars().count(), MAX_SHOWN_CHARS + 1, "{detail}");
        assert!(detail.ends_with(super::super::wrap::ELLIPSIS), "{detail}");
        assert!(detail.starts_with("failed [2J余额不足"), "{detail}");
        assert!(!describe(&failed, Language::En).contains('\x1b'));
        // A reason that fits is left whole.
        let short = Screen::Failed {
            amount: Fen(100),
            err_code: None,
            reason: "x".repeat(MAX_SHOWN_CHARS),
        };
        let detail = wording(&short, Language::En).detail.unwrap();
        assert_eq!(detail, "x".repeat(MAX_SHOWN_CHARS));
    }
}
