//! The QR screen must scan: render it at every size and language, write it as PNG, read the
//! PNG back and decode the code with rqrr — the URL must come out unchanged.

use scanpay::display::config::Layout;
use scanpay::display::png_out::{render_image, RgbImage};
use scanpay::display::{Language, StatusFlags};
use scanpay::engine::Screen;
use scanpay::protocol::Fen;

/// Decodes every QR code found in `image`.
fn decode_all(image: &RgbImage) -> Vec<String> {
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
        image.width as usize,
        image.height as usize,
        |x, y| {
            let [r, g, b] = image.get(x as u32, y as u32);
            ((u16::from(r) + u16::from(g) + u16::from(b)) / 3) as u8
        },
    );
    prepared
        .detect_grids()
        .iter()
        .filter_map(|grid| grid.decode().ok().map(|(_, text)| text))
        .collect()
}

fn through_png(image: &RgbImage) -> RgbImage {
    RgbImage::decode_png(&image.encode_png().unwrap()).unwrap()
}

#[test]
fn pay_qr_decodes_back_to_the_url_on_every_layout() {
    let urls = [
        "https://pay.example.com/h5/cashier?app_id=2024&out_trade_no=SP20261125000042",
        // A longer h5 URL with a signature still fits the 128×64 OLED.
        "https://gateway.example.cn/h5pay?app_id=2088102177846983&out_trade_no=SP20261125000042&total_amount=1250&sign=0f8d5e2c4b6a79013e5d2c1b0a9f8e7d",
    ];
    for url in urls {
        for layout in Layout::ALL {
            for lang in Language::ALL {
                let screen = Screen::PayQr {
                    amount: Fen(1250),
                    url: url.to_string(),
                };
                let image =
                    through_png(&render_image(&screen, lang, StatusFlags::default(), layout));
                // A phone camera sees the panel magnified; one pixel per module on the OLED
                // is enlarged here the same way.
                let image = if layout.is_mono() {
                    image.scaled(4)
                } else {
                    image
                };
                assert_eq!(
                    decode_all(&image),
                    vec![url.to_string()],
                    "{} {}",
                    layout.name(),
                    lang.code()
                );
            }
        }
    }
}

#[test]
fn a_url_too_long_for_the_screen_shows_a_message_instead_of_a_broken_code() {
    let url = format!("https://pay.example.com/h5?x={}", "a".repeat(1500));
    let screen = Screen::PayQr {
        amount: Fen(1250),
        url,
    };
    for layout in Layout::ALL {
        let image = render_image(&screen, Language::En, StatusFlags::default(), layout);
        assert_eq!(decode_all(&image.scaled(2)), Vec::<String>::new());
        // Something explains it: red (or lit) text where the code would be.
        let lit = (0..image.height)
            .flat_map(|y| (0..image.width).map(move |x| (x, y)))
            .filter(|&(x, y)| image.get(x, y) != [0, 0, 0])
            .count();
        assert!(lit > 200, "{}: only {lit} lit pixels", layout.name());
    }
}
