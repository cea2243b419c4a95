//! Citizens' feedback after a visit: `fb/<date>/<ms, 20 digits>/<random>` a rating
//! and an optional comment, with the day and the service — no account, no ticket, no
//! booking code — and `fm/<date>/<marker>` that a ticket or booking has given its
//! one (the marker a hash of its token or code, so the two cannot be joined again).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};
use crate::secret;

/// What a citizen thought of a visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    /// The day of the visit.
    pub date: NaiveDate,
    pub service: String,
    /// Whether the citizen came with a ticket or a booked appointment.
    pub appointment: bool,
    /// 1 (very unhappy) to 5 (very happy).
    pub rating: u8,
    /// At most [`crate::feedback::MAX_COMMENT_CHARS`] characters; may be empty.
    pub comment: String,
    pub at_ms: u64,
}

impl Store {
    /// Keeps `feedback` unless `marker` (of the ticket or booking) has given one
    /// already on its day; whether it was kept.
    pub fn give_feedback(&self, marker: &str, feedback: &Feedback) -> Result<bool, StoreError> {
        let writing = self.lock();
        let mark = format!("fm/{}/{marker}", feedback.date);
        if self.db.contains_key(&mark)? {
            return Ok(false);
        }
        let mut batch = sled::Batch::default();
        batch.insert(mark.as_bytes(), &[]);
        batch.insert(
            format!(
                "fb/{}/{:020}/{}",
                feedback.date,
                feedback.at_ms,
                secret::hex(&secret::bytes::<4>())
            )
            .as_bytes(),
            serde_json::to_vec(feedback)?,
        );
        self.commit(batch, writing)?;
        Ok(true)
    }

    /// Whether `marker` has given its feedback for `date`.
    pub fn has_feedback(&self, marker: &str, date: NaiveDate) -> Result<bool, StoreError> {
        Ok(self.db.contains_key(format!("fm/{date}/{marker}"))?)
    }

    /// The feedback of the days `from..=to`, oldest first.
    pub fn feedback_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Feedback>, StoreError> {
        let start = format!("fb/{from}/");
        // '0' follows '/': every key of `to` sorts before this one.
        let end = format!("fb/{to}0");
        self.db
            .range(start.as_bytes()..end.as_bytes())
            .values()
            .map(|v| Ok(serde_json::from_slice(&v?)?))
            .collect()
    }

    /// Adds the removal of feedback (and markers) of days before `cutoff` to `batch`.
    pub(super) fn sweep_feedback(
        &self,
        batch: &mut sled::Batch,
        cutoff: NaiveDate,
    ) -> Result<usize, StoreError> {
        let mut gone = 0;
        for prefix in ["fb/", "fm/"] {
            let end = format!("{prefix}{cutoff}");
            for key in self.db.range(prefix.as_bytes()..end.as_bytes()).keys() {
                batch.remove(key?);
                gone += 1;
            }
        }
        Ok(gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feedback(day: u32, rating: u8, at_ms: u64) -> Feedback {
        Feedback {
            date: NaiveDate::from_ymd_opt(2026, 11, day).unwrap(),
            service: "reisepass".into(),
            appointment: false,
            rating,
            comment: String::new(),
            at_ms,
        }
    }

    #[test]
    fn one_feedback_per_marker_and_day_read_back_by_days_and_swept_when_old() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(store.give_feedback("m1", &feedback(23, 5, 1)).unwrap());
        assert!(
            !store.give_feedback("m1", &feedback(23, 1, 2)).unwrap(),
            "given"
        );
        assert!(store.has_feedback("m1", feedback(23, 5, 1).date).unwrap());
        assert!(store.give_feedback("m2", &feedback(24, 3, 3)).unwrap());
        assert!(store.give_feedback("m3", &feedback(25, 4, 4)).unwrap());
        let d = |day| NaiveDate::from_ymd_opt(2026, 11, day).unwrap();
        let ratings = |from, to| -> Vec<u8> {
            store
                .feedback_between(d(from), d(to))
                .unwrap()
                .iter()
                .map(|f| f.rating)
                .collect()
        };
        assert_eq!(ratings(23, 25), [5, 3, 4]);
        assert_eq!(ratings(24, 24), [3]);
        assert_eq!(ratings(26, 30), [] as [u8; 0]);
        let mut batch = sled::Batch::default();
        assert_eq!(store.sweep_feedback(&mut batch, d(24)).unwrap(), 2);
        store.db.apply_batch(batch).unwrap();
        assert_eq!(ratings(1, 30), [3, 4]);
        assert!(!store.has_feedback("m1", d(23)).unwrap());
    }
}
