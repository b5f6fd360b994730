//! Physical panels: the narrow [`Panel`] trait, the diffing [`PanelDisplay`] on top of it,
//! and the adapters for mipidsi (ST7789, ILI9341) and ssd1306 drivers.
//!
//! Nothing here opens a device: the adapters take any SPI device and pins implementing
//! embedded-hal 1.0, so the tests drive them with embedded-hal-mock and `linux` wires them
//! to spidev and the GPIO character device.

use std::panic::{catch_unwind, AssertUnwindSafe};

use display_interface::WriteOnlyDataCommand;
use embedded_graphics::pixelcolor::{BinaryColor, Rgb565};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;
use embedded_hal::digital::OutputPin;
use embedded_hal::spi::SpiDevice;
use mipidsi::interface::Interface;
use mipidsi::models::Model;
use ssd1306::mode::BufferedGraphicsMode;
use ssd1306::prelude::DisplaySize128x64;
use ssd1306::Ssd1306;

use crate::engine::Screen;

use super::framebuffer::{changed_regions, Framebuffer};
use super::palette::PanelColor;
use super::render::render_frame;
use super::{Display, DisplayError, Language, StatusFlags};

/// A device that shows pixels. `write_regions` sends rectangles of a finished frame.
pub trait Panel {
    type Color: PanelColor;

    fn size(&self) -> Size;

    /// Sends the pixels of `areas` (inside the panel) from `frame`. The error is a readable
    /// description of what the driver reported.
    fn write_regions(
        &mut self,
        frame: &Framebuffer<Self::Color>,
        areas: &[Rectangle],
    ) -> Result<(), String>;
}

/// A [`Display`] on a [`Panel`]: renders into a framebuffer and sends only what changed.
pub struct PanelDisplay<P: Panel> {
    panel: P,
    device: String,
    language: Language,
    /// The frame the panel is known to show; `None` after a fault (state unknown).
    last: Option<Framebuffer<P::Color>>,
}

impl<P: Panel> PanelDisplay<P> {
    /// `device` names the panel in errors and status: `st7789 on /dev/spidev0.0`.
    pub fn new(panel: P, device: impl Into<String>, language: Language) -> Self {
        PanelDisplay {
            panel,
            device: device.into(),
            language,
            last: None,
        }
    }

    pub fn panel(&self) -> &P {
        &self.panel
    }

    pub fn panel_mut(&mut self) -> &mut P {
        &mut self.panel
    }
}

impl<P: Panel> Display for PanelDisplay<P> {
    fn show(&mut self, screen: &Screen, flags: StatusFlags) -> Result<(), DisplayError> {
        let frame = render_frame::<P::Color>(screen, self.language, flags, self.panel.size());
        let regions = match &self.last {
            Some(last) => changed_regions(last, &frame),
            None => vec![frame.bounding_box()],
        };
        // Forget the old frame first: if a write fails half way the panel shows a mix, and
        // the next screen must be sent whole.
        self.last = None;
        let panel = &mut self.panel;
        // Drivers assert on their invariants; a panic in one must not take the daemon down.
        let sent = catch_unwind(AssertUnwindSafe(|| {
            if regions.is_empty() {
                Ok(())
            } else {
                panel.write_regions(&frame, &regions)
            }
        }));
        let failure = match sent {
            Ok(Ok(())) => None,
            Ok(Err(detail)) => Some(detail),
            Err(_) => Some("the driver panicked".to_string()),
        };
        if let Some(detail) = failure {
            return Err(DisplayError::Device {
                device: self.device.clone(),
                detail,
            });
        }
        self.last = Some(frame);
        Ok(())
    }

    fn describe(&self) -> String {
        self.device.clone()
    }
}

/// An RGB565 panel driven by mipidsi (ST7789, ILI9341, …).
pub struct MipiPanel<DI, M, RST>
where
    DI: Interface<Word = u8>,
    M: Model<ColorFormat = Rgb565>,
    RST: OutputPin,
{
    display: mipidsi::Display<DI, M, RST>,
}

impl<DI, M, RST> MipiPanel<DI, M, RST>
where
    DI: Interface<Word = u8>,
    M: Model<ColorFormat = Rgb565>,
    RST: OutputPin,
{
    /// Wraps an initialised mipidsi display (see `mipidsi::Builder`).
    pub fn new(display: mipidsi::Display<DI, M, RST>) -> Self {
        MipiPanel { display }
    }

    pub fn release(self) -> (DI, M, Option<RST>) {
        self.display.release()
    }
}

impl<DI, M, RST> Panel for MipiPanel<DI, M, RST>
where
    DI: Interface<Word = u8>,
    M: Model<ColorFormat = Rgb565>,
    RST: OutputPin,
{
    type Color = Rgb565;

    fn size(&self) -> Size {
        self.display.bounding_box().size
    }

    /// One address window and one burst of pixels per area.
    fn write_regions(
        &mut self,
        frame: &Framebuffer<Rgb565>,
        areas: &[Rectangle],
    ) -> Result<(), String> {
        for area in areas {
            let area = area.intersection(&self.display.bounding_box());
            let Some(bottom_right) = area.bottom_right() else {
                continue;
            };
            let (sx, sy) = (area.top_left.x as u16, area.top_left.y as u16);
            let (ex, ey) = (bottom_right.x as u16, bottom_right.y as u16);
            self.display
                .set_pixels(sx, sy, ex, ey, frame.region(area))
                .map_err(|e| format!("{e:?}"))?;
        }
        Ok(())
    }
}

/// A 128×64 SSD1306 OLED driven by the ssd1306 crate in buffered mode.
pub struct Ssd1306Panel<DI: WriteOnlyDataCommand> {
    display: Ssd1306<DI, DisplaySize128x64, BufferedGraphicsMode<DisplaySize128x64>>,
}

impl<DI: WriteOnlyDataCommand> Ssd1306Panel<DI> {
    /// Wraps an SSD1306 already reset and initialised (`init()`).
    pub fn new(
        display: Ssd1306<DI, DisplaySize128x64, BufferedGraphicsMode<DisplaySize128x64>>,
    ) -> Self {
        Ssd1306Panel { display }
    }

    pub fn release(self) -> DI {
        self.display.release()
    }
}

impl<DI: WriteOnlyDataCommand> Panel for Ssd1306Panel<DI> {
    type Color = BinaryColor;

    fn size(&self) -> Size {
        Size::new(128, 64)
    }

    /// Copies the areas into the driver's buffer, then flushes once: ssd1306 sends the
    /// columns and 8-row pages spanning everything touched. One flush, not one per area:
    /// areas can share a page, and a page must go out with all its new rows.
    fn write_regions(
        &mut self,
        frame: &Framebuffer<BinaryColor>,
        areas: &[Rectangle],
    ) -> Result<(), String> {
        let panel = Rectangle::new(Point::zero(), self.size());
        for area in areas {
            for point in area.intersection(&panel).points() {
                let on = frame.pixel(point.x as u32, point.y as u32) == Some(BinaryColor::On);
                self.display.set_pixel(point.x as u32, point.y as u32, on);
            }
        }
        self.display.flush().map_err(|e| format!("{e:?}"))
    }
}

/// mipidsi's SPI interface, owning its pixel buffer (mipidsi's own borrows one, which a
/// boxed, long-lived display cannot hold).
pub struct SpiInterface<SPI, DC> {
    spi: SPI,
    dc: DC,
    buffer: Vec<u8>,
}

/// Bytes of pixel data per SPI write: 4 kB is what spidev accepts by default (bufsiz).
const SPI_CHUNK: usize = 4096;

impl<SPI: SpiDevice, DC: OutputPin> SpiInterface<SPI, DC> {
    pub fn new(spi: SPI, dc: DC) -> Self {
        SpiInterface {
            spi,
            dc,
            buffer: Vec::with_capacity(SPI_CHUNK),
        }
    }

    pub fn release(self) -> (SPI, DC) {
        (self.spi, self.dc)
    }
}

/// Which line failed: the SPI bus or the data/command GPIO.
#[derive(Debug)]
pub enum SpiInterfaceError<S, D> {
    Spi(S),
    Dc(D),
}

impl<SPI: SpiDevice, DC: OutputPin> Interface for SpiInterface<SPI, DC> {
    type Word = u8;
    type Error = SpiInterfaceError<SPI::Error, DC::Error>;

    fn send_command(&mut self, command: u8, args: &[u8]) -> Result<(), Self::Error> {
        self.dc.set_low().map_err(SpiInterfaceError::Dc)?;
        self.spi.write(&[command]).map_err(SpiInterfaceError::Spi)?;
        self.dc.set_high().map_err(SpiInterfaceError::Dc)?;
        if !args.is_empty() {
            self.spi.write(args).map_err(SpiInterfaceError::Spi)?;
        }
        Ok(())
    }

    fn send_pixels<const N: usize>(
        &mut self,
        pixels: impl IntoIterator<Item = [u8; N]>,
    ) -> Result<(), Self::Error> {
        self.buffer.clear();
        for pixel in pixels {
            self.buffer.extend_from_slice(&pixel);
            if self.buffer.len() + N > SPI_CHUNK {
                self.spi
                    .write(&self.buffer)
                    .map_err(SpiInterfaceError::Spi)?;
                self.buffer.clear();
            }
        }
        if !self.buffer.is_empty() {
            self.spi
                .write(&self.buffer)
                .map_err(SpiInterfaceError::Spi)?;
        }
        Ok(())
    }

    fn send_repeated_pixel<const N: usize>(
        &mut self,
        pixel: [u8; N],
        count: u32,
    ) -> Result<(), Self::Error> {
        self.send_pixels((0..count).map(|_| pixel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Fen;

    /// A panel that records what it was sent, and fails when told to.
    struct FakePanel {
        size: Size,
        writes: Vec<Rectangle>,
        pixels_sent: usize,
        fail: Option<&'static str>,
        panic: bool,
    }

    impl FakePanel {
        fn new(w: u32, h: u32) -> Self {
            FakePanel {
                size: Size::new(w, h),
                writes: Vec::new(),
                pixels_sent: 0,
                fail: None,
                panic: false,
            }
        }
    }

    impl Panel for FakePanel {
        type Color = Rgb565;

        fn size(&self) -> Size {
            self.size
        }

        fn write_regions(
            &mut self,
            frame: &Framebuffer<Rgb565>,
            areas: &[Rectangle],
        ) -> Result<(), String> {
            if self.panic {
                panic!("driver bug");
            }
            if let Some(why) = self.fail {
                return Err(why.to_string());
            }
            for &area in areas {
                self.writes.push(area);
                self.pixels_sent += frame.region(area).count();
            }
            Ok(())
        }
    }

    fn waiting(seconds_left: u32) -> Screen {
        Screen::WaitingCustomer {
            amount: Fen(1250),
            seconds_left,
        }
    }

    #[test]
    fn first_frame_is_sent_whole_then_only_changes() {
        let mut display = PanelDisplay::new(FakePanel::new(240, 240), "fake", Language::En);
        let flags = StatusFlags::default();
        display.show(&waiting(45), flags).unwrap();
        assert_eq!(
            display.panel().writes,
            vec![Rectangle::new(Point::zero(), Size::new(240, 240))]
        );

        display.panel_mut().writes.clear();
        display.panel_mut().pixels_sent = 0;
        display.show(&waiting(45), flags).unwrap();
        assert_eq!(
            display.panel().writes,
            vec![],
            "an unchanged screen sends nothing"
        );

        display.show(&waiting(44), flags).unwrap();
        let writes = &display.panel().writes;
        assert!(!writes.is_empty());
        // Only the countdown line changed: a small part of the 57 600 pixels.
        let sent = display.panel().pixels_sent;
        assert!(sent < 240 * 30, "sent {sent} pixels in {writes:?}");
        assert!(writes.iter().all(|r| r.top_left.y > 100), "{writes:?}");
    }

    #[test]
    fn a_fault_names_the_device_and_the_next_screen_is_sent_whole() {
        let mut display = PanelDisplay::new(
            FakePanel::new(240, 240),
            "st7789 on /dev/spidev0.0",
            Language::Zh,
        );
        let flags = StatusFlags::default();
        display.show(&waiting(45), flags).unwrap();
        display.panel_mut().fail = Some("Spi(EIO)");
        let err = display.show(&waiting(44), flags).unwrap_err().to_string();
        assert!(
            err.contains("st7789 on /dev/spidev0.0") && err.contains("EIO"),
            "{err}"
        );

        display.panel_mut().fail = None;
        display.panel_mut().writes.clear();
        display.show(&waiting(44), flags).unwrap();
        assert_eq!(
            display.panel().writes,
            vec![Rectangle::new(Point::zero(), Size::new(240, 240))]
        );
    }

    #[test]
    fn a_panicking_driver_becomes_an_error() {
        let mut display = PanelDisplay::new(FakePanel::new(240, 240), "ili9341", Language::En);
        display.panel_mut().panic = true;
        let err = display
            .show(&Screen::Ready, StatusFlags::default())
            .unwrap_err();
        assert!(err.to_string().contains("ili9341"), "{err}");
        assert!(err.to_string().contains("panicked"), "{err}");
    }
}
