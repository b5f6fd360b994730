//! Golden images: every screen, at every supported size, in both languages, rendered to PNG
//! and compared pixel for pixel with `tests/golden/`. The same renders make the contact
//! sheet `docs/screens.png`.
//!
//! After an intended change, regenerate and review the images:
//! `UPDATE_GOLDEN=1 cargo test --test suite display_golden::`.
//! On a mismatch the actual image is written next to the golden one as `*.actual.png`.

use std::path::{Path, PathBuf};

use scanpay::display::config::Layout;
use scanpay::display::png_out::{contact_sheet, render_image, RgbImage};
use scanpay::display::{Language, StatusFlags};
use scanpay::engine::Screen;
use scanpay::protocol::{Fen, Payway};

/// The screens the goldens cover: every variant, plus the cases that stress the layout.
fn cases() -> Vec<(&'static str, Screen, StatusFlags)> {
    let ok = StatusFlags::default();
    let clock = StatusFlags {
        clock_unsynced: true,
        ..StatusFlags::default()
    };
    let amount = Fen(1250);
    vec![
        ("ready", Screen::Ready, ok),
        (
            "armed",
            Screen::Armed {
                amount,
                subject: "Coffee ×2 · 咖啡两杯".into(),
            },
            ok,
        ),
        ("processing", Screen::Processing { amount }, ok),
        (
            "waiting",
            Screen::WaitingCustomer {
                amount,
                seconds_left: 45,
            },
            ok,
        ),
        (
            "paid",
            Screen::Paid {
                amount,
                payway: Some(Payway::WeChat),
                trade_no_tail: "4821".into(),
            },
            ok,
        ),
        (
            "failed-insufficient",
            Screen::Failed {
                amount,
                err_code: Some("INSUFFICIENT".into()),
                reason: "余额不足".into(),
            },
            ok,
        ),
        (
            "failed-timeout",
            Screen::Failed {
                amount,
                err_code: Some("USERPAYING".into()),
                reason: "The customer did not confirm within 60 s".into(),
            },
            ok,
        ),
        (
            "failed-long-reason",
            Screen::Failed {
                amount: Fen(999_999_999),
                err_code: Some("TRADE_FAIL".into()),
                reason:
                    "交易失败：用户支付渠道返回了一段很长很长的错误描述，屏幕上放不下，需要截断显示"
                        .into(),
            },
            ok,
        ),
        (
            "offline",
            Screen::Offline {
                amount,
                queue_depth: 2,
            },
            ok,
        ),
        ("checking", Screen::Checking { amount }, ok),
        ("expired", Screen::Expired { amount }, ok),
        ("scanner-missing", Screen::ScannerMissing, ok),
        (
            "storage-fault",
            Screen::StorageFault {
                amount: Some(amount),
                detail: "writing sale POS1-000001 to the journal failed: No space left on device (os error 28)".into(),
            },
            ok,
        ),
        (
            "pay-qr",
            Screen::PayQr {
                amount,
                url: qr_url().into(),
            },
            ok,
        ),
        (
            "pay-qr-too-long",
            Screen::PayQr {
                amount,
                url: format!("https://pay.example.com/h5?x={}", "a".repeat(1500)),
            },
            ok,
        ),
        ("paid-clock-unsynced", paid_alipay(), clock),
        (
            "ready-journal-damaged",
            Screen::Ready,
            StatusFlags {
                journal_damaged: true,
                ..clock
            },
        ),
    ]
}

fn paid_alipay() -> Screen {
    Screen::Paid {
        amount: Fen(3),
        payway: Some(Payway::Alipay),
        trade_no_tail: "0007".into(),
    }
}

fn qr_url() -> &'static str {
    "https://pay.example.com/h5/cashier?app_id=2024&out_trade_no=SP20261125000042"
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v != "0")
}

/// Compares `actual` with the PNG at `path` (or writes it when updating). Returns a failure
/// description, having written `*.actual.png` beside the golden.
fn check_image(path: &Path, actual: &RgbImage) -> Option<String> {
    let actual_path = path.with_extension("actual.png");
    if updating() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        actual.write_png(path).unwrap();
        let _ = std::fs::remove_file(&actual_path);
        return None;
    }
    let problem = match std::fs::read(path) {
        Err(e) => Some(format!("{}: cannot read golden ({e})", path.display())),
        Ok(bytes) => match RgbImage::decode_png(&bytes) {
            Err(e) => Some(format!("{}: not a PNG ({e})", path.display())),
            Ok(golden) if golden == *actual => None,
            Ok(golden) => Some(format!(
                "{}: differs ({}) — actual written to {}",
                path.display(),
                describe_difference(&golden, actual),
                actual_path.display()
            )),
        },
    };
    match &problem {
        Some(_) => actual.write_png(&actual_path).unwrap(),
        None => {
            let _ = std::fs::remove_file(&actual_path);
        }
    }
    problem
}

fn describe_difference(golden: &RgbImage, actual: &RgbImage) -> String {
    if (golden.width, golden.height) != (actual.width, actual.height) {
        return format!(
            "size {}x{} vs {}x{}",
            golden.width, golden.height, actual.width, actual.height
        );
    }
    let differing = (0..actual.height)
        .flat_map(|y| (0..actual.width).map(move |x| (x, y)))
        .filter(|&(x, y)| golden.get(x, y) != actual.get(x, y))
        .count();
    format!("{differing} pixels")
}

fn all_renders() -> Vec<(String, RgbImage)> {
    let mut renders = Vec::new();
    for layout in Layout::ALL {
        for lang in Language::ALL {
            for (name, screen, flags) in cases() {
                let file = format!("{}-{}-{name}.png", layout.name(), lang.code());
                renders.push((file, render_image(&screen, lang, flags, layout)));
            }
        }
    }
    renders
}

#[test]
fn every_screen_matches_its_golden_image() {
    let failures: Vec<String> = all_renders()
        .iter()
        .filter_map(|(file, image)| check_image(&golden_dir().join(file), image))
        .collect();
    assert!(
        failures.is_empty(),
        "{} golden image(s) differ; if the change is intended, run \
         `UPDATE_GOLDEN=1 cargo test --test suite display_golden::` and review the PNGs:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn contact_sheet_is_up_to_date() {
    // One row per size and language, screens in the order of `cases()`.
    let per_row = cases().len();
    // 128×64 frames are doubled so they can be read next to the 240 px panels.
    let tiles: Vec<RgbImage> = all_renders()
        .into_iter()
        .map(|(_, image)| {
            if image.height < 100 {
                image.scaled(2)
            } else {
                image
            }
        })
        .collect();
    let sheet = contact_sheet(&tiles, per_row, 8);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screens.png");
    if let Some(failure) = check_image(&path, &sheet) {
        panic!("contact sheet out of date: {failure}; regenerate with UPDATE_GOLDEN=1");
    }
}

#[test]
fn renders_differ_between_screens_languages_and_flags() {
    // Guards the goldens themselves: no two cases may render the same image.
    let renders = all_renders();
    for (i, (a_name, a)) in renders.iter().enumerate() {
        for (b_name, b) in &renders[i + 1..] {
            assert!(a != b, "{a_name} and {b_name} render identically");
        }
    }
}
