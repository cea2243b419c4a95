//! Bookings and cancellations into the office, grouped: each one waits for its turn
//! at the office's door, and the writer whose turn it is takes everything that queued
//! up meanwhile into one durable change per day (one signature, one flush). Alone, a
//! booking goes in by itself at once; under load, a turn carries as many as arrived
//! while the previous one was being written.

use std::sync::{Arc, Mutex, mpsc};

use aufruf_model::Appointment;
use chrono::NaiveDate;

use crate::OfficeDoor;

type Reply = mpsc::Sender<Result<(), String>>;

#[derive(Debug, Default)]
pub struct DoorQueue {
    pending: Mutex<Vec<(NaiveDate, Appointment, Reply)>>,
    /// Whose turn it is to write.
    turn: Mutex<()>,
}

impl DoorQueue {
    /// Feeds `appointment` (a booking, or with `cancelled` its cancellation) into its
    /// day through `door`, durably, grouped with those that arrive meanwhile. Blocks
    /// until it is written (call it off the async runtime).
    pub fn send(
        &self,
        door: &Arc<dyn OfficeDoor>,
        date: NaiveDate,
        appointment: Appointment,
    ) -> Result<(), String> {
        let (reply, answer) = mpsc::channel();
        lock(&self.pending).push((date, appointment, reply));
        {
            let _turn = lock(&self.turn);
            // Ours is still here, or an earlier turn wrote it and answered before
            // giving up the turn.
            let mut queued = std::mem::take(&mut *lock(&self.pending));
            queued.sort_by_key(|(d, _, _)| *d);
            for group in queued.chunk_by(|a, b| a.0 == b.0) {
                let appointments: Vec<Appointment> =
                    group.iter().map(|(_, a, _)| a.clone()).collect();
                let written = door.book_all(group[0].0, &appointments);
                for (_, _, reply) in group {
                    // A waiter that is gone (its thread ended) needs no answer.
                    let _ = reply.send(written.clone());
                }
            }
        }
        answer
            .recv()
            .unwrap_or_else(|_| Err("the office's door closed".into()))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while a turn wrote leaves at worst unanswered waiters (their channel
    // closes, and they report it); the queue itself stays usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use aufruf_model::{BookingCode, OfficeConfig, ServiceId, Timestamp};

    use super::*;

    /// A door that records each write, and refuses one day.
    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<(NaiveDate, Vec<String>)>>);

    impl OfficeDoor for Recorder {
        fn config(&self) -> Arc<OfficeConfig> {
            unreachable!("not asked")
        }
        fn book(&self, _: NaiveDate, _: Appointment) -> Result<(), String> {
            unreachable!("written in groups")
        }
        fn cancel(&self, _: NaiveDate, _: Appointment) -> Result<(), String> {
            unreachable!("written in groups")
        }
        fn book_all(&self, date: NaiveDate, appointments: &[Appointment]) -> Result<(), String> {
            let codes = appointments.iter().map(|a| a.code.to_string()).collect();
            self.0.lock().unwrap().push((date, codes));
            if date.day0() == 0 {
                return Err("the first of the month is refused".into());
            }
            Ok(())
        }
    }

    use chrono::Datelike as _;

    fn appointment(code: &str) -> Appointment {
        Appointment {
            cancelled: false,
            code: BookingCode::new(code.to_owned()),
            service: ServiceId::new("reisepass"),
            due: Timestamp::from_millis(0),
            also: Vec::new(),
        }
    }

    #[test]
    fn what_queues_up_during_a_write_goes_in_as_one_change_per_day() {
        let recorder = Arc::new(Recorder::default());
        let door: Arc<dyn OfficeDoor> = recorder.clone();
        let queue = Arc::new(DoorQueue::default());
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        // A write in progress: four bookings for two days queue up behind it.
        let turn = queue.turn.lock().unwrap();
        let senders: Vec<_> = [("AAAA", 2), ("BBBB", 2), ("CCCC", 1), ("DDDD", 2)]
            .into_iter()
            .map(|(code, d)| {
                let (queue, door) = (queue.clone(), door.clone());
                std::thread::spawn(move || queue.send(&door, day(d), appointment(code)))
            })
            .collect();
        while queue.pending.lock().unwrap().len() < 4 {
            std::thread::yield_now();
        }
        drop(turn);
        let answers: Vec<_> = senders.into_iter().map(|s| s.join().unwrap()).collect();
        let writes = recorder.0.lock().unwrap().clone();
        assert_eq!(writes.len(), 2, "one change per day: {writes:?}");
        assert_eq!(writes[0].0, day(1));
        assert_eq!(writes[0].1, vec!["CCCC"]);
        let mut second = writes[1].1.clone();
        second.sort();
        assert_eq!(
            (writes[1].0, second),
            (day(2), vec!["AAAA".into(), "BBBB".into(), "DDDD".into()])
        );
        // Each hears how its own day's write went.
        assert_eq!(answers[0], Ok(()));
        assert!(answers[2].is_err());
        assert_eq!(answers[3], Ok(()));
        // Alone, a booking goes in by itself.
        assert_eq!(queue.send(&door, day(3), appointment("EEEE")), Ok(()));
        assert_eq!(recorder.0.lock().unwrap().len(), 3);
    }
}
