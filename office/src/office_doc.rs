//! The office document (`office`): what outlives a day. Today it keeps the statistics
//! of each retired day under `statistics:<date>` — counts and times, no personal data.
//! This module is the only writer and reader of that document.

use aufruf_model::statistics::DayStatistics;
use aufruf_sync_protocol::DocumentName;
use automerge::ReadDoc;
use automerge::transaction::Transactable;
use chrono::NaiveDate;

use crate::day_doc::DayDocError;
use crate::replicated::{Documents, OfficeError};

const STATISTICS: &str = "statistics:";

/// Keeps a day's statistics in the office document, durably.
pub fn keep_statistics(
    documents: &mut impl Documents,
    statistics: &DayStatistics,
) -> Result<(), OfficeError> {
    let key = format!("{STATISTICS}{}", statistics.date);
    let text = serde_json::to_string(statistics).map_err(DayDocError::from)?;
    documents.change_durably(&DocumentName::Office, &mut |tx| {
        tx.put(automerge::ROOT, key.as_str(), text.as_str())?;
        Ok(())
    })
}

/// The statistics kept of a day, if any.
pub fn statistics(documents: &impl Documents, date: NaiveDate) -> Option<DayStatistics> {
    let key = format!("{STATISTICS}{date}");
    documents
        .read_document(&DocumentName::Office, |doc| {
            match doc.get(automerge::ROOT, key.as_str()).ok().flatten() {
                Some((automerge::Value::Scalar(s), _)) => {
                    s.as_str().and_then(|text| serde_json::from_str(text).ok())
                }
                _ => None,
            }
        })
        .flatten()
}
