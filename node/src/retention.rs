//! Stores moved aside (`<store>.unopenable-<unix seconds>[-n]`, see
//! `aufruf_sync::store`) hold the office's personal data like the store itself: they are
//! deleted once they are older than the retention period.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Deletes the stores moved aside from `store` more than `retention` before `now`;
/// returns those deleted. Folders it cannot delete are reported and left.
pub fn remove_old_moved_aside(store: &Path, retention: Duration, now: SystemTime) -> Vec<PathBuf> {
    let (Some(parent), Some(name)) = (store.parent(), store.file_name()) else {
        return Vec::new();
    };
    let prefix = format!("{}.unopenable-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    }) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(moved_at) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|rest| rest.split('-').next())
            .and_then(|seconds| seconds.parse::<u64>().ok())
        else {
            continue;
        };
        let moved_at = UNIX_EPOCH + Duration::from_secs(moved_at);
        if now
            .duration_since(moved_at)
            .is_ok_and(|age| age > retention)
        {
            let path = entry.path();
            match std::fs::remove_dir_all(&path) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "a store moved aside is past the retention; deleted");
                    removed.push(path);
                }
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "a store moved aside past the retention cannot be deleted");
                }
            }
        }
    }
    removed.sort();
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_stores_moved_aside_copies_past_the_retention_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let day = 24 * 3600;
        let old = 1_800_000_000 - 8 * day;
        let recent = 1_800_000_000 - 6 * day;
        for name in [
            "store".to_owned(),
            format!("store.unopenable-{old}"),
            format!("store.unopenable-{old}-1"),
            format!("store.unopenable-{recent}"),
            format!("other.unopenable-{old}"),
            "store.unopenable-yesterday".to_owned(),
        ] {
            std::fs::create_dir_all(dir.path().join(name).join("db")).unwrap();
        }
        let removed = remove_old_moved_aside(&store, Duration::from_secs(7 * day), now);
        assert_eq!(
            removed,
            vec![
                dir.path().join(format!("store.unopenable-{old}")),
                dir.path().join(format!("store.unopenable-{old}-1")),
            ]
        );
        for kept in [
            "store".to_owned(),
            format!("store.unopenable-{recent}"),
            format!("other.unopenable-{old}"),
            "store.unopenable-yesterday".to_owned(),
        ] {
            assert!(dir.path().join(&kept).exists(), "{kept}");
        }
    }
}
