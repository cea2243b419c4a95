//! Finds a USB receipt printer by vendor and product id through sysfs.
//!
//! Aufruf does not use libusb (`rusb`), which needs `libusb-1.0-0-dev` to
//! build and detaches the kernel driver. Instead it writes to the character
//! device of the Linux `usblp` driver (`/dev/usb/lpN`), which every Debian
//! kernel binds to USB printer-class devices: the device is found by reading
//! `idVendor`/`idProduct` under `/sys/bus/usb/devices` and following its
//! interface's `usbmisc/lpN` entry. No system library is needed.

use std::fs;
use std::path::{Path, PathBuf};

/// Where the kernel lists USB devices.
pub(crate) const SYSFS_USB_DEVICES: &str = "/sys/bus/usb/devices";

/// Where `usblp` device nodes live.
pub(crate) const DEV_USB: &str = "/dev/usb";

/// Why no printer device was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsbLookupError {
    /// No device with these ids is connected.
    #[error("no USB device {vendor_id:04x}:{product_id:04x} is connected (see `lsusb`)")]
    NotConnected {
        /// Vendor id looked for.
        vendor_id: u16,
        /// Product id looked for.
        product_id: u16,
    },
    /// The device is there but the kernel's printer driver has not bound it.
    #[error(
        "USB device {vendor_id:04x}:{product_id:04x} is connected but has no printer \
         device node; is the `usblp` kernel module loaded?"
    )]
    NoPrinterInterface {
        /// Vendor id looked for.
        vendor_id: u16,
        /// Product id looked for.
        product_id: u16,
    },
}

/// Locates `/dev/usb/lpN` of the printer with these ids; `sysfs` and `dev`
/// are parameters so tests can lay out a fake tree.
pub(crate) fn find_printer_device(
    sysfs: &Path,
    dev: &Path,
    vendor_id: u16,
    product_id: u16,
) -> Result<PathBuf, UsbLookupError> {
    let mut found_device = false;
    for device in entries(sysfs) {
        if read_hex(&device.join("idVendor")) != Some(vendor_id)
            || read_hex(&device.join("idProduct")) != Some(product_id)
        {
            continue;
        }
        found_device = true;
        // Interfaces are subfolders named like "1-1:1.0".
        for interface in entries(&device).filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains(':'))
        }) {
            for class_dir in ["usbmisc", "usb"] {
                if let Some(lp) = entries(&interface.join(class_dir)).find(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("lp"))
                }) && let Some(name) = lp.file_name()
                {
                    return Ok(dev.join(name));
                }
            }
        }
    }
    Err(if found_device {
        UsbLookupError::NoPrinterInterface {
            vendor_id,
            product_id,
        }
    } else {
        UsbLookupError::NotConnected {
            vendor_id,
            product_id,
        }
    })
}

fn entries(dir: &Path) -> impl Iterator<Item = PathBuf> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok().map(|e| e.path()))
}

fn read_hex(path: &Path) -> Option<u16> {
    let text = fs::read_to_string(path).ok()?;
    u16::from_str_radix(text.trim(), 16).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic
mod tests {
    use super::*;

    fn fake_tree(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("aufruf-usb-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let mouse = root.join("1-2");
        fs::create_dir_all(mouse.join("1-2:1.0")).unwrap();
        fs::write(mouse.join("idVendor"), "046d\n").unwrap();
        fs::write(mouse.join("idProduct"), "c077\n").unwrap();
        let printer = root.join("1-1");
        fs::create_dir_all(printer.join("1-1:1.0/usbmisc/lp0")).unwrap();
        fs::write(printer.join("idVendor"), "04b8\n").unwrap();
        fs::write(printer.join("idProduct"), "0202\n").unwrap();
        root
    }

    #[test]
    fn printer_is_found_by_vendor_and_product_id() {
        let root = fake_tree("found");
        assert_eq!(
            find_printer_device(&root, Path::new("/dev/usb"), 0x04b8, 0x0202),
            Ok(PathBuf::from("/dev/usb/lp0"))
        );
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn device_without_printer_interface_is_named() {
        let root = fake_tree("nolp");
        assert_eq!(
            find_printer_device(&root, Path::new("/dev/usb"), 0x046d, 0xc077),
            Err(UsbLookupError::NoPrinterInterface {
                vendor_id: 0x046d,
                product_id: 0xc077
            })
        );
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn unknown_device_is_not_connected() {
        let root = fake_tree("unknown");
        let error = find_printer_device(&root, Path::new("/dev/usb"), 0x1234, 0x5678).unwrap_err();
        assert_eq!(
            error.to_string(),
            "no USB device 1234:5678 is connected (see `lsusb`)"
        );
        fs::remove_dir_all(root).unwrap();
    }
}
