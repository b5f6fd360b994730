//! Byte-stream scanners that cannot be reopened once they end: standard input (the demo,
//! testing by hand, or a code piped in), and any other `AsyncRead` given to the reader task.
//!
//! [`ByteDevice`] is also what the serial adapter reads through.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::source::{DeviceInput, DeviceOpener, ScanDevice};
use super::DeviceError;

/// Reads whatever bytes are available; end of file means the device is gone.
#[derive(Debug)]
pub struct ByteDevice<R> {
    reader: R,
}

impl<R> ByteDevice<R> {
    pub fn new(reader: R) -> ByteDevice<R> {
        ByteDevice { reader }
    }
}

impl<R: AsyncRead + Unpin + Send> ScanDevice for ByteDevice<R> {
    async fn next_input(&mut self) -> io::Result<DeviceInput> {
        // A scanner sends a code in one burst; 256 bytes holds several codes.
        let mut buf = [0u8; 256];
        // `read` is cancel-safe: nothing is lost when the task stops waiting for a timeout.
        let n = self.reader.read(&mut buf).await?;
        Ok(if n == 0 {
            DeviceInput::Closed
        } else {
            DeviceInput::Bytes(buf[..n].to_vec())
        })
    }
}

/// Opens a stream once: after it ends, the task reports it and stops.
#[derive(Debug)]
pub struct StreamOpener<R> {
    name: String,
    reader: Option<R>,
}

impl<R> StreamOpener<R> {
    pub fn new(name: &str, reader: R) -> StreamOpener<R> {
        StreamOpener {
            name: name.to_string(),
            reader: Some(reader),
        }
    }
}

/// The demo's scanner: one code per line on standard input.
pub fn stdin_opener() -> StreamOpener<tokio::io::Stdin> {
    StreamOpener::new("stdin", tokio::io::stdin())
}

impl<R: AsyncRead + Unpin + Send + 'static> DeviceOpener for StreamOpener<R> {
    type Device = ByteDevice<R>;

    fn open(&mut self) -> Result<Self::Device, DeviceError> {
        self.reader
            .take()
            .map(ByteDevice::new)
            .ok_or_else(|| DeviceError::Ended {
                device: self.source(),
            })
    }

    fn source(&self) -> String {
        self.name.clone()
    }

    fn reopens(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scanner::backoff::BackoffPolicy;
    use crate::scanner::config::ScannerConfig;
    use crate::scanner::source::run_source;
    use std::time::Duration;
    use tokio::sync::mpsc;

    #[tokio::test]
    async fn lines_typed_by_hand_become_codes_and_the_end_of_input_stops_the_reader() {
        // Typed slowly: the stdin rules have no inter-character timeout.
        let input: &[u8] = b"134523198765432101\r\n\n  2845231987654321  \n";
        let opener = StreamOpener::new("stdin", input);
        let (tx, mut rx) = mpsc::channel(16);
        let task = tokio::spawn(run_source(
            opener,
            ScannerConfig::stdin().framing,
            BackoffPolicy::default(),
            tx,
        ));
        let mut events = Vec::new();
        while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            events.push(format!("{event:?}"));
        }
        assert_eq!(
            events,
            [
                "Connected { source: \"stdin\" }",
                "Scanned(ScannedText(1345…2101))",
                "Scanned(ScannedText(2845…4321))",
                "Disconnected { source: \"stdin\", reason: Ended { device: \"stdin\" } }",
            ]
        );
        task.await.unwrap();
    }
}
