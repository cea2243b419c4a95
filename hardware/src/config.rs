//! The `[printer]` table of `aufruf.toml`: how the kiosk reaches its receipt
//! printer, how it prints QR codes and how long it waits for the printer.
//!
//! ```toml
//! [printer]
//! kind = "network"          # or "usb", "serial", "file", "emulated"
//! host = "192.0.2.40"
//! port = 9100
//! qr = "native"             # or "raster" for printers without the QR command
//! connect_timeout_ms = 1500
//! io_timeout_ms = 2000
//! ```
//!
//! Deserialising checks the shape; [`PrinterConfig::validate`] checks the
//! values and says in a [`ConfigError`] what is wrong.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The kiosk's receipt printer as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrinterConfig {
    /// How the printer is attached.
    #[serde(flatten)]
    pub connection: Connection,
    /// How QR codes are printed.
    #[serde(default)]
    pub qr: QrMode,
    /// How long the kiosk waits for the printer.
    #[serde(flatten, default)]
    pub timeouts: Timeouts,
}

/// How the printer is attached, chosen by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Connection {
    /// Raw TCP ("JetDirect"), normally port 9100.
    Network {
        /// Host name or IP address.
        host: String,
        /// TCP port.
        #[serde(default = "default_port")]
        port: u16,
    },
    /// A USB printer, found by vendor and product id through the kernel's
    /// printer driver (see [`crate::printer`]).
    Usb {
        /// USB vendor id, e.g. `0x04b8` for Epson.
        vendor_id: u16,
        /// USB product id, e.g. `0x0202` for a TM-T88.
        product_id: u16,
    },
    /// A serial line, e.g. `/dev/ttyUSB0`.
    Serial {
        /// The serial device.
        path: PathBuf,
        /// Line speed in baud.
        #[serde(default = "default_baud")]
        baud: u32,
    },
    /// Appends every ticket's raw ESC/POS bytes to a file.
    File {
        /// The file to append to.
        path: PathBuf,
    },
    /// Draws every ticket as a PNG into a folder (demo and tests).
    Emulated {
        /// The folder for the pictures.
        dir: PathBuf,
    },
}

/// How the QR code of the ticket's status page is printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QrMode {
    /// The printer draws the code itself (`GS ( k`), Epson TM and most compatibles.
    #[default]
    Native,
    /// The kiosk draws the code and sends it as a raster image (`GS v 0`).
    Raster,
}

/// Limits on waiting for the printer, so a slow or dead printer never blocks
/// the kiosk for long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeouts {
    /// Waiting for a network connection, in milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Waiting for one read or write, in milliseconds.
    #[serde(default = "default_io_timeout_ms")]
    pub io_timeout_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect_timeout_ms: default_connect_timeout_ms(),
            io_timeout_ms: default_io_timeout_ms(),
        }
    }
}

impl Timeouts {
    /// Both limits set to the same number of milliseconds (handy in tests).
    pub fn uniform(ms: u64) -> Self {
        Timeouts {
            connect_timeout_ms: ms,
            io_timeout_ms: ms,
        }
    }

    /// Waiting for a connection.
    pub fn connect(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// Waiting for one read or write.
    pub fn io(&self) -> Duration {
        Duration::from_millis(self.io_timeout_ms)
    }
}

/// What is wrong with a printer configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `kind = "network"` without a host.
    #[error("printer: `host` is empty; give the printer's host name or IP address")]
    EmptyHost,
    /// Port 0 cannot be connected to.
    #[error("printer: `port` 0 is not a TCP port; receipt printers listen on 9100")]
    ZeroPort,
    /// USB ids of 0 are never a real device.
    #[error(
        "printer: USB id {vendor_id:#06x}:{product_id:#06x} is not a device; \
         give `vendor_id` and `product_id` as shown by `lsusb`"
    )]
    ZeroUsbId {
        /// The configured vendor id.
        vendor_id: u16,
        /// The configured product id.
        product_id: u16,
    },
    /// A path of `kind = "serial"`, `"file"` or `"emulated"` is empty.
    #[error("printer: `{field}` is empty for kind = \"{kind}\"")]
    EmptyPath {
        /// The printer kind.
        kind: &'static str,
        /// The empty field.
        field: &'static str,
    },
    /// A baud rate the line cannot run at.
    #[error("printer: baud rate {0} is not supported; use one of {SERIAL_SPEEDS:?}")]
    UnsupportedBaud(u32),
    /// A timeout of 0 would make every request fail at once.
    #[error("printer: `{0}` must be more than 0 milliseconds")]
    ZeroTimeout(&'static str),
}

/// Line speeds that `stty` accepts and ESC/POS printers use.
pub const SERIAL_SPEEDS: [u32; 7] = [4800, 9600, 19200, 38400, 57600, 115_200, 230_400];

impl PrinterConfig {
    /// A configuration with the default QR mode and timeouts.
    pub fn new(connection: Connection) -> Self {
        PrinterConfig {
            connection,
            qr: QrMode::default(),
            timeouts: Timeouts::default(),
        }
    }

    /// Checks the values and says what is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.timeouts.connect_timeout_ms == 0 {
            return Err(ConfigError::ZeroTimeout("connect_timeout_ms"));
        }
        if self.timeouts.io_timeout_ms == 0 {
            return Err(ConfigError::ZeroTimeout("io_timeout_ms"));
        }
        match &self.connection {
            Connection::Network { host, port } => {
                if host.trim().is_empty() {
                    return Err(ConfigError::EmptyHost);
                }
                if *port == 0 {
                    return Err(ConfigError::ZeroPort);
                }
            }
            Connection::Usb {
                vendor_id,
                product_id,
            } => {
                if *vendor_id == 0 || *product_id == 0 {
                    return Err(ConfigError::ZeroUsbId {
                        vendor_id: *vendor_id,
                        product_id: *product_id,
                    });
                }
            }
            Connection::Serial { path, baud } => {
                if path.as_os_str().is_empty() {
                    return Err(ConfigError::EmptyPath {
                        kind: "serial",
                        field: "path",
                    });
                }
                if !SERIAL_SPEEDS.contains(baud) {
                    return Err(ConfigError::UnsupportedBaud(*baud));
                }
            }
            Connection::File { path } => {
                if path.as_os_str().is_empty() {
                    return Err(ConfigError::EmptyPath {
                        kind: "file",
                        field: "path",
                    });
                }
            }
            Connection::Emulated { dir } => {
                if dir.as_os_str().is_empty() {
                    return Err(ConfigError::EmptyPath {
                        kind: "emulated",
                        field: "dir",
                    });
                }
            }
        }
        Ok(())
    }
}

impl Connection {
    /// Names the printer for messages: "network printer 192.0.2.40:9100".
    pub fn describe(&self) -> String {
        match self {
            Connection::Network { host, port } => format!("network printer {host}:{port}"),
            Connection::Usb {
                vendor_id,
                product_id,
            } => format!("USB printer {vendor_id:04x}:{product_id:04x}"),
            Connection::Serial { path, baud } => {
                format!("serial printer {} at {baud} baud", path.display())
            }
            Connection::File { path } => format!("file printer {}", path.display()),
            Connection::Emulated { dir } => format!("emulated printer in {}", dir.display()),
        }
    }
}

fn default_port() -> u16 {
    9100
}

fn default_baud() -> u32 {
    38400
}

fn default_connect_timeout_ms() -> u64 {
    1500
}

fn default_io_timeout_ms() -> u64 {
    2000
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PrinterConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn network_printer_reads_with_defaults() {
        let config = parse("kind = \"network\"\nhost = \"192.0.2.40\"\n").unwrap();
        assert_eq!(
            config,
            PrinterConfig::new(Connection::Network {
                host: "192.0.2.40".to_owned(),
                port: 9100
            })
        );
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn usb_printer_reads_hex_ids_and_raster_qr() {
        let config = parse(
            "kind = \"usb\"\nvendor_id = 0x04b8\nproduct_id = 0x0202\nqr = \"raster\"\nio_timeout_ms = 500\n",
        )
        .unwrap();
        assert_eq!(
            config.connection,
            Connection::Usb {
                vendor_id: 0x04b8,
                product_id: 0x0202
            }
        );
        assert_eq!(config.qr, QrMode::Raster);
        assert_eq!(config.timeouts.io_timeout_ms, 500);
        assert_eq!(config.timeouts.connect_timeout_ms, 1500);
    }

    #[test]
    fn serial_file_and_emulated_printers_read() {
        let serial = parse("kind = \"serial\"\npath = \"/dev/ttyUSB0\"\n").unwrap();
        assert_eq!(
            serial.connection,
            Connection::Serial {
                path: "/dev/ttyUSB0".into(),
                baud: 38400
            }
        );
        let file = parse("kind = \"file\"\npath = \"/tmp/tickets.bin\"\n").unwrap();
        assert!(matches!(file.connection, Connection::File { .. }));
        let emulated = parse("kind = \"emulated\"\ndir = \"/tmp/tickets\"\n").unwrap();
        assert!(matches!(emulated.connection, Connection::Emulated { .. }));
    }

    #[test]
    fn unknown_kind_is_named_in_the_error() {
        let error = parse("kind = \"bluetooth\"\n").unwrap_err().to_string();
        assert!(error.contains("unknown variant `bluetooth`"), "{error}");
    }

    #[test]
    fn missing_usb_id_is_named_in_the_error() {
        let error = parse("kind = \"usb\"\nvendor_id = 0x04b8\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("product_id"), "{error}");
    }

    #[test]
    fn invalid_values_say_what_is_wrong() {
        let empty_host = PrinterConfig::new(Connection::Network {
            host: " ".to_owned(),
            port: 9100,
        });
        assert_eq!(empty_host.validate(), Err(ConfigError::EmptyHost));

        let zero_usb = PrinterConfig::new(Connection::Usb {
            vendor_id: 0,
            product_id: 0x0202,
        });
        let error = zero_usb.validate().unwrap_err();
        assert_eq!(
            error.to_string(),
            "printer: USB id 0x0000:0x0202 is not a device; give `vendor_id` and `product_id` as shown by `lsusb`"
        );

        let odd_baud = PrinterConfig::new(Connection::Serial {
            path: "/dev/ttyS0".into(),
            baud: 12345,
        });
        assert_eq!(
            odd_baud.validate(),
            Err(ConfigError::UnsupportedBaud(12345))
        );

        let mut no_wait = PrinterConfig::new(Connection::File {
            path: "/tmp/x".into(),
        });
        no_wait.timeouts.io_timeout_ms = 0;
        assert_eq!(
            no_wait.validate(),
            Err(ConfigError::ZeroTimeout("io_timeout_ms"))
        );
    }
}
