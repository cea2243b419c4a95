//! Signed updates of the appliance (image/): a bundle holds a new root file system
//! and the kernel file of each slot; `aufruf update apply` checks its signature and
//! every part's hash **before anything is written**, then writes the slot this boot
//! did not come from, and gives the new kernel file three tries (systemd-boot's boot
//! counting). Until the new slot has booted healthy (`systemd-bless-boot`), the old
//! one stays as it was, and a slot whose tries are used up falls back to it.
//!
//! The bundle (`image/build.sh` writes it, signing with `openssl`):
//!
//! ```text
//! "AUFRUF-UPDATE-1\n"                 16 bytes
//! manifest length                     u32, big-endian, at most 64 KiB
//! manifest                            JSON: version and each part's name, size, SHA-256
//! signature                           Ed25519 over the manifest, 64 bytes
//! parts                               in the manifest's order, nothing after them
//! ```

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub mod source;

/// The bundle's first bytes.
pub const MAGIC: &[u8; 16] = b"AUFRUF-UPDATE-1\n";
/// The largest manifest read.
pub const MAX_MANIFEST: u32 = 64 * 1024;
/// The largest kernel file taken (kernel, initramfs, command line).
pub const MAX_KERNEL: u64 = 256 * 1024 * 1024;
/// Where the appliance keeps the update key's public half.
pub const KEY: &str = "/usr/share/aufruf/update.pub";
/// Tries systemd-boot gives a newly written slot before it falls back.
pub const TRIES: u32 = 3;

/// An update's manifest, as signed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The version the update brings, e.g. `0.2.0`; part of the kernel file's name.
    pub version: String,
    /// `root`, `kernel-a`, `kernel-b`, each once, in the order they follow.
    pub parts: Vec<Part>,
}

/// One part of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    pub name: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
}

/// Where an update goes on the device.
#[derive(Debug, Clone)]
pub struct Targets {
    /// The EFI partition's mount point (`/efi`), with `EFI/Linux/`.
    pub efi: PathBuf,
    /// The folder whose `root-a` and `root-b` are the slots
    /// (`/dev/disk/by-partlabel`).
    pub slots: PathBuf,
    /// The kernel command line of this boot (`/proc/cmdline`), which names the slot.
    pub cmdline: PathBuf,
}

impl Default for Targets {
    fn default() -> Self {
        Targets {
            efi: PathBuf::from("/efi"),
            slots: PathBuf::from("/dev/disk/by-partlabel"),
            cmdline: PathBuf::from("/proc/cmdline"),
        }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub version: String,
    /// The slot written, `a` or `b`: the one this boot did not come from.
    pub slot: char,
    /// The kernel file that boots it, with its tries.
    pub entry: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("{0}: not an Aufruf update")]
    NotAnUpdate(PathBuf),
    #[error("the update's signature does not match this device's update key")]
    Signature,
    #[error("the update's manifest: {0}")]
    Manifest(String),
    #[error("the update's part {part} is not what its signed manifest says")]
    Tampered { part: String },
    #[error("the update's part {part} ({size} bytes) does not fit {target} ({room} bytes)")]
    TooLarge {
        part: String,
        size: u64,
        target: String,
        room: u64,
    },
    #[error("this boot's command line names no slot (root=PARTLABEL=root-a or root-b)")]
    UnknownSlot,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> UpdateError + '_ {
    move |source| UpdateError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The DER prefix `openssl pkey -pubout -outform DER` writes before an Ed25519 key.
const ED25519_DER_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The device's update key: the 32 bytes of an Ed25519 public key, raw or as the DER
/// file `openssl` writes (the image has `/usr/share/aufruf/update.pub`).
pub fn read_public_key(path: &Path) -> Result<Vec<u8>, UpdateError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    match bytes.len() {
        32 => Ok(bytes),
        44 if bytes[..12] == ED25519_DER_PREFIX => Ok(bytes[12..].to_vec()),
        _ => Err(UpdateError::Io {
            path: path.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not an Ed25519 public key (32 bytes, or DER from openssl)",
            ),
        }),
    }
}

/// A bundle whose signature and parts are checked: only such a bundle is written.
#[derive(Debug)]
pub struct Checked {
    path: PathBuf,
    manifest: Manifest,
    /// Where each part starts in the file, in the manifest's order.
    offsets: Vec<u64>,
}

impl Checked {
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn part(&self, name: &str) -> Option<(u64, &Part)> {
        let index = self.manifest.parts.iter().position(|p| p.name == name)?;
        Some((self.offsets[index], &self.manifest.parts[index]))
    }
}

/// Reads the bundle at `path` and checks it against the device's Ed25519 public key:
/// the signature over the manifest, the manifest, each part's SHA-256, and that
/// nothing follows the parts.
pub fn check(path: &Path, public_key: &[u8]) -> Result<Checked, UpdateError> {
    let not_an_update = || UpdateError::NotAnUpdate(path.to_owned());
    let file = File::open(path).map_err(io(path))?;
    let length = file.metadata().map_err(io(path))?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut magic = [0u8; 16];
    reader.read_exact(&mut magic).map_err(|_| not_an_update())?;
    if &magic != MAGIC {
        return Err(not_an_update());
    }
    let mut size = [0u8; 4];
    reader.read_exact(&mut size).map_err(|_| not_an_update())?;
    let manifest_size = u32::from_be_bytes(size);
    if manifest_size > MAX_MANIFEST {
        return Err(UpdateError::Manifest(format!(
            "{manifest_size} bytes, at most {MAX_MANIFEST}"
        )));
    }
    let mut manifest_bytes = vec![0u8; manifest_size as usize];
    reader
        .read_exact(&mut manifest_bytes)
        .map_err(|_| not_an_update())?;
    let mut signature = [0u8; 64];
    reader
        .read_exact(&mut signature)
        .map_err(|_| not_an_update())?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public_key)
        .verify(&manifest_bytes, &signature)
        .map_err(|_| UpdateError::Signature)?;

    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| UpdateError::Manifest(e.to_string()))?;
    validate(&manifest)?;

    let mut offset = 16 + 4 + u64::from(manifest_size) + 64;
    let mut offsets = Vec::with_capacity(manifest.parts.len());
    for part in &manifest.parts {
        offsets.push(offset);
        let digest = hash(&mut (&mut reader).take(part.size), part.size)
            .map_err(io(path))?
            .ok_or_else(|| UpdateError::Tampered {
                part: part.name.clone(),
            })?;
        if to_hex(&digest) != part.sha256 {
            return Err(UpdateError::Tampered {
                part: part.name.clone(),
            });
        }
        offset += part.size;
    }
    if offset != length {
        return Err(UpdateError::Manifest(format!(
            "the file has {length} bytes, its parts end at {offset}"
        )));
    }
    Ok(Checked {
        path: path.to_owned(),
        manifest,
        offsets,
    })
}

fn validate(manifest: &Manifest) -> Result<(), UpdateError> {
    let bad = |problem: String| Err(UpdateError::Manifest(problem));
    check_version(&manifest.version).map_err(UpdateError::Manifest)?;
    let mut names: Vec<&str> = manifest.parts.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    if names != ["kernel-a", "kernel-b", "root"] {
        return bad(format!(
            "parts {names:?}: root, kernel-a and kernel-b, each once"
        ));
    }
    for part in &manifest.parts {
        if part.sha256.len() != 64 || !part.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return bad(format!("{}: sha256 is not 64 hex digits", part.name));
        }
        if part.name.starts_with("kernel") && part.size > MAX_KERNEL {
            return Err(UpdateError::TooLarge {
                part: part.name.clone(),
                size: part.size,
                target: "a kernel file".into(),
                room: MAX_KERNEL,
            });
        }
    }
    Ok(())
}

/// A bundle of `parts` (name, bytes) for `version`, its manifest signed by `sign`
/// (Ed25519, 64 bytes): the format [`check`] reads. The build writes bundles with
/// `image/bundle.sh`; this is for tests and tools.
pub fn encode(
    version: &str,
    parts: &[(&str, &[u8])],
    sign: impl FnOnce(&[u8]) -> Vec<u8>,
) -> Vec<u8> {
    let manifest = serde_json::json!({
        "version": version,
        "parts": parts.iter().map(|(name, bytes)| serde_json::json!({
            "name": name,
            "size": bytes.len(),
            "sha256": to_hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref()),
        })).collect::<Vec<_>>(),
    })
    .to_string();
    let mut out = MAGIC.to_vec();
    // A manifest past u32 is refused by `check` as too large either way.
    out.extend_from_slice(
        &u32::try_from(manifest.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(manifest.as_bytes());
    out.extend_from_slice(&sign(manifest.as_bytes()));
    for (_, bytes) in parts {
        out.extend_from_slice(bytes);
    }
    out
}

/// A version as updates name it: 1 to 64 letters, digits, `.`, `~` or `_`, the first a
/// letter or digit (it becomes part of a file name on the EFI partition and of a URL).
pub fn check_version(version: &str) -> Result<(), String> {
    if !version.starts_with(|c: char| c.is_ascii_alphanumeric())
        || version.len() > 64
        || !version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '~' | '_'))
    {
        return Err(format!(
            "version {version:?}: 1 to 64 letters, digits, '.', '~' or '_', from a letter or digit"
        ));
    }
    Ok(())
}

/// Orders versions by their dot-separated parts, as numbers where both parts are
/// numbers, else as text; more parts is newer (`0.1.0.9` < `0.1.0.10` < `0.1.0.10.1`).
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut a, mut b) = (a.split('.'), b.split('.'));
    loop {
        let order = match (a.next(), b.next()) {
            (None, None) => return Ordering::Equal,
            (Some(_), None) => return Ordering::Greater,
            (None, Some(_)) => return Ordering::Less,
            (Some(x), Some(y)) => match (x.parse::<u64>(), y.parse::<u64>()) {
                (Ok(x), Ok(y)) => x.cmp(&y),
                _ => x.cmp(y),
            },
        };
        if order != Ordering::Equal {
            return order;
        }
    }
}

/// A kernel file on the EFI partition, by its name: `aufruf-<version>-<slot>.efi`,
/// with systemd-boot's tries while it is new (`+3`; `+1-2` after two tries; `+0-3`
/// when all were used up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub version: String,
    pub slot: char,
    /// `None` once the slot booted healthy (`systemd-bless-boot` removed the counter).
    pub tries_left: Option<u32>,
}

impl Entry {
    pub fn parse(name: &str) -> Option<Entry> {
        let stem = name.strip_prefix("aufruf-")?.strip_suffix(".efi")?;
        let (base, tries) = match stem.split_once('+') {
            Some((base, tries)) => (base, Some(tries)),
            None => (stem, None),
        };
        let (version, slot) = base.rsplit_once('-')?;
        let slot = match slot {
            "a" => 'a',
            "b" => 'b',
            _ => return None,
        };
        check_version(version).ok()?;
        let tries_left = match tries {
            None => None,
            Some(tries) => Some(tries.split('-').next()?.parse().ok()?),
        };
        Some(Entry {
            version: version.to_owned(),
            slot,
            tries_left,
        })
    }

    /// systemd-boot gave up on it: every try failed to boot healthy.
    pub fn failed(&self) -> bool {
        self.tries_left == Some(0)
    }
}

/// The kernel files in the EFI partition's `EFI/Linux`.
pub fn entries(efi: &Path) -> Result<Vec<Entry>, UpdateError> {
    let linux = efi.join("EFI").join("Linux");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&linux).map_err(io(&linux))? {
        let entry = entry.map_err(io(&linux))?;
        if let Some(parsed) = Entry::parse(&entry.file_name().to_string_lossy()) {
            found.push(parsed);
        }
    }
    Ok(found)
}

/// SHA-256 of exactly `size` bytes from `reader`; `None` when fewer came.
fn hash(reader: &mut impl Read, size: u64) -> std::io::Result<Option<[u8; 32]>> {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buffer = vec![0u8; 1 << 20];
    let mut read = 0u64;
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        context.update(&buffer[..n]);
        read += n as u64;
    }
    if read != size {
        return Ok(None);
    }
    let mut digest = [0u8; 32];
    digest.copy_from_slice(context.finish().as_ref());
    Ok(Some(digest))
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The slot this boot came from, by its command line.
pub fn booted_slot(cmdline: &str) -> Option<char> {
    cmdline
        .split_whitespace()
        .find_map(|word| match word.strip_prefix("root=PARTLABEL=root-")? {
            "a" => Some('a'),
            "b" => Some('b'),
            _ => None,
        })
}

/// Writes a checked update into the slot this boot did not come from:
/// 1. the other slot's kernel files go first, so nothing boots a half-written root;
/// 2. the root, synced and read back against its hash;
/// 3. the new kernel file, named with its tries (`aufruf-<version>-<slot>+3.efi`),
///    written beside and renamed into place.
pub fn apply(update: &Checked, targets: &Targets) -> Result<Applied, UpdateError> {
    let cmdline = std::fs::read_to_string(&targets.cmdline).map_err(io(&targets.cmdline))?;
    let slot = match booted_slot(&cmdline).ok_or(UpdateError::UnknownSlot)? {
        'a' => 'b',
        _ => 'a',
    };
    let version = &update.manifest.version;
    let linux = targets.efi.join("EFI").join("Linux");
    let root_target = targets.slots.join(format!("root-{slot}"));

    let (root_offset, root) = update
        .part("root")
        .ok_or_else(|| UpdateError::Manifest("no root".into()))?;
    let room = device_size(&root_target)?;
    if root.size > room {
        return Err(UpdateError::TooLarge {
            part: "root".into(),
            size: root.size,
            target: root_target.display().to_string(),
            room,
        });
    }

    // 1. Nothing may boot the slot while it is written.
    for entry in std::fs::read_dir(&linux).map_err(io(&linux))? {
        let entry = entry.map_err(io(&linux))?;
        if is_entry_of(&entry.file_name().to_string_lossy(), slot) {
            std::fs::remove_file(entry.path()).map_err(io(&entry.path()))?;
        }
    }
    sync_folder(&linux);

    // 2. The root, read back: what the bundle held when it was checked, and what the
    // disk kept.
    copy_part(update, root_offset, root.size, &root_target, true)?;
    read_back(&root_target, root)?;

    // 3. The kernel file with its tries.
    let (kernel_offset, kernel) = update
        .part(&format!("kernel-{slot}"))
        .ok_or_else(|| UpdateError::Manifest(format!("no kernel-{slot}")))?;
    let entry = linux.join(format!("aufruf-{version}-{slot}+{TRIES}.efi"));
    let partial = linux.join(format!("aufruf-{version}-{slot}.efi.partial"));
    copy_part(update, kernel_offset, kernel.size, &partial, false)?;
    if let Err(e) = read_back(&partial, kernel) {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, &entry).map_err(io(&entry))?;
    sync_folder(&linux);
    Ok(Applied {
        version: version.clone(),
        slot,
        entry,
    })
}

/// Checks that the first bytes of `path` are `part` as its signed manifest says.
fn read_back(path: &Path, part: &Part) -> Result<(), UpdateError> {
    let mut written = File::open(path).map_err(io(path))?;
    let digest = hash(&mut (&mut written).take(part.size), part.size).map_err(io(path))?;
    if digest.map(|d| to_hex(&d)).as_deref() != Some(part.sha256.as_str()) {
        return Err(UpdateError::Tampered {
            part: format!("{} as read back from {}", part.name, path.display()),
        });
    }
    Ok(())
}

/// A kernel file of `slot` ([`Entry`]), or one being written (`….efi.partial`).
fn is_entry_of(name: &str, slot: char) -> bool {
    Entry::parse(name.strip_suffix(".partial").unwrap_or(name)).is_some_and(|e| e.slot == slot)
}

/// The bytes a slot holds: a block device's size, or a regular file's (tests).
fn device_size(path: &Path) -> Result<u64, UpdateError> {
    let mut file = File::open(path).map_err(io(path))?;
    file.seek(SeekFrom::End(0)).map_err(io(path))
}

/// Copies a part of the bundle to `to`: into a slot in place (a partition is never
/// created or truncated), or as a new file.
fn copy_part(
    update: &Checked,
    offset: u64,
    size: u64,
    to: &Path,
    in_place: bool,
) -> Result<(), UpdateError> {
    let mut from = File::open(&update.path).map_err(io(&update.path))?;
    from.seek(SeekFrom::Start(offset))
        .map_err(io(&update.path))?;
    let mut target = OpenOptions::new()
        .write(true)
        .create(!in_place)
        .truncate(!in_place)
        .open(to)
        .map_err(io(to))?;
    let copied = std::io::copy(&mut from.take(size), &mut target).map_err(io(to))?;
    if copied != size {
        return Err(UpdateError::Tampered {
            part: format!("{} (the bundle changed while it was written)", to.display()),
        });
    }
    target.flush().map_err(io(to))?;
    target.sync_all().map_err(io(to))
}

fn sync_folder(path: &Path) {
    if let Ok(folder) = File::open(path) {
        let _ = folder.sync_all();
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A device in a folder and a signing key, for the update tests here and in
    //! `source`.
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use ring::signature::KeyPair as _;

    use super::*;

    /// A device: EFI partition with slot a's kernel file, two slots, booted from a.
    pub(crate) struct Device {
        pub(crate) dir: tempfile::TempDir,
        pub(crate) targets: Targets,
    }

    pub(crate) const SLOT: u64 = 64 * 1024;

    impl Device {
        pub(crate) fn booted_from(slot: char) -> Device {
            let dir = tempfile::tempdir().unwrap();
            let targets = Targets {
                efi: dir.path().join("efi"),
                slots: dir.path().join("slots"),
                cmdline: dir.path().join("cmdline"),
            };
            std::fs::create_dir_all(targets.efi.join("EFI/Linux")).unwrap();
            std::fs::create_dir_all(&targets.slots).unwrap();
            for s in ['a', 'b'] {
                std::fs::write(
                    targets.slots.join(format!("root-{s}")),
                    vec![s as u8; SLOT as usize],
                )
                .unwrap();
            }
            std::fs::write(targets.efi.join("EFI/Linux/aufruf-0.1.0-a.efi"), b"old a").unwrap();
            std::fs::write(
                targets.efi.join("EFI/Linux/aufruf-0.0.9-b+1-2.efi"),
                b"old b",
            )
            .unwrap();
            std::fs::write(
                &targets.cmdline,
                format!("root=PARTLABEL=root-{slot} rootfstype=squashfs ro panic=10\n"),
            )
            .unwrap();
            Device { dir, targets }
        }

        pub(crate) fn entries(&self) -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(self.targets.efi.join("EFI/Linux"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }

        pub(crate) fn slot(&self, slot: char) -> Vec<u8> {
            std::fs::read(self.targets.slots.join(format!("root-{slot}"))).unwrap()
        }
    }

    pub(crate) struct Key(ring::signature::Ed25519KeyPair);

    impl Key {
        pub(crate) fn new() -> Key {
            let rng = ring::rand::SystemRandom::new();
            let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
            Key(ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
        }

        pub(crate) fn public(&self) -> Vec<u8> {
            self.0.public_key().as_ref().to_vec()
        }

        /// A signed bundle of `parts` (name, bytes).
        pub(crate) fn bundle(&self, version: &str, parts: &[(&str, Vec<u8>)]) -> Vec<u8> {
            let parts: Vec<(&str, &[u8])> = parts.iter().map(|(n, b)| (*n, b.as_slice())).collect();
            encode(version, &parts, |manifest| {
                self.0.sign(manifest).as_ref().to_vec()
            })
        }
    }

    pub(crate) fn parts(root: u8) -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("root", vec![root; 40_000]),
            ("kernel-a", b"kernel for a".to_vec()),
            ("kernel-b", b"kernel for b".to_vec()),
        ]
    }

    pub(crate) fn write(device: &Device, bytes: &[u8]) -> PathBuf {
        let path = device.dir.path().join("update.bin");
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn an_update_goes_to_the_other_slot_with_three_tries_and_the_old_slot_stays() {
        let key = Key::new();
        let device = Device::booted_from('a');
        let path = write(&device, &key.bundle("0.2.0", &parts(0x5a)));
        let checked = check(&path, &key.public()).unwrap();
        let applied = apply(&checked, &device.targets).unwrap();
        assert_eq!(applied.slot, 'b');
        assert_eq!(
            device.entries(),
            ["aufruf-0.1.0-a.efi", "aufruf-0.2.0-b+3.efi"],
            "slot b's old file is gone, slot a's stays"
        );
        assert_eq!(std::fs::read(&applied.entry).unwrap(), b"kernel for b");
        let b = device.slot('b');
        assert_eq!(&b[..40_000], &[0x5a; 40_000][..]);
        assert_eq!(
            b.len() as u64,
            SLOT,
            "the partition is written in place, not truncated"
        );
        assert_eq!(device.slot('a'), vec![b'a'; SLOT as usize]);

        // Booted from b, the next update goes to a.
        let device = Device::booted_from('b');
        let path = write(&device, &key.bundle("0.3.0", &parts(0x33)));
        let applied = apply(&check(&path, &key.public()).unwrap(), &device.targets).unwrap();
        assert_eq!(applied.slot, 'a');
        assert_eq!(
            device.entries(),
            ["aufruf-0.0.9-b+1-2.efi", "aufruf-0.3.0-a+3.efi"]
        );
    }

    #[test]
    fn a_tampered_unsigned_or_foreign_update_is_refused_before_anything_is_written() {
        let key = Key::new();
        let device = Device::booted_from('a');
        let good = key.bundle("0.2.0", &parts(0x5a));

        let mut tampered_part = good.clone();
        let last = tampered_part.len() - 100;
        tampered_part[last] ^= 1;
        let mut tampered_manifest = good.clone();
        let at = 16 + 4 + 15;
        tampered_manifest[at] ^= 1;
        let mut unsigned = good.clone();
        let signature_at = 16 + 4 + u32::from_be_bytes(good[16..20].try_into().unwrap()) as usize;
        unsigned[signature_at..signature_at + 64].fill(0);
        let mut trailing = good.clone();
        trailing.push(0);
        let mut truncated = good.clone();
        truncated.truncate(good.len() - 1);

        type Expected = fn(&UpdateError) -> bool;
        let tampered: Expected = |e| matches!(e, UpdateError::Tampered { .. });
        let signature: Expected = |e| matches!(e, UpdateError::Signature);
        let manifest: Expected = |e| matches!(e, UpdateError::Manifest(_));
        let foreign: Expected = |e| matches!(e, UpdateError::NotAnUpdate(_));
        let cases: [(&str, Vec<u8>, Vec<u8>, Expected); 7] = [
            ("a part", tampered_part, key.public(), tampered),
            ("the manifest", tampered_manifest, key.public(), signature),
            ("no signature", unsigned, key.public(), signature),
            ("another key", good.clone(), Key::new().public(), signature),
            ("bytes after the parts", trailing, key.public(), manifest),
            ("a part cut short", truncated, key.public(), tampered),
            (
                "not an update",
                b"#!/bin/sh\nrm -rf /\n".to_vec(),
                key.public(),
                foreign,
            ),
        ];
        for (what, bytes, public, expected) in cases {
            let path = write(&device, &bytes);
            let error = check(&path, &public).expect_err(what);
            assert!(expected(&error), "{what}: {error}");
        }
        assert_eq!(
            device.slot('b'),
            vec![b'b'; SLOT as usize],
            "nothing written"
        );
        assert_eq!(
            device.entries(),
            ["aufruf-0.0.9-b+1-2.efi", "aufruf-0.1.0-a.efi"]
        );
    }

    #[test]
    fn a_bundle_changed_after_its_check_is_not_booted() {
        let key = Key::new();
        let device = Device::booted_from('a');
        let bytes = key.bundle("0.2.0", &parts(0x5a));
        let path = write(&device, &bytes);
        let checked = check(&path, &key.public()).unwrap();
        // The last part (kernel-b) changes on disk between the check and the write.
        let mut changed = bytes.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        std::fs::write(&path, &changed).unwrap();
        let error = apply(&checked, &device.targets).unwrap_err();
        assert!(matches!(error, UpdateError::Tampered { .. }), "{error}");
        assert_eq!(
            device.entries(),
            ["aufruf-0.1.0-a.efi"],
            "nothing boots slot b"
        );
    }

    #[test]
    fn a_manifest_must_name_its_parts_a_plain_version_and_sizes_that_fit() {
        let key = Key::new();
        let device = Device::booted_from('a');
        let check_bundle = |version: &str, parts: &[(&str, Vec<u8>)]| {
            check(&write(&device, &key.bundle(version, parts)), &key.public())
        };
        for version in ["", "../../etc", "..", ".1", "0.2.0 rm", &"9".repeat(65)] {
            assert!(
                matches!(
                    check_bundle(version, &parts(1)),
                    Err(UpdateError::Manifest(_))
                ),
                "{version:?}"
            );
        }
        let mut missing = parts(1);
        missing.pop();
        assert!(matches!(
            check_bundle("0.2.0", &missing),
            Err(UpdateError::Manifest(_))
        ));
        let mut twice = parts(1);
        twice.push(("root", vec![1; 10]));
        assert!(matches!(
            check_bundle("0.2.0", &twice),
            Err(UpdateError::Manifest(_))
        ));

        // A root larger than the slot is refused before the slot is touched.
        let mut large = parts(1);
        large[0].1 = vec![1; SLOT as usize + 1];
        let checked = check_bundle("0.2.0", &large).unwrap();
        let error = apply(&checked, &device.targets).unwrap_err();
        assert!(matches!(error, UpdateError::TooLarge { .. }), "{error}");
        assert_eq!(device.slot('b'), vec![b'b'; SLOT as usize]);

        // A boot that names no slot updates nothing.
        std::fs::write(&device.targets.cmdline, "root=/dev/sda2 ro\n").unwrap();
        let checked = check_bundle("0.2.0", &parts(1)).unwrap();
        assert!(matches!(
            apply(&checked, &device.targets),
            Err(UpdateError::UnknownSlot)
        ));
    }

    #[test]
    fn the_booted_slot_is_read_from_the_command_line() {
        assert_eq!(booted_slot("root=PARTLABEL=root-a ro"), Some('a'));
        assert_eq!(booted_slot("quiet root=PARTLABEL=root-b"), Some('b'));
        assert_eq!(booted_slot("root=PARTLABEL=root-c"), None);
        assert_eq!(booted_slot("root=PARTLABEL=root-ab"), None);
        assert!(is_entry_of("aufruf-0.2.0-b+3.efi", 'b'));
        assert!(is_entry_of("aufruf-0.2.0-b+0-3.efi", 'b'));
        assert!(is_entry_of("aufruf-0.2.0-b.efi.partial", 'b'));
        assert!(!is_entry_of("aufruf-0.2.0-a.efi", 'b'));
        assert!(!is_entry_of("systemd-bootx64.efi", 'b'));
    }

    #[test]
    fn kernel_file_names_give_version_slot_and_tries() {
        let entry = |version: &str, slot, tries_left| Entry {
            version: version.into(),
            slot,
            tries_left,
        };
        assert_eq!(
            Entry::parse("aufruf-0.1.0.7-a.efi"),
            Some(entry("0.1.0.7", 'a', None))
        );
        assert_eq!(
            Entry::parse("aufruf-0.2.0-b+3.efi"),
            Some(entry("0.2.0", 'b', Some(3)))
        );
        assert_eq!(
            Entry::parse("aufruf-0.2.0-b+1-2.efi"),
            Some(entry("0.2.0", 'b', Some(1)))
        );
        let used_up = Entry::parse("aufruf-0.2.0-b+0-3.efi").unwrap();
        assert!(used_up.failed());
        assert!(!Entry::parse("aufruf-0.2.0-b+1-2.efi").unwrap().failed());
        for name in [
            "aufruf-0.2.0-c.efi",
            "aufruf-0.2.0-b.efi.partial",
            "aufruf--a.efi",
            "aufruf-0.2.0-b+x.efi",
            "systemd-bootx64.efi",
        ] {
            assert_eq!(Entry::parse(name), None, "{name}");
        }
    }

    #[test]
    fn versions_compare_part_by_part_as_numbers() {
        use std::cmp::Ordering::*;
        assert_eq!(compare_versions("0.1.0.9", "0.1.0.10"), Less);
        assert_eq!(compare_versions("0.1.0.10", "0.1.0.10"), Equal);
        assert_eq!(compare_versions("0.1.0.10.1", "0.1.0.10"), Greater);
        assert_eq!(compare_versions("1.0", "0.99.99"), Greater);
        assert_eq!(compare_versions("0.2.0~rc1", "0.2.0~rc2"), Less);
    }
}
