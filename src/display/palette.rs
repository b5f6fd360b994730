//! Colours by meaning: a screen asks for "paid" or "waiting", each panel type says what that
//! looks like. Colour panels use the traffic-light convention; a monochrome OLED shows the
//! state through an inverted banner instead.

use embedded_graphics::pixelcolor::{BinaryColor, Rgb565, RgbColor};
use embedded_graphics::prelude::PixelColor;

/// What a colour is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Background,
    Text,
    /// Secondary text: subject, trade number, hints.
    Muted,
    /// Paid.
    Good,
    /// Not paid, expired, scanner missing.
    Bad,
    /// Waiting, checking, offline: something is in progress, do not act yet.
    Caution,
    /// Neutral states: ready, armed, processing.
    Info,
    /// Text drawn on top of a Good/Bad/Caution/Info banner.
    OnBanner,
}

/// A pixel colour the screens can be drawn in, and shown as RGB (PNG, terminal).
pub trait PanelColor: PixelColor + Default + Send + 'static {
    fn role(role: Role) -> Self;
    /// The colour as 8-bit RGB, for PNG files and terminals.
    fn rgb(self) -> [u8; 3];
}

impl PanelColor for Rgb565 {
    fn role(role: Role) -> Self {
        match role {
            Role::Background => Rgb565::BLACK,
            Role::Text => Rgb565::WHITE,
            Role::Muted => Rgb565::new(22, 46, 22),
            Role::Good => Rgb565::new(2, 44, 8),
            Role::Bad => Rgb565::new(27, 8, 5),
            Role::Caution => Rgb565::new(31, 44, 0),
            Role::Info => Rgb565::new(4, 22, 24),
            Role::OnBanner => Rgb565::WHITE,
        }
    }

    fn rgb(self) -> [u8; 3] {
        // Scale 5/6-bit channels to the full 0..=255 range (31 → 255, 63 → 255).
        [
            (u16::from(self.r()) * 255 / 31) as u8,
            (u16::from(self.g()) * 255 / 63) as u8,
            (u16::from(self.b()) * 255 / 31) as u8,
        ]
    }
}

impl PanelColor for BinaryColor {
    fn role(role: Role) -> Self {
        match role {
            Role::Background | Role::OnBanner => BinaryColor::Off,
            _ => BinaryColor::On,
        }
    }

    fn rgb(self) -> [u8; 3] {
        // How a white OLED looks: lit pixels white, dark ones black.
        match self {
            BinaryColor::On => [255, 255, 255],
            BinaryColor::Off => [0, 0, 0],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb565_expands_to_full_range() {
        assert_eq!(Rgb565::WHITE.rgb(), [255, 255, 255]);
        assert_eq!(Rgb565::BLACK.rgb(), [0, 0, 0]);
        assert_eq!(Rgb565::new(31, 0, 0).rgb(), [255, 0, 0]);
    }

    #[test]
    fn mono_banner_text_is_inverse() {
        assert_ne!(
            BinaryColor::role(Role::Good),
            BinaryColor::role(Role::OnBanner)
        );
        assert_eq!(
            BinaryColor::role(Role::OnBanner),
            BinaryColor::role(Role::Background)
        );
    }
}
