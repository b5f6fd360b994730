//! Draws screens on a thread of its own, so a slow SPI panel never holds up a payment.
//!
//! The loop hands over the latest screen and moves on; the thread always draws the newest
//! one (older ones still waiting are skipped) and counts the customer's wait down once a
//! second on its own. A display fault is logged, shown in the status, and the next screen
//! tries again: payments never wait for the display.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::display::{Display, DisplayError, StatusFlags};
use crate::engine::Screen;
use crate::register::{Health, SaleBoard};

/// The loop's end of the display thread.
pub struct ScreenSink {
    frames: mpsc::Sender<Frame>,
    last: Option<(Screen, StatusFlags)>,
}

struct Frame {
    screen: Screen,
    flags: StatusFlags,
}

impl ScreenSink {
    /// Shows `screen` with `flags`; a repeat of what is showing is not sent again.
    pub fn show(&mut self, screen: Screen, flags: StatusFlags) {
        if self.last.as_ref() == Some(&(screen.clone(), flags)) {
            return;
        }
        self.last = Some((screen.clone(), flags));
        // The thread ends only if the display panicked; payments go on without it.
        let _ = self.frames.send(Frame { screen, flags });
    }

    /// Redraws the current screen with new flags (e.g. the clock became synchronised).
    pub fn set_flags(&mut self, flags: StatusFlags) {
        if let Some((screen, _)) = self.last.clone() {
            self.show(screen, flags);
        }
    }
}

/// Starts the display thread. Health changes are written to `board`'s status.
pub fn spawn(mut display: Box<dyn Display + Send>, board: Arc<SaleBoard>) -> ScreenSink {
    let (frames, inbox) = mpsc::channel::<Frame>();
    let description = display.describe();
    board.update_status(|s| s.display = Health::up(description.clone()));
    thread::Builder::new()
        .name("display".into())
        .spawn(move || {
            let mut current: Option<(Frame, Instant)> = None;
            let mut healthy = true;
            loop {
                let wait = match &current {
                    Some((
                        Frame {
                            screen: Screen::WaitingCustomer { .. },
                            ..
                        },
                        _,
                    )) => Duration::from_secs(1),
                    _ => Duration::from_secs(3600),
                };
                match inbox.recv_timeout(wait) {
                    Ok(mut frame) => {
                        // Skip to the newest screen: only it matters.
                        while let Ok(newer) = inbox.try_recv() {
                            frame = newer;
                        }
                        current = Some((frame, Instant::now()));
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
                let Some((frame, since)) = &current else {
                    continue;
                };
                let screen = counted_down(&frame.screen, since.elapsed());
                match draw(display.as_mut(), &screen, frame.flags) {
                    Ok(()) if !healthy => {
                        healthy = true;
                        tracing::info!(display = %description, "display works again");
                        board.update_status(|s| s.display = Health::up(description.clone()));
                    }
                    Ok(()) => {}
                    Err(error) => {
                        if healthy {
                            tracing::error!(%error, "display failed; payments continue without it");
                        }
                        healthy = false;
                        board.update_status(|s| s.display = Health::down(error.to_string()));
                    }
                }
            }
        })
        .expect("spawning the display thread");
    ScreenSink { frames, last: None }
}

/// Draws one screen. A panic in the display code is a display fault like any other: it is
/// reported and the next screen tries again, rather than ending the thread and leaving the
/// panel showing an old sale's amount for good.
fn draw(
    display: &mut (dyn Display + Send),
    screen: &Screen,
    flags: StatusFlags,
) -> Result<(), DisplayError> {
    std::panic::catch_unwind(AssertUnwindSafe(|| display.show(screen, flags))).unwrap_or_else(
        |_| {
            Err(DisplayError::Device {
                device: display.describe(),
                detail: "the display code panicked while drawing (see the log)".into(),
            })
        },
    )
}

/// The waiting screen's countdown, `elapsed` after the engine decided it.
fn counted_down(screen: &Screen, elapsed: Duration) -> Screen {
    match screen {
        Screen::WaitingCustomer {
            amount,
            seconds_left,
        } => Screen::WaitingCustomer {
            amount: *amount,
            seconds_left: seconds_left.saturating_sub(elapsed.as_secs() as u32),
        },
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Fen;

    /// Tells the test of every screen it is asked to draw, then panics on an armed sale.
    struct PanicsOnArmed {
        asked: std::sync::mpsc::Sender<Screen>,
    }

    impl Display for PanicsOnArmed {
        fn show(&mut self, screen: &Screen, _flags: StatusFlags) -> Result<(), DisplayError> {
            let _ = self.asked.send(screen.clone());
            if let Screen::Armed { .. } = screen {
                panic!("test: the renderer cannot draw this subject");
            }
            Ok(())
        }

        fn describe(&self) -> String {
            "test display".into()
        }
    }

    #[test]
    fn a_display_that_panics_is_reported_and_the_next_screen_is_drawn() {
        // A panic once ended the display thread: the panel kept the last amount it showed
        // for good, and the status still said the display was up.
        let (board, _commands) = SaleBoard::new(Arc::new(crate::journal::MemoryJournal::new()));
        let (asked, screens) = std::sync::mpsc::channel();
        let mut sink = spawn(Box::new(PanicsOnArmed { asked }), board);
        let flags = StatusFlags::default();
        let wait = Duration::from_secs(20);
        let armed = Screen::Armed {
            amount: Fen(100),
            subject: "Tea".into(),
        };
        sink.show(armed.clone(), flags);
        assert_eq!(screens.recv_timeout(wait), Ok(armed));
        // The thread is panicking now. The next screen is drawn all the same.
        sink.show(Screen::Ready, flags);
        assert_eq!(screens.recv_timeout(wait), Ok(Screen::Ready));
    }

    #[test]
    fn a_panic_while_drawing_is_a_display_fault() {
        let (asked, _screens) = std::sync::mpsc::channel();
        let mut display: Box<dyn Display + Send> = Box::new(PanicsOnArmed { asked });
        let armed = Screen::Armed {
            amount: Fen(100),
            subject: "Tea".into(),
        };
        let error = draw(display.as_mut(), &armed, StatusFlags::default())
            .expect_err("the panic is an error");
        assert!(error.to_string().contains("panicked"), "{error}");
        assert!(error.to_string().contains("test display"), "{error}");
    }

    #[test]
    fn counts_the_wait_down_and_stops_at_zero() {
        let waiting = Screen::WaitingCustomer {
            amount: Fen(100),
            seconds_left: 60,
        };
        assert_eq!(
            counted_down(&waiting, Duration::from_millis(2_500)),
            Screen::WaitingCustomer {
                amount: Fen(100),
                seconds_left: 58
            }
        );
        assert_eq!(
            counted_down(&waiting, Duration::from_secs(90)),
            Screen::WaitingCustomer {
                amount: Fen(100),
                seconds_left: 0
            }
        );
        assert_eq!(
            counted_down(&Screen::Ready, Duration::from_secs(5)),
            Screen::Ready
        );
    }
}
