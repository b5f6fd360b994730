//! The panel drivers' SPI traffic, byte for byte, against embedded-hal-mock: the SSD1306
//! init sequence and its full and partial flushes, the ST7789 init (via mipidsi) and a region
//! write; and an SPI fault surfacing as an error that names the device.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use embedded_graphics::pixelcolor::{BinaryColor, Rgb565};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;
use embedded_hal_mock::eh1::delay::NoopDelay;
use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as Pin};
use embedded_hal_mock::eh1::spi::{Mock as SpiMock, Transaction as Spi};
use mipidsi::models::ST7789;
use mipidsi::options::ColorInversion;
use scanpay::display::framebuffer::{changed_regions, Framebuffer};
use scanpay::display::panel::{MipiPanel, Panel, PanelDisplay, SpiInterface, Ssd1306Panel};
use scanpay::display::render::render_frame;
use scanpay::display::{Display, Language, StatusFlags};
use scanpay::engine::Screen;
use scanpay::protocol::Fen;
use ssd1306::mode::DisplayConfig as _;
use ssd1306::prelude::{DisplayRotation, DisplaySize128x64, SPIInterface};
use ssd1306::Ssd1306;

/// The expected traffic on the SPI bus and the data/command line.
#[derive(Default)]
struct Expect {
    spi: Vec<Spi<u8>>,
    dc: Vec<Pin>,
}

impl Expect {
    fn write(&mut self, bytes: &[u8]) {
        self.spi.extend([
            Spi::transaction_start(),
            Spi::write_vec(bytes.to_vec()),
            Spi::transaction_end(),
        ]);
    }

    /// SSD1306 (display-interface-spi): DC low, then the command and its arguments at once.
    fn ssd_command(&mut self, bytes: &[u8]) {
        self.dc.push(Pin::set(State::Low));
        self.write(bytes);
    }

    /// SSD1306: DC high, then one page of display data.
    fn ssd_data(&mut self, bytes: &[u8]) {
        self.dc.push(Pin::set(State::High));
        self.write(bytes);
    }

    /// MIPI DCS (our SpiInterface): DC low for the command byte, high for its arguments.
    fn dcs(&mut self, command: u8, args: &[u8]) {
        self.dc.push(Pin::set(State::Low));
        self.write(&[command]);
        self.dc.push(Pin::set(State::High));
        if !args.is_empty() {
            self.write(args);
        }
    }
}

/// The SSD1306 init sequence for a 128×64 panel, from the datasheet's command table.
const SSD1306_INIT: &[&[u8]] = &[
    &[0xAE],       // display off
    &[0xD5, 0x80], // clock divide ratio / oscillator frequency
    &[0xA8, 0x3F], // multiplex ratio: 64 rows
    &[0xD3, 0x00], // display offset 0
    &[0x40],       // start line 0
    &[0x8D, 0x14], // charge pump on
    &[0x20, 0x00], // horizontal addressing mode
    &[0xDA, 0x12], // COM pins: alternative, no remap (128×64)
    &[0xA1],       // segment remap: column 127 is SEG0
    &[0xC8],       // COM scan direction: remapped
    &[0xD9, 0x21], // pre-charge: phase 1 = 1, phase 2 = 2
    &[0x81, 0x5F], // contrast
    &[0xDB, 0x40], // VCOMH deselect level
    &[0xA4],       // display follows RAM
    &[0xA6],       // normal (not inverted)
    &[0x2E],       // scrolling off
    &[0xAF],       // display on
];

/// One SSD1306 page (8 rows) of `frame`, columns `x0..=x1`: bit n of a byte is row 8·page+n.
fn page_bytes(frame: &Framebuffer<BinaryColor>, page: u32, x0: u32, x1: u32) -> Vec<u8> {
    (x0..=x1)
        .map(|x| {
            (0..8).fold(0u8, |byte, bit| {
                let on = frame.pixel(x, page * 8 + bit) == Some(BinaryColor::On);
                byte | (u8::from(on) << bit)
            })
        })
        .collect()
}

/// What a flush of `region` of `frame` sends: the address window, then the pages.
fn expect_flush(expect: &mut Expect, frame: &Framebuffer<BinaryColor>, region: Rectangle) {
    let br = region.bottom_right().unwrap();
    let (x0, x1) = (region.top_left.x as u32, br.x as u32);
    let (p0, p1) = (region.top_left.y as u32 / 8, br.y as u32 / 8);
    expect.ssd_command(&[0x21, x0 as u8, x1 as u8]);
    expect.ssd_command(&[0x22, p0 as u8, p1 as u8]);
    for page in p0..=p1 {
        expect.ssd_data(&page_bytes(frame, page, x0, x1));
    }
}

#[test]
fn ssd1306_init_full_frame_and_partial_update_byte_for_byte() {
    let flags = StatusFlags::default();
    let first = Screen::Checking { amount: Fen(1250) };
    let second = Screen::Checking { amount: Fen(1260) };
    let frame1: Framebuffer<BinaryColor> =
        render_frame(&first, Language::En, flags, Size::new(128, 64));
    let frame2: Framebuffer<BinaryColor> =
        render_frame(&second, Language::En, flags, Size::new(128, 64));

    let mut expect = Expect::default();
    for command in SSD1306_INIT {
        expect.ssd_command(command);
    }
    // The first frame goes out whole: columns 0..=127, pages 0..=7.
    expect_flush(
        &mut expect,
        &frame1,
        Rectangle::new(Point::zero(), Size::new(128, 64)),
    );
    // The second only where the amount changed: one flush spanning the changed areas.
    let regions = changed_regions(&frame1, &frame2);
    let span = regions
        .iter()
        .copied()
        .reduce(|a, b| {
            let (a_br, b_br) = (a.bottom_right().unwrap(), b.bottom_right().unwrap());
            Rectangle::with_corners(
                a.top_left.component_min(b.top_left),
                a_br.component_max(b_br),
            )
        })
        .expect("the amount changed");
    expect_flush(&mut expect, &frame2, span);
    let pages = span.bottom_right().unwrap().y as u32 / 8 - span.top_left.y as u32 / 8 + 1;
    let partial_bytes = span.size.width * pages;
    assert!(
        partial_bytes < 1024 / 8,
        "partial update sent {partial_bytes} bytes"
    );

    let mut spi = SpiMock::new(&expect.spi);
    let mut dc = PinMock::new(&expect.dc);
    let mut rst = PinMock::new(&[
        Pin::set(State::High),
        Pin::set(State::Low),
        Pin::set(State::High),
    ]);
    let mut oled = Ssd1306::new(
        SPIInterface::new(spi.clone(), dc.clone()),
        DisplaySize128x64,
        DisplayRotation::Rotate0,
    )
    .into_buffered_graphics_mode();
    oled.reset(&mut rst, &mut NoopDelay).unwrap();
    oled.init().unwrap();
    let mut display = PanelDisplay::new(Ssd1306Panel::new(oled), "ssd1306 (mock)", Language::En);
    display.show(&first, flags).unwrap();
    display.show(&second, flags).unwrap();
    // An unchanged screen sends nothing at all.
    display.show(&second, flags).unwrap();

    spi.done();
    dc.done();
    rst.done();
}

#[test]
fn st7789_init_and_region_write_byte_for_byte() {
    let mut expect = Expect::default();
    expect.dcs(0x11, &[]); // sleep out
    expect.dcs(0x36, &[0x00]); // MADCTL: default orientation, RGB
    expect.dcs(0x21, &[]); // inversion on (ST7789 modules are wired inverted)
    expect.dcs(0x3A, &[0x55]); // 16 bits per pixel
    expect.dcs(0x13, &[]); // normal mode
    expect.dcs(0x29, &[]); // display on
                           // A 2×2 region at (10, 20).
    expect.dcs(0x2A, &[0, 10, 0, 11]); // columns 10..=11
    expect.dcs(0x2B, &[0, 20, 0, 21]); // rows 20..=21
    expect.dcs(0x2C, &[]); // memory write
    let red = Rgb565::new(31, 0, 0).into_storage().to_be_bytes();
    let blue = Rgb565::new(0, 0, 31).into_storage().to_be_bytes();
    let black = [0, 0];
    expect.write(&[red, blue, black, red].concat());

    let mut spi = SpiMock::new(&expect.spi);
    let mut dc = PinMock::new(&expect.dc);
    let mut rst = PinMock::new(&[Pin::set(State::Low), Pin::set(State::High)]);
    let display = mipidsi::Builder::new(ST7789, SpiInterface::new(spi.clone(), dc.clone()))
        .display_size(240, 240)
        .invert_colors(ColorInversion::Inverted)
        .reset_pin(rst.clone())
        .init(&mut NoopDelay)
        .unwrap();
    let mut panel = MipiPanel::new(display);
    assert_eq!(panel.size(), Size::new(240, 240));

    let mut frame: Framebuffer<Rgb565> = Framebuffer::new(Size::new(240, 240));
    frame
        .draw_iter([
            Pixel(Point::new(10, 20), Rgb565::new(31, 0, 0)),
            Pixel(Point::new(11, 20), Rgb565::new(0, 0, 31)),
            Pixel(Point::new(11, 21), Rgb565::new(31, 0, 0)),
        ])
        .unwrap();
    let region = Rectangle::new(Point::new(10, 20), Size::new(2, 2));
    panel.write_regions(&frame, &[region]).unwrap();

    spi.done();
    dc.done();
    rst.done();
}

/// An SPI device that works until told to fail, like a panel whose cable comes loose.
#[derive(Clone)]
struct FlakySpi {
    broken: Arc<AtomicBool>,
}

impl embedded_hal::spi::ErrorType for FlakySpi {
    type Error = embedded_hal::spi::ErrorKind;
}

impl embedded_hal::spi::SpiDevice for FlakySpi {
    fn transaction(
        &mut self,
        _operations: &mut [embedded_hal::spi::Operation<'_, u8>],
    ) -> Result<(), Self::Error> {
        if self.broken.load(Ordering::SeqCst) {
            Err(embedded_hal::spi::ErrorKind::Other)
        } else {
            Ok(())
        }
    }
}

/// A data/command pin that always works.
struct FinePin;

impl embedded_hal::digital::ErrorType for FinePin {
    type Error = std::convert::Infallible;
}

impl embedded_hal::digital::OutputPin for FinePin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[test]
fn spi_fault_is_an_error_naming_the_panel_and_the_next_screen_recovers() {
    let broken = Arc::new(AtomicBool::new(false));
    let spi = FlakySpi {
        broken: broken.clone(),
    };
    let display = mipidsi::Builder::new(ST7789, SpiInterface::new(spi, FinePin))
        .display_size(240, 240)
        .init(&mut NoopDelay)
        .unwrap();
    let mut display = PanelDisplay::new(
        MipiPanel::new(display),
        "st7789 on /dev/spidev0.0",
        Language::Zh,
    );
    let flags = StatusFlags::default();
    display.show(&Screen::Ready, flags).unwrap();

    broken.store(true, Ordering::SeqCst);
    let err = display
        .show(&Screen::Processing { amount: Fen(100) }, flags)
        .unwrap_err()
        .to_string();
    assert!(err.contains("st7789 on /dev/spidev0.0"), "{err}");
    assert!(err.contains("Spi(Other)"), "{err}");

    broken.store(false, Ordering::SeqCst);
    display
        .show(&Screen::Processing { amount: Fen(100) }, flags)
        .unwrap();
}
