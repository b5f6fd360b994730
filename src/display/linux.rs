//! Wiring panels on Linux: spidev for SPI, the GPIO character device for data/command,
//! reset and backlight lines. The GPIO chip is found by its label, never by its number
//! (`gpiochip0` on a Pi 4 is `gpiochip4` on a Pi 5; the label says which one it is).

use std::path::Path;

use linux_embedded_hal::gpio_cdev::{chips, Chip, LineRequestFlags};
use linux_embedded_hal::spidev::{SpiModeFlags, SpidevOptions};
use linux_embedded_hal::{CdevPin, Delay, SpidevDevice};
use mipidsi::models::{ILI9341Rgb565, Model, ST7789};
use mipidsi::options::{ColorInversion, ColorOrder, Orientation, Rotation};
use mipidsi::NoResetPin;
use ssd1306::mode::DisplayConfig as _;
use ssd1306::prelude::{DisplayRotation, DisplaySize128x64, SPIInterface};
use ssd1306::Ssd1306;

use crate::engine::Screen;

use super::config::SpiPanelConfig;
use super::panel::{MipiPanel, Panel, PanelDisplay, SpiInterface, Ssd1306Panel};
use super::{Display, DisplayError, StatusFlags};

/// Finds the GPIO chip whose label is `label`, listing the labels seen when none matches.
/// A value starting with `/` is taken as the chip's device path instead (`/dev/gpiochip0`),
/// for boards whose labels are not known in advance.
pub fn find_gpio_chip(label: &str) -> Result<Chip, DisplayError> {
    if label.starts_with('/') {
        return Chip::new(label).map_err(|e| DisplayError::Open {
            device: format!("GPIO chip {label}"),
            detail: format!(
                "{e}; {}",
                match gpio_hint(&e.to_string()) {
                    "" => "list the chips with `gpiodetect` and set gpio_chip to one of them",
                    hint => hint,
                }
            ),
        });
    }
    let device = format!("GPIO chip labelled {label:?}");
    let all = chips().map_err(|e| DisplayError::Open {
        device: device.clone(),
        detail: format!("cannot list /dev/gpiochip*: {e}"),
    })?;
    let mut seen = Vec::new();
    for chip in all {
        let Ok(chip) = chip else { continue };
        if chip.label() == label {
            return Ok(chip);
        }
        seen.push(format!("{} ({})", chip.label(), chip.path().display()));
    }
    let found = if seen.is_empty() {
        "no GPIO chips found".to_string()
    } else {
        format!("found: {}", seen.join(", "))
    };
    Err(DisplayError::Open {
        device,
        detail: format!("{found}; set gpio_chip to one of these labels"),
    })
}

/// Requests line `offset` of `chip` as an output starting at `initial`.
fn output_line(
    chip: &mut Chip,
    offset: u32,
    initial: u8,
    role: &str,
) -> Result<CdevPin, DisplayError> {
    let name = chip_name(chip);
    let err = |e: &dyn std::fmt::Display| {
        let detail = e.to_string();
        let hint = gpio_hint(&detail);
        DisplayError::Open {
            device: format!("GPIO line {offset} ({role}) on {name}"),
            detail: if hint.is_empty() {
                detail
            } else {
                format!("{detail}; {hint}")
            },
        }
    };
    let line = chip.get_line(offset).map_err(|e| err(&e))?;
    let handle = line
        .request(
            LineRequestFlags::OUTPUT,
            initial,
            &format!("scanpay-{role}"),
        )
        .map_err(|e| err(&e))?;
    CdevPin::new(handle).map_err(|e| err(&e))
}

fn chip_name(chip: &Chip) -> String {
    format!("{} ({})", chip.label(), chip.path().display())
}

/// What to do about a GPIO chip or line that cannot be had, from the error's wording (the
/// chip's open is an `io::Error`, a line request a gpio-cdev ioctl error naming the errno).
fn gpio_hint(error: &str) -> &'static str {
    if error.contains("resource busy") {
        "another program or a kernel driver (a dtoverlay) already holds that line; free it or pick another pin"
    } else if error.contains("Permission denied") || error.contains("not permitted") {
        "scanpay needs the gpio group (the unit's SupplementaryGroups) and DeviceAllow=char-gpiochip"
    } else if error.contains("Invalid argument") {
        "the chip has no such line; check the pin offsets against `gpioinfo`"
    } else if error.contains("No such file") {
        "list the chips with `gpiodetect` and set gpio_chip to one of them"
    } else {
        ""
    }
}

/// What to do about a spidev that cannot be opened.
fn spi_hint(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::NotFound => {
            "enable SPI (raspi-config, or dtparam=spi=on in /boot/firmware/config.txt, then reboot) and check [display] spi"
        }
        std::io::ErrorKind::PermissionDenied => {
            "scanpay needs the spi group (the unit's SupplementaryGroups) and DeviceAllow=char-spidev"
        }
        _ => "check [display] spi and the wiring",
    }
}

/// Opens and configures the spidev device: mode 0, 8 bits, `hz`.
fn open_spi(path: &Path, hz: u32) -> Result<SpidevDevice, DisplayError> {
    let err = |e: &dyn std::fmt::Display| DisplayError::Open {
        device: format!("SPI device {}", path.display()),
        detail: e.to_string(),
    };
    let mut spi = SpidevDevice::open(path).map_err(|e| DisplayError::Open {
        device: format!("SPI device {}", path.display()),
        detail: format!("{e}; {}", spi_hint(e.inner())),
    })?;
    let options = SpidevOptions::new()
        .bits_per_word(8)
        .max_speed_hz(hz)
        .mode(SpiModeFlags::SPI_MODE_0)
        .build();
    spi.configure(&options).map_err(|e| err(&e))?;
    Ok(spi)
}

/// The lines every panel needs, opened in order: backlight on, DC, optional reset.
struct Wiring {
    spi: SpidevDevice,
    dc: CdevPin,
    reset: Option<CdevPin>,
    backlight: Option<CdevPin>,
}

/// The SSD1306's fastest serial clock (datasheet: 100 ns cycle). Faster garbles the picture
/// on most modules; 128×64 is only 1 kB a frame, so 10 MHz is plenty.
const SSD1306_MAX_HZ: u32 = 10_000_000;

/// The SPI clock to use: the configured one, but never above what the controller takes.
fn clock_hz(config: &SpiPanelConfig, max_hz: u32) -> u32 {
    config.spi_hz.min(max_hz)
}

fn wire(config: &SpiPanelConfig, max_hz: u32) -> Result<Wiring, DisplayError> {
    let spi = open_spi(&config.spi_device, clock_hz(config, max_hz))?;
    let mut chip = find_gpio_chip(&config.gpio_chip)?;
    let dc = output_line(&mut chip, config.dc_pin, 0, "dc")?;
    let reset = config
        .reset_pin
        .map(|pin| output_line(&mut chip, pin, 1, "reset"))
        .transpose()?;
    let backlight = config
        .backlight_pin
        .map(|pin| output_line(&mut chip, pin, 1, "backlight"))
        .transpose()?;
    Ok(Wiring {
        spi,
        dc,
        reset,
        backlight,
    })
}

/// A panel display that also holds its backlight line (dropping it would release the line).
struct Wired<P: Panel> {
    display: PanelDisplay<P>,
    _backlight: Option<CdevPin>,
}

impl<P: Panel> Display for Wired<P> {
    fn show(&mut self, screen: &Screen, flags: StatusFlags) -> Result<(), DisplayError> {
        self.display.show(screen, flags)
    }

    fn describe(&self) -> String {
        self.display.describe()
    }
}

/// Opens an ST7789 240×240 panel.
pub fn open_st7789(config: &SpiPanelConfig) -> Result<Box<dyn Display + Send>, DisplayError> {
    open_mipi(config, ST7789, st7789_setup(config))
}

/// Opens an ILI9341 panel in landscape (320×240).
pub fn open_ili9341(config: &SpiPanelConfig) -> Result<Box<dyn Display + Send>, DisplayError> {
    open_mipi(config, ILI9341Rgb565, ili9341_setup(config))
}

fn st7789_setup(config: &SpiPanelConfig) -> MipiSetup {
    MipiSetup {
        name: "st7789",
        size: (240, 240),
        orientation: Orientation::new(),
        // Nearly every ST7789 module is wired for inverted colours.
        invert: config.invert_colors.unwrap_or(true),
        order: ColorOrder::Rgb,
    }
}

fn ili9341_setup(config: &SpiPanelConfig) -> MipiSetup {
    MipiSetup {
        name: "ili9341",
        size: (240, 320),
        // Landscape: the 240×320 panel turned a quarter, 320 wide.
        orientation: Orientation::new().rotate(Rotation::Deg90),
        invert: config.invert_colors.unwrap_or(false),
        // ILI9341 modules are wired BGR.
        order: ColorOrder::Bgr,
    }
}

struct MipiSetup {
    name: &'static str,
    /// Native (portrait) size given to mipidsi.
    size: (u16, u16),
    orientation: Orientation,
    invert: bool,
    order: ColorOrder,
}

/// A mipidsi builder configured for `setup` (no reset pin yet).
fn mipi_builder<M, DI>(model: M, di: DI, setup: &MipiSetup) -> mipidsi::Builder<DI, M, NoResetPin>
where
    M: Model<ColorFormat = embedded_graphics::pixelcolor::Rgb565>,
    DI: mipidsi::interface::Interface<Word = u8>,
{
    let inversion = if setup.invert {
        ColorInversion::Inverted
    } else {
        ColorInversion::Normal
    };
    mipidsi::Builder::new(model, di)
        .display_size(setup.size.0, setup.size.1)
        .orientation(setup.orientation)
        .invert_colors(inversion)
        .color_order(setup.order)
}

fn open_mipi<M>(
    config: &SpiPanelConfig,
    model: M,
    setup: MipiSetup,
) -> Result<Box<dyn Display + Send>, DisplayError>
where
    M: Model<ColorFormat = embedded_graphics::pixelcolor::Rgb565> + Send + 'static,
{
    let Wiring {
        spi,
        dc,
        reset,
        backlight,
    } = wire(config, u32::MAX)?;
    let device = format!("{} on {}", setup.name, config.spi_device.display());
    let init_err = |e: &dyn std::fmt::Debug| DisplayError::Open {
        device: device.clone(),
        detail: format!("panel init failed: {e:?}"),
    };
    let builder = mipi_builder(model, SpiInterface::new(spi, dc), &setup);
    let mut delay = Delay;
    let language = config.language;
    match reset {
        Some(rst) => {
            let display = builder
                .reset_pin(rst)
                .init(&mut delay)
                .map_err(|e| init_err(&e))?;
            Ok(Box::new(Wired {
                display: PanelDisplay::new(MipiPanel::new(display), device.clone(), language),
                _backlight: backlight,
            }))
        }
        None => {
            let display = builder.init(&mut delay).map_err(|e| init_err(&e))?;
            Ok(Box::new(Wired {
                display: PanelDisplay::new(MipiPanel::new(display), device.clone(), language),
                _backlight: backlight,
            }))
        }
    }
}

/// Opens an SSD1306 128×64 OLED.
pub fn open_ssd1306(config: &SpiPanelConfig) -> Result<Box<dyn Display + Send>, DisplayError> {
    let Wiring {
        spi,
        dc,
        reset,
        backlight,
    } = wire(config, SSD1306_MAX_HZ)?;
    let device = format!("ssd1306 on {}", config.spi_device.display());
    let init_err = |e: &dyn std::fmt::Debug| DisplayError::Open {
        device: device.clone(),
        detail: format!("panel init failed: {e:?}"),
    };
    let mut oled = Ssd1306::new(
        SPIInterface::new(spi, dc),
        DisplaySize128x64,
        DisplayRotation::Rotate0,
    )
    .into_buffered_graphics_mode();
    if let Some(mut rst) = reset {
        oled.reset(&mut rst, &mut Delay).map_err(|e| init_err(&e))?;
    }
    oled.init().map_err(|e| init_err(&e))?;
    Ok(Box::new(Wired {
        display: PanelDisplay::new(Ssd1306Panel::new(oled), device.clone(), config.language),
        _backlight: backlight,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display::Language;

    fn config(spi: &str) -> SpiPanelConfig {
        SpiPanelConfig {
            spi_device: spi.into(),
            gpio_chip: "no-such-chip-label".into(),
            dc_pin: 25,
            reset_pin: Some(27),
            backlight_pin: None,
            spi_hz: 1_000_000,
            invert_colors: None,
            language: Language::En,
        }
    }

    #[test]
    fn missing_spi_device_is_named() {
        let err = open_st7789(&config("/nonexistent/spidev9.9"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("/nonexistent/spidev9.9"), "{err}");
        let err = open_ssd1306(&config("/nonexistent/spidev9.9"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("SPI device /nonexistent/spidev9.9"), "{err}");
        // What to do: a missing spidev almost always means SPI is not enabled.
        assert!(err.contains("dtparam=spi=on"), "{err}");
    }

    #[test]
    fn an_ssd1306_is_clocked_within_its_datasheet_limit() {
        // The daemon asks every panel for 32 MHz; the SSD1306 takes at most 10 MHz.
        let fast = SpiPanelConfig {
            spi_hz: 32_000_000,
            ..config("/dev/spidev0.0")
        };
        assert_eq!(clock_hz(&fast, SSD1306_MAX_HZ), 10_000_000);
        assert_eq!(clock_hz(&fast, u32::MAX), 32_000_000);
        let slow = SpiPanelConfig {
            spi_hz: 4_000_000,
            ..config("/dev/spidev0.0")
        };
        assert_eq!(clock_hz(&slow, SSD1306_MAX_HZ), 4_000_000);
    }

    #[test]
    fn open_failures_say_what_to_do_for_the_usual_causes() {
        use std::io::{Error, ErrorKind};
        let spi = |kind| spi_hint(&Error::from(kind));
        assert!(spi(ErrorKind::NotFound).contains("dtparam=spi=on"));
        assert!(spi(ErrorKind::PermissionDenied).contains("spi group"));
        // Linux errno values: EBUSY, EACCES, EINVAL; and gpio-cdev's own ioctl wording.
        let gpio = |errno| gpio_hint(&Error::from_raw_os_error(errno).to_string());
        assert!(gpio(16).contains("already holds"), "{}", gpio(16));
        assert!(gpio(13).contains("gpio group"), "{}", gpio(13));
        assert!(gpio(22).contains("gpioinfo"), "{}", gpio(22));
        let ioctl = "Ioctl to get line handle failed: EBUSY: Device or resource busy";
        assert!(gpio_hint(ioctl).contains("already holds"));
        let chip = find_gpio_chip("/nonexistent/gpiochip9")
            .err()
            .unwrap()
            .to_string();
        assert!(chip.contains("gpiodetect"), "{chip}");
    }

    /// An SPI bus and DC line that accept everything: for checking geometry, not traffic.
    struct Sink;

    impl embedded_hal::spi::ErrorType for Sink {
        type Error = std::convert::Infallible;
    }

    impl embedded_hal::spi::SpiDevice for Sink {
        fn transaction(
            &mut self,
            _: &mut [embedded_hal::spi::Operation<'_, u8>],
        ) -> Result<(), Self::Error> {
            Ok(())
        }
    }

    impl embedded_hal::digital::ErrorType for Sink {
        type Error = std::convert::Infallible;
    }

    impl embedded_hal::digital::OutputPin for Sink {
        fn set_low(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
        fn set_high(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }

    #[test]
    fn panels_have_the_layout_sizes() {
        use crate::display::panel::Panel;
        use embedded_graphics::prelude::Size;
        use embedded_hal_mock::eh1::delay::NoopDelay;

        let c = config("/dev/spidev0.0");
        let di = SpiInterface::new(Sink, Sink);
        let ili = mipi_builder(ILI9341Rgb565, di, &ili9341_setup(&c))
            .init(&mut NoopDelay)
            .unwrap();
        assert_eq!(MipiPanel::new(ili).size(), Size::new(320, 240));
        let di = SpiInterface::new(Sink, Sink);
        let st = mipi_builder(ST7789, di, &st7789_setup(&c))
            .init(&mut NoopDelay)
            .unwrap();
        assert_eq!(MipiPanel::new(st).size(), Size::new(240, 240));
        assert!(st7789_setup(&c).invert && !ili9341_setup(&c).invert);
    }

    #[test]
    fn unknown_gpio_label_lists_what_exists() {
        let err = find_gpio_chip("no-such-chip-label")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("\"no-such-chip-label\""), "{err}");
        assert!(err.contains("set gpio_chip"), "{err}");
    }
}
