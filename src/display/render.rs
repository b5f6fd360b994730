//! Drawing a [`Screen`] onto any embedded-graphics `DrawTarget`.
//!
//! Two layouts, picked by the target's size: *full* for colour panels (240×240, 320×240 and
//! larger) and *compact* for 128×64 OLEDs. Both put the state in a banner at the top (its
//! colour on colour panels, inverse video on monochrome), the amount big under it, then what
//! to do, then the details. Chinese uses WenQuanYi GB2312 bitmap fonts; banner titles on colour
//! panels are drawn at double size so they read from a step away.

use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{PrimitiveStyle, Rectangle};
use u8g2_fonts::types::{FontColor, HorizontalAlignment, VerticalPosition};
use u8g2_fonts::{fonts, FontRenderer};

use crate::engine::Screen;

use super::framebuffer::Framebuffer;
use super::palette::{PanelColor, Role};
use super::qr;
use super::text::{qr_unavailable, wording, Wording};
use super::wrap::{truncate, wrap};
use super::{Language, StatusFlags};

const WQY12: FontRenderer =
    FontRenderer::new::<fonts::u8g2_font_wqy12_t_gb2312>().with_ignore_unknown_chars(true);
const WQY16: FontRenderer =
    FontRenderer::new::<fonts::u8g2_font_wqy16_t_gb2312>().with_ignore_unknown_chars(true);

/// Bold Latin fonts for English banner titles, largest first.
const TITLE_LATIN: [FontRenderer; 3] = [
    FontRenderer::new::<fonts::u8g2_font_fub25_tf>().with_ignore_unknown_chars(true),
    FontRenderer::new::<fonts::u8g2_font_fub20_tf>().with_ignore_unknown_chars(true),
    FontRenderer::new::<fonts::u8g2_font_fub17_tf>().with_ignore_unknown_chars(true),
];

/// Amount fonts (Free Universal Bold: clear digits and a real ¥), largest first; the first
/// whose rendering fits is used.
const AMOUNT_FONTS: [FontRenderer; 9] = [
    FontRenderer::new::<fonts::u8g2_font_fub42_tf>().with_ignore_unknown_chars(true),
    FontRenderer::new::<fonts::u8g2_font_fub35_tf>().with_ignore_unknown_chars(true),
    FontRenderer::new::<fonts::u8g2_font_fub30_tf>().with_ignore_unknown_chars(true),
    FontRenderer::new::<fonts::u8g2_font_fub25_tf>().with_ignore_unknown_chars(true),
    FontRenderer::new::<fonts::u8g2_font_fub20_tf>().with_ignore_unknown_chars(true),
    FontRenderer::new::<fonts::u8g2_font_fub17_tf>().with_ignore_unknown_chars(true),
    FontRenderer::new::<fonts::u8g2_font_fub14_tf>().with_ignore_unknown_chars(true),
    FontRenderer::new::<fonts::u8g2_font_fub11_tf>().with_ignore_unknown_chars(true),
    FontRenderer::new::<fonts::u8g2_font_6x10_tf>().with_ignore_unknown_chars(true),
];

/// Draws `screen` in `lang` with `flags` overlaid, filling the whole target.
///
/// Only the target's own errors are returned; text that does not fit is wrapped or cut
/// with `…`, characters missing from the font are skipped, and a QR code that cannot be
/// shown is replaced by a message.
pub fn render<D>(
    screen: &Screen,
    lang: Language,
    flags: StatusFlags,
    target: &mut D,
) -> Result<(), D::Error>
where
    D: DrawTarget,
    D::Color: PanelColor,
{
    let area = target.bounding_box();
    target.clear(D::Color::role(Role::Background))?;
    let words = wording(screen, lang);
    let compact = area.size.width < 200 || area.size.height < 120;
    let mut painter = Painter { target, area, lang };
    if compact {
        painter.compact(screen, &words, lang, flags)
    } else {
        painter.full(screen, &words, lang, flags)
    }
}

/// Renders a screen into a new framebuffer of `size`.
pub fn render_frame<C: PanelColor>(
    screen: &Screen,
    lang: Language,
    flags: StatusFlags,
    size: Size,
) -> Framebuffer<C> {
    let mut frame = Framebuffer::new(size);
    match render(screen, lang, flags, &mut frame) {
        Ok(()) => frame,
        Err(never) => match never {},
    }
}

struct Painter<'a, D> {
    target: &'a mut D,
    area: Rectangle,
    lang: Language,
}

impl<D> Painter<'_, D>
where
    D: DrawTarget,
    D::Color: PanelColor,
{
    fn width(&self) -> u32 {
        self.area.size.width
    }

    fn height(&self) -> u32 {
        self.area.size.height
    }

    /// Colour panels: 48 px banner, big amount, advice and details in 16 px text.
    fn full(
        &mut self,
        screen: &Screen,
        words: &Wording,
        lang: Language,
        flags: StatusFlags,
    ) -> Result<(), D::Error> {
        const BANNER: u32 = 48;
        const FOOTER: u32 = 20;
        const LINE: i32 = 20;
        let (w, h) = (self.width(), self.height());
        let warning = flags.warning(lang);
        let bottom = if warning.is_some() { h - FOOTER } else { h } as i32;

        self.fill(
            Rectangle::new(Point::zero(), Size::new(w, BANNER)),
            words.tone,
        )?;
        self.title(&words.title, BANNER, banner_text::<D::Color>(words.tone))?;
        if let Some(warning) = warning {
            let footer = Rectangle::new(Point::new(0, bottom), Size::new(w, FOOTER));
            self.fill(footer, Role::Caution)?;
            let text = format!("! {warning}");
            let color = D::Color::role(Role::Background);
            self.text(
                &WQY12,
                &text,
                footer.center(),
                VerticalPosition::Center,
                HorizontalAlignment::Center,
                color,
            )?;
        }

        if let Screen::PayQr { url, .. } = screen {
            return self.qr_full(url, words, BANNER as i32, bottom);
        }

        let mut y = BANNER as i32 + 8;
        if let Some(amount) = words.amount {
            let font = self.amount_font(&amount.to_string(), w - 16, 56);
            let color = D::Color::role(Role::Text);
            let rendered = self.text(
                font,
                &amount.to_string(),
                Point::new(w as i32 / 2, y),
                VerticalPosition::Top,
                HorizontalAlignment::Center,
                color,
            )?;
            y = rendered.map_or(y, |r| r.top_left.y + r.size.height as i32) + 14;
        } else {
            y += 16;
        }
        let max_width = w - 16;
        if let Some(advice) = &words.advice {
            let lines = wrap(advice, max_width, 3, |t| measure(&WQY16, t));
            y = self.lines(&lines, y, LINE, Role::Text)?;
            y += 6;
        }
        if let Some(detail) = &words.detail {
            let room = ((bottom - y - 2) / LINE).max(0) as usize;
            let lines = wrap(detail, max_width, room.min(3), |t| measure(&WQY16, t));
            self.lines(&lines, y, LINE, detail_role(screen))?;
        }
        Ok(())
    }

    /// 128×64: 14 px inverse banner, amount, two lines of 12 px text.
    fn compact(
        &mut self,
        screen: &Screen,
        words: &Wording,
        lang: Language,
        flags: StatusFlags,
    ) -> Result<(), D::Error> {
        const BANNER: u32 = 14;
        const LINE: i32 = 12;
        let (w, h) = (self.width(), self.height());
        if let Screen::PayQr { url, .. } = screen {
            return self.qr_compact(url, words);
        }

        self.fill(
            Rectangle::new(Point::zero(), Size::new(w, BANNER)),
            words.tone,
        )?;
        let on_banner = banner_text::<D::Color>(words.tone);
        let mut title_room = w.saturating_sub(4);
        let flag = match (flags.journal_damaged, flags.clock_unsynced, lang) {
            (true, _, Language::Zh) => Some("!账本"),
            (true, _, Language::En) => Some("!JRNL"),
            (false, true, Language::Zh) => Some("!时钟"),
            (false, true, Language::En) => Some("!CLK"),
            (false, false, _) => None,
        };
        if let Some(flag) = flag {
            let at = Point::new(w as i32 - 2, BANNER as i32 / 2);
            let r = self.text(
                &WQY12,
                flag,
                at,
                VerticalPosition::Center,
                HorizontalAlignment::Right,
                on_banner,
            )?;
            title_room = title_room.saturating_sub(r.map_or(0, |r| r.size.width + 4));
        }
        let title = truncate(&words.title, title_room, |t| measure(&WQY12, t));
        self.text(
            &WQY12,
            &title,
            Point::new(2, BANNER as i32 / 2),
            VerticalPosition::Center,
            HorizontalAlignment::Left,
            on_banner,
        )?;

        let mut y = BANNER as i32 + 2;
        if let Some(amount) = words.amount {
            let text = amount.to_string();
            // At most 18 px tall: two lines of text must fit under it.
            let font = self.amount_font(&text, w.saturating_sub(4), 18);
            let color = D::Color::role(Role::Text);
            let r = self.text(
                font,
                &text,
                Point::new(w as i32 / 2, y),
                VerticalPosition::Top,
                HorizontalAlignment::Center,
                color,
            )?;
            y = r.map_or(y, |r| r.top_left.y + r.size.height as i32) + 2;
        }
        let room = ((h as i32 - y) / LINE).max(0) as usize;
        let max_width = w.saturating_sub(2);
        let measure12 = |t: &str| measure(&WQY12, t);
        // Two lines of text at most: the advice comes first; the detail gets a line only
        // when the cashier needs it (countdown, queue depth, wallet and reference).
        let keep_detail = matches!(
            screen,
            Screen::WaitingCustomer { .. } | Screen::Offline { .. } | Screen::Paid { .. }
        );
        let (advice_lines, detail_lines) = match (&words.advice, &words.detail) {
            (Some(_), Some(_)) if room >= 2 && keep_detail => (room - 1, 1),
            (Some(_), _) => (room, 0),
            (None, _) => (0, room),
        };
        if let Some(advice) = &words.advice {
            let lines = wrap(advice, max_width, advice_lines, measure12);
            y = self.lines_left(&lines, y, LINE, Role::Text)?;
        }
        if let Some(detail) = &words.detail {
            let lines = wrap(detail, max_width, detail_lines, measure12);
            self.lines_left(&lines, y, LINE, Role::Text)?;
        }
        Ok(())
    }

    /// The QR screen on a colour panel: code in the middle, amount and hint below.
    fn qr_full(
        &mut self,
        url: &str,
        words: &Wording,
        top: i32,
        bottom: i32,
    ) -> Result<(), D::Error> {
        let w = self.width();
        let caption_h = 28;
        let qr_area = Rectangle::new(
            Point::new(0, top + 4),
            Size::new(w, (bottom - top - 4 - caption_h).max(0) as u32),
        );
        let shown = self.qr(url, qr_area, 16)?;
        // One centred line: the amount in the amount font, then the hint in 16 px text
        // (no "scan" hint when there is no code to scan).
        let amount = words.amount.map(|a| a.to_string()).unwrap_or_default();
        let amount_font = &AMOUNT_FONTS[4];
        let amount_w = if amount.is_empty() {
            0
        } else {
            measure(amount_font, &amount) + 8
        };
        let hint = if shown {
            words.advice.as_deref().unwrap_or("")
        } else {
            ""
        };
        let hint = truncate(hint, (w - 8).saturating_sub(amount_w), |t| {
            measure(&WQY16, t)
        });
        let total = amount_w + measure(&WQY16, &hint);
        let mut x = (w.saturating_sub(total) / 2) as i32;
        let y = bottom - caption_h / 2;
        let color = D::Color::role(Role::Text);
        if !amount.is_empty() {
            self.text(
                amount_font,
                &amount,
                Point::new(x, y),
                VerticalPosition::Center,
                HorizontalAlignment::Left,
                color,
            )?;
            x += amount_w as i32;
        }
        self.text(
            &WQY16,
            &hint,
            Point::new(x, y),
            VerticalPosition::Center,
            HorizontalAlignment::Left,
            color,
        )?;
        Ok(())
    }

    /// The QR screen on a 128×64 OLED: code on the right half, title and amount on the left.
    fn qr_compact(&mut self, url: &str, words: &Wording) -> Result<(), D::Error> {
        let (w, h) = (self.width(), self.height());
        let side = h.min(w / 2);
        let qr_area = Rectangle::new(Point::new((w - side) as i32, 0), Size::new(side, side));
        self.qr(url, qr_area, 12)?;
        let left = (w - side).saturating_sub(4);
        let color = D::Color::role(Role::Text);
        let lines = wrap(&words.title, left, 2, |t| measure(&WQY12, t));
        let y = self.lines_left(&lines, 2, 13, Role::Text)?;
        if let Some(amount) = words.amount {
            let text = amount.to_string();
            let font = self.amount_font(&text, left, 20);
            self.text(
                font,
                &text,
                Point::new(2, y + 4),
                VerticalPosition::Top,
                HorizontalAlignment::Left,
                color,
            )?;
        }
        Ok(())
    }

    /// Draws the code in `area`, or says it cannot be shown. Returns whether it was drawn.
    fn qr(&mut self, url: &str, area: Rectangle, line: i32) -> Result<bool, D::Error> {
        // Colour panels have the room for modules of 2 px or more, which phones read from
        // arm's length; an OLED can only offer 1 px.
        let min_scale = if line >= 16 { 2 } else { 1 };
        let placed =
            qr::encode(url).and_then(|code| qr::place(&code, area, min_scale).map(|p| (code, p)));
        match placed {
            Ok((code, placement)) => {
                // Dark modules on white: the polarity every phone scanner expects.
                let dark = D::Color::role(Role::Background);
                let light = D::Color::role(Role::Text);
                qr::draw_qr(&code, placement, dark, light, self.target)?;
                Ok(true)
            }
            Err(_) => {
                let font = if line >= 16 { &WQY16 } else { &WQY12 };
                let rows = (area.size.height as i32 / line).max(1) as usize;
                let lines = wrap(
                    qr_unavailable(self.lang),
                    area.size.width.saturating_sub(4),
                    rows,
                    |t| measure(font, t),
                );
                let mut y = area.top_left.y;
                for l in lines {
                    let at = Point::new(area.top_left.x + 2, y);
                    self.text(
                        font,
                        &l,
                        at,
                        VerticalPosition::Top,
                        HorizontalAlignment::Left,
                        D::Color::role(Role::Bad),
                    )?;
                    y += line;
                }
                Ok(false)
            }
        }
    }

    /// The banner title. English: the largest bold Latin font that fits. Chinese: WenQuanYi
    /// at double size when it fits. Otherwise normal size, cut with `…`.
    fn title(&mut self, title: &str, banner: u32, color: D::Color) -> Result<(), D::Error> {
        let room = self.width() - 8;
        let center = Point::new(self.width() as i32 / 2, banner as i32 / 2);
        let (v, h) = (VerticalPosition::Center, HorizontalAlignment::Center);
        if title.is_ascii() {
            if let Some(font) = TITLE_LATIN.iter().find(|f| measure(f, title) <= room) {
                self.text(font, title, center, v, h, color)?;
                return Ok(());
            }
        } else if measure(&WQY16, title) * 2 <= room {
            return draw_scaled(&WQY16, title, 2, center, color, self.target);
        }
        let title = truncate(title, room, |t| measure(&WQY16, t));
        self.text(&WQY16, &title, center, v, h, color)?;
        Ok(())
    }

    /// Centred lines from `y`; returns the y after the last line.
    fn lines(
        &mut self,
        lines: &[String],
        mut y: i32,
        step: i32,
        role: Role,
    ) -> Result<i32, D::Error> {
        let x = self.width() as i32 / 2;
        for line in lines {
            self.text(
                &WQY16,
                line,
                Point::new(x, y),
                VerticalPosition::Top,
                HorizontalAlignment::Center,
                D::Color::role(role),
            )?;
            y += step;
        }
        Ok(y)
    }

    /// Left-aligned 12 px lines from `y`; returns the y after the last line.
    fn lines_left(
        &mut self,
        lines: &[String],
        mut y: i32,
        step: i32,
        role: Role,
    ) -> Result<i32, D::Error> {
        for line in lines {
            self.text(
                &WQY12,
                line,
                Point::new(1, y),
                VerticalPosition::Top,
                HorizontalAlignment::Left,
                D::Color::role(role),
            )?;
            y += step;
        }
        Ok(y)
    }

    fn fill(&mut self, rect: Rectangle, role: Role) -> Result<(), D::Error> {
        rect.into_styled(PrimitiveStyle::with_fill(D::Color::role(role)))
            .draw(self.target)
    }

    /// The largest amount font that renders `text` within `max_width` and `max_height`.
    fn amount_font(&self, text: &str, max_width: u32, max_height: u32) -> &'static FontRenderer {
        AMOUNT_FONTS
            .iter()
            .find(|font| {
                let size = rendered_size(font, text);
                size.width <= max_width && size.height <= max_height
            })
            .unwrap_or(&AMOUNT_FONTS[AMOUNT_FONTS.len() - 1])
    }

    fn text(
        &mut self,
        font: &FontRenderer,
        text: &str,
        at: Point,
        v: VerticalPosition,
        h: HorizontalAlignment,
        color: D::Color,
    ) -> Result<Option<Rectangle>, D::Error> {
        draw_text(font, text, at, v, h, color, self.target)
    }
}

/// Banner text: black on amber reads better than white; white on the darker colours.
fn banner_text<C: PanelColor>(tone: Role) -> C {
    match tone {
        Role::Caution => C::role(Role::Background),
        _ => C::role(Role::OnBanner),
    }
}

/// The countdown and the queue depth matter to the cashier: same colour as the advice.
fn detail_role(screen: &Screen) -> Role {
    match screen {
        Screen::WaitingCustomer { .. } | Screen::Offline { .. } => Role::Caution,
        _ => Role::Muted,
    }
}

fn draw_text<D: DrawTarget>(
    font: &FontRenderer,
    text: &str,
    at: Point,
    v: VerticalPosition,
    h: HorizontalAlignment,
    color: D::Color,
    target: &mut D,
) -> Result<Option<Rectangle>, D::Error> {
    match font.render_aligned(text, at, v, h, FontColor::Transparent(color), target) {
        Ok(rect) => Ok(rect),
        Err(u8g2_fonts::Error::DisplayError(e)) => Err(e),
        // Unknown glyphs are skipped (ignore_unknown_chars) and no background colour is
        // asked for, so these cannot happen; drawing nothing is the safe answer anyway.
        Err(u8g2_fonts::Error::GlyphNotFound(_))
        | Err(u8g2_fonts::Error::BackgroundColorNotSupported) => Ok(None),
    }
}

/// Text drawn `scale` times larger by blowing each font pixel up into a square block.
fn draw_scaled<D: DrawTarget>(
    font: &FontRenderer,
    text: &str,
    scale: u32,
    center: Point,
    color: D::Color,
    target: &mut D,
) -> Result<(), D::Error> {
    let size = rendered_size(font, text);
    if size.width == 0 || size.height == 0 {
        return Ok(());
    }
    let mut small: Framebuffer<embedded_graphics::pixelcolor::BinaryColor> = Framebuffer::new(size);
    let on = embedded_graphics::pixelcolor::BinaryColor::On;
    let offset = text_offset(font, text);
    match draw_text(
        font,
        text,
        offset,
        VerticalPosition::Top,
        HorizontalAlignment::Left,
        on,
        &mut small,
    ) {
        Ok(_) => {}
        Err(never) => match never {},
    }
    let origin = center
        - Point::new(
            (size.width * scale / 2) as i32,
            (size.height * scale / 2) as i32,
        );
    let s = scale as i32;
    let blocks = (0..size.height).flat_map(|y| (0..size.width).map(move |x| (x, y)));
    for (x, y) in blocks {
        if small.pixel(x, y).is_some_and(|p| p.is_on()) {
            let at = origin + Point::new(x as i32 * s, y as i32 * s);
            Rectangle::new(at, Size::new(scale, scale))
                .into_styled(PrimitiveStyle::with_fill(color))
                .draw(target)?;
        }
    }
    Ok(())
}

/// Width of `text` in `font`, in pixels (its advance).
pub fn measure(font: &FontRenderer, text: &str) -> u32 {
    font.get_rendered_dimensions(text, Point::zero(), VerticalPosition::Top)
        .map_or(0, |d| d.advance.x.max(0) as u32)
}

/// The size of the ink of `text` drawn from the top.
fn rendered_size(font: &FontRenderer, text: &str) -> Size {
    font.get_rendered_dimensions(text, Point::zero(), VerticalPosition::Top)
        .ok()
        .and_then(|d| d.bounding_box)
        .map_or(Size::zero(), |b| Size::new(b.size.width, b.size.height))
}

/// Where to draw `text` so its ink starts at (0, 0).
fn text_offset(font: &FontRenderer, text: &str) -> Point {
    font.get_rendered_dimensions(text, Point::zero(), VerticalPosition::Top)
        .ok()
        .and_then(|d| d.bounding_box)
        .map_or(Point::zero(), |b| -b.top_left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Fen;
    use embedded_graphics::pixelcolor::{BinaryColor, Rgb565};

    #[test]
    fn fonts_have_the_glyphs_the_screens_use() {
        let strict = |font: FontRenderer| font.with_ignore_unknown_chars(false);
        for font in AMOUNT_FONTS {
            // The yen sign must have ink, not just exist (logisoso's is blank).
            let yen = strict(font.clone())
                .get_rendered_dimensions("¥", Point::zero(), VerticalPosition::Top)
                .unwrap();
            assert!(
                yen.bounding_box.is_some_and(|b| b.size.height > 4),
                "{yen:?}"
            );
            strict(font)
                .get_rendered_dimensions("0123456789.", Point::zero(), VerticalPosition::Top)
                .unwrap();
        }
        let zh = "请出示付款码余额不足，请换其他支付方式…单号尾号时钟未同步！";
        for font in [WQY12, WQY16] {
            strict(font)
                .get_rendered_dimensions(zh, Point::zero(), VerticalPosition::Top)
                .unwrap();
        }
    }

    #[test]
    fn paid_banner_is_green_and_failed_is_red() {
        let size = Size::new(240, 240);
        let flags = StatusFlags::default();
        let paid = Screen::Paid {
            amount: Fen(1250),
            payway: None,
            trade_no_tail: String::new(),
        };
        let failed = Screen::Failed {
            amount: Fen(1250),
            err_code: None,
            reason: String::new(),
        };
        let fb: Framebuffer<Rgb565> = render_frame(&paid, Language::En, flags, size);
        assert_eq!(fb.pixel(2, 2), Some(Rgb565::role(Role::Good)));
        let fb: Framebuffer<Rgb565> = render_frame(&failed, Language::En, flags, size);
        assert_eq!(fb.pixel(2, 2), Some(Rgb565::role(Role::Bad)));
    }

    #[test]
    fn clock_flag_adds_a_footer() {
        let size = Size::new(240, 240);
        let on = StatusFlags {
            clock_unsynced: true,
            ..StatusFlags::default()
        };
        let fb: Framebuffer<Rgb565> = render_frame(&Screen::Ready, Language::Zh, on, size);
        assert_eq!(fb.pixel(1, 238), Some(Rgb565::role(Role::Caution)));
        let fb: Framebuffer<Rgb565> =
            render_frame(&Screen::Ready, Language::Zh, StatusFlags::default(), size);
        assert_eq!(fb.pixel(1, 238), Some(Rgb565::role(Role::Background)));
    }

    #[test]
    fn every_screen_renders_at_odd_sizes_without_panicking() {
        let screens = [
            Screen::Ready,
            Screen::WaitingCustomer {
                amount: Fen(1),
                seconds_left: u32::MAX,
            },
            Screen::Failed {
                amount: Fen(1),
                err_code: Some("X".into()),
                reason: "r\nr".into(),
            },
            Screen::Offline {
                amount: Fen(1),
                queue_depth: usize::MAX,
            },
            Screen::PayQr {
                amount: Fen(1),
                url: "https://a.example/h5".into(),
            },
            Screen::ScannerMissing,
        ];
        let flags = StatusFlags {
            clock_unsynced: true,
            ..StatusFlags::default()
        };
        for (w, h) in [
            (1, 1),
            (5, 200),
            (200, 5),
            (64, 32),
            (119, 119),
            (199, 120),
            (200, 120),
            (480, 320),
        ] {
            for screen in &screens {
                for lang in Language::ALL {
                    let _: Framebuffer<Rgb565> = render_frame(screen, lang, flags, Size::new(w, h));
                }
            }
        }
    }

    #[test]
    fn a_megabyte_gateway_reason_renders_like_its_first_lines() {
        // Unbounded outside text must not make one frame take minutes: what cannot be shown
        // is cut before wrapping, and the frame is the one its first few hundred characters give.
        let reason = "Payment channel says: insufficient balance, try again ".repeat(20_000);
        let screen = |reason: String| Screen::Failed {
            amount: Fen(1),
            err_code: None,
            reason,
        };
        let head: String = reason.chars().take(400).collect();
        for size in [Size::new(128, 64), Size::new(240, 240), Size::new(320, 240)] {
            for lang in Language::ALL {
                let flags = StatusFlags::default();
                let huge: Framebuffer<Rgb565> =
                    render_frame(&screen(reason.clone()), lang, flags, size);
                let cut: Framebuffer<Rgb565> =
                    render_frame(&screen(head.clone()), lang, flags, size);
                assert!(huge == cut, "{size:?} {lang:?}");
            }
        }
    }

    #[test]
    fn huge_amounts_and_tiny_targets_still_render() {
        let big = Screen::Armed {
            amount: Fen(10_000_000_000),
            subject: "x".repeat(300),
        };
        for size in [
            Size::new(128, 64),
            Size::new(240, 240),
            Size::new(10, 10),
            Size::new(0, 0),
        ] {
            let fb: Framebuffer<BinaryColor> =
                render_frame(&big, Language::En, StatusFlags::default(), size);
            assert_eq!(fb.size(), size);
        }
    }
}
