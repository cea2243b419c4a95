//! Backup of what only the portal holds: accounts, sessions, links and bookings live
//! in the gateway's store alone (the office's documents carry only what a desk needs),
//! so a lost gateway disk would lose them. A backup is a consistent snapshot of the
//! store — taken in the writers' turn, so no booking is half in it — encrypted with
//! AES-256-GCM under the `backup_key` of the configuration; a restore brings it into
//! an empty store on a new machine.
//!
//! File: `AUFRUF-PORTAL-BACKUP-1\n`, a 12-byte nonce, then the sealed entries (each a
//! 4-byte big-endian length and the key, the same for the value), tag last.

use std::path::Path;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use crate::secret;
use crate::store::{Entry, Store, StoreError};

/// What every backup file begins with.
pub const MAGIC: &[u8] = b"AUFRUF-PORTAL-BACKUP-1\n";
const NONCE_LEN: usize = 12;

/// Why a backup could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("no backup_key in [node.portal]: backups are encrypted with it")]
    NoKey,
    #[error(
        "backup_key must be 64 hexadecimal digits (32 bytes), e.g. from `openssl rand -hex 32`"
    )]
    BadKey,
    #[error("not an Aufruf portal backup")]
    NotABackup,
    #[error("the backup does not open with this backup_key, or it was changed")]
    WrongKeyOrDamaged,
    #[error("the backup's contents are damaged")]
    Damaged,
    #[error("{0} already holds a store: restore into an empty place only")]
    NotEmpty(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The key from its 64 hex digits.
pub fn parse_key(hex: &str) -> Result<[u8; 32], BackupError> {
    let hex = hex.trim();
    if hex.len() != 64 {
        return Err(BackupError::BadKey);
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = hex
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or(BackupError::BadKey)?;
    }
    Ok(key)
}

fn cipher(key: &[u8; 32]) -> Result<LessSafeKey, BackupError> {
    let key = UnboundKey::new(&AES_256_GCM, key).map_err(|_| BackupError::BadKey)?;
    Ok(LessSafeKey::new(key))
}

/// The store's snapshot, encrypted.
pub fn seal(store: &Store, key: &[u8; 32]) -> Result<Vec<u8>, BackupError> {
    let mut plain = Vec::new();
    for (k, v) in store.snapshot()? {
        for part in [&k, &v] {
            let len = u32::try_from(part.len()).map_err(|_| BackupError::Damaged)?;
            plain.extend_from_slice(&len.to_be_bytes());
            plain.extend_from_slice(part);
        }
    }
    let nonce = secret::bytes::<NONCE_LEN>();
    cipher(key)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(MAGIC),
            &mut plain,
        )
        .map_err(|_| BackupError::Damaged)?;
    let mut out = Vec::with_capacity(MAGIC.len() + NONCE_LEN + plain.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&plain);
    Ok(out)
}

/// The entries of a backup, decrypted and checked.
pub fn open(bytes: &[u8], key: &[u8; 32]) -> Result<Vec<Entry>, BackupError> {
    let rest = bytes.strip_prefix(MAGIC).ok_or(BackupError::NotABackup)?;
    if rest.len() < NONCE_LEN {
        return Err(BackupError::NotABackup);
    }
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let nonce = <[u8; NONCE_LEN]>::try_from(nonce).map_err(|_| BackupError::NotABackup)?;
    let mut sealed = sealed.to_vec();
    let plain = cipher(key)?
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(MAGIC),
            &mut sealed,
        )
        .map_err(|_| BackupError::WrongKeyOrDamaged)?;
    let mut entries = Vec::new();
    let mut at = 0;
    let take = |at: &mut usize| -> Result<Vec<u8>, BackupError> {
        let len = plain
            .get(*at..*at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .ok_or(BackupError::Damaged)? as usize;
        let part = plain
            .get(*at + 4..*at + 4 + len)
            .ok_or(BackupError::Damaged)?
            .to_vec();
        *at += 4 + len;
        Ok(part)
    };
    while at < plain.len() {
        let k = take(&mut at)?;
        let v = take(&mut at)?;
        entries.push((k, v));
    }
    Ok(entries)
}

/// Brings a backup into a new store at `path`, which must not hold one yet.
pub fn restore(bytes: &[u8], key: &[u8; 32], path: &Path) -> Result<usize, BackupError> {
    let entries = open(bytes, key)?;
    let occupied = std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_some());
    if occupied {
        return Err(BackupError::NotEmpty(path.display().to_string()));
    }
    let store = Store::open(path)?;
    store.load(&entries)?;
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn a_backup_restores_into_an_empty_store_only_and_only_with_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a")).unwrap();
        let account = store
            .create_account("erika@example.org", "hash".into(), 0)
            .unwrap()
            .unwrap();
        let key = parse_key(KEY).unwrap();
        let bytes = seal(&store, &key).unwrap();
        assert!(bytes.starts_with(MAGIC));
        assert!(
            !bytes.windows(17).any(|w| w == b"erika@example.org"),
            "nothing readable without the key"
        );
        let restored = dir.path().join("b");
        assert!(restore(&bytes, &key, &restored).unwrap() > 0);
        let again = Store::open(&restored).unwrap();
        assert_eq!(
            again
                .account_by_email("erika@example.org")
                .unwrap()
                .unwrap()
                .id,
            account.id
        );
        drop(again);
        // Not over a store that is there, not with another key, not changed.
        assert!(matches!(
            restore(&bytes, &key, &restored),
            Err(BackupError::NotEmpty(_))
        ));
        let other = parse_key(&KEY.replace('0', "1")).unwrap();
        let fresh = dir.path().join("c");
        assert!(matches!(
            restore(&bytes, &other, &fresh),
            Err(BackupError::WrongKeyOrDamaged)
        ));
        let mut changed = bytes.clone();
        let last = changed.len() - 20;
        changed[last] ^= 1;
        assert!(matches!(
            restore(&changed, &key, &fresh),
            Err(BackupError::WrongKeyOrDamaged)
        ));
        assert!(matches!(
            restore(b"something else", &key, &fresh),
            Err(BackupError::NotABackup)
        ));
        for bad in ["", "00", &KEY[..63], &KEY.replace('0', "g")] {
            assert!(matches!(parse_key(bad), Err(BackupError::BadKey)), "{bad}");
        }
    }
}
