//! Booking: the department's rules and free start times, booking a start time (the
//! store keeps capacity; the office is told through its door), the confirmation
//! mail with its `.ics`, cancelling.

use aufruf_model::config::{Department, Service};
use aufruf_model::{Appointment, BookingCode, ServiceId, Timestamp};
use chrono::{NaiveDate, NaiveTime};

use crate::i18n::Lang;
use crate::mail::{Mail, MailAttachment, ics};
use crate::slots::{self, Rules, SlotError, Start};
use crate::store::{BookError, Booking, SlotRequest};
use crate::{Portal, PortalError};

/// Why a booking was refused (the citizen can do something about each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Slot(SlotError),
    Taken,
    TooManyOpen,
    NotVerified,
    /// The booking to move is cancelled or past.
    NotOpen,
}

impl Refusal {
    pub fn text(self, lang: Lang) -> &'static str {
        match self {
            Refusal::Slot(SlotError::Unknown) => lang.pick("Diese Dienstleistung gibt es nicht.", "There is no such service."),
            Refusal::Slot(SlotError::TooSoon) => lang.pick(
                "Termine können nur mit Vorlauf gebucht werden. Wählen Sie eine spätere Zeit.",
                "Appointments must be booked in advance. Choose a later time.",
            ),
            Refusal::Slot(SlotError::TooFar) => lang.pick(
                "So weit im Voraus können Sie noch nicht buchen.",
                "You cannot book that far ahead yet.",
            ),
            Refusal::Slot(SlotError::NotAStart) => lang.pick(
                "Zu dieser Zeit gibt es keinen Termin. Wählen Sie eine angebotene Zeit.",
                "There is no appointment at that time. Choose one of the times offered.",
            ),
            Refusal::Taken => lang.pick(
                "Dieser Termin ist inzwischen vergeben. Wählen Sie eine andere Zeit.",
                "This appointment has just been taken. Choose another time.",
            ),
            Refusal::TooManyOpen => lang.pick(
                "Sie haben schon so viele offene Termine, wie möglich sind. Sagen Sie einen ab, um einen neuen zu buchen.",
                "You hold as many open appointments as allowed. Cancel one to book another.",
            ),
            Refusal::NotOpen => lang.pick(
                "Dieser Termin ist abgesagt oder vorbei und lässt sich nicht mehr verschieben.",
                "This appointment is cancelled or past and can no longer be moved.",
            ),
            Refusal::NotVerified => lang.pick(
                "Bitte bestätigen Sie zuerst Ihre E-Mail-Adresse über den Link in unserer E-Mail.",
                "Please confirm your e-mail address first, with the link in our e-mail.",
            ),
        }
    }
}

/// A start time with room left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreeStart {
    pub start: Start,
    pub left: u32,
}

/// The services of one appointment, all of one department: the first is the one
/// whose desk calls the citizen; the others are dealt with in the same appointment,
/// which lasts their expected minutes added up.
#[derive(Debug, Clone, PartialEq)]
pub struct Visit {
    pub department: Department,
    pub first: Service,
    /// At most [`Appointment::MAX_ALSO`], each once, none the first again.
    pub also: Vec<Service>,
}

impl Visit {
    pub fn services(&self) -> impl Iterator<Item = &Service> {
        std::iter::once(&self.first).chain(&self.also)
    }

    pub fn ids(&self) -> Vec<ServiceId> {
        self.services().map(|s| s.id.clone()).collect()
    }

    /// The further services' ids as the booking keeps them.
    pub fn also_ids(&self) -> Vec<String> {
        self.also.iter().map(|s| s.id.to_string()).collect()
    }

    /// How long the appointment is expected to last.
    pub fn minutes(&self) -> u32 {
        self.services().map(|s| s.expected_minutes.max(1)).sum()
    }

    /// The services' names in `lang`, as a list ("Reisepass, Personalausweis").
    pub fn name(&self, lang: Lang) -> String {
        let names: Vec<&str> = self
            .services()
            .map(|s| match lang {
                Lang::De => s.name.de.as_str(),
                Lang::En => s.name.en.as_str(),
            })
            .collect();
        names.join(", ")
    }
}

/// What the office is told of a booking.
pub(crate) fn appointment(booking: &Booking) -> Appointment {
    Appointment {
        cancelled: booking.cancelled,
        code: BookingCode::new(booking.code.clone()),
        service: ServiceId::new(booking.service.clone()),
        due: Timestamp::from_millis(booking.due_ms),
        also: booking.also.iter().cloned().map(ServiceId::new).collect(),
    }
}

/// A booking the store did not take, as the citizen's answer.
fn refused<T>(error: BookError) -> Result<Result<T, Refusal>, PortalError> {
    match error {
        BookError::SlotFull => Ok(Err(Refusal::Taken)),
        BookError::TooManyOpen => Ok(Err(Refusal::TooManyOpen)),
        BookError::NotOpen => Ok(Err(Refusal::NotOpen)),
        BookError::Store(e) => Err(e.into()),
    }
}

/// The booking code as a QR code (PNG, 8 pixels a module), for the kiosk's scanner.
pub fn qr_png(code: &str) -> Option<Vec<u8>> {
    let image = aufruf_hardware::QrImage::encode(code).ok()?;
    image.to_grey(8).ok()?.to_png_bilevel().ok()
}

impl Portal {
    /// The department's rules.
    pub fn rules(&self, department: &Department) -> Rules {
        Rules::of(
            &self.config(),
            department,
            self.settings.departments.get(department.id.as_str()),
        )
    }

    /// A service and its department, if both are configured.
    pub fn service(&self, id: &str) -> Option<(Department, Service)> {
        let config = self.config();
        let service = config.service(&ServiceId::new(id))?.clone();
        let department = config.department(&service.department)?.clone();
        Some((department, service))
    }

    /// One appointment for `first` and the further services `also`: `None` unless
    /// every one is configured, all are of one department, none comes twice, and
    /// there are at most [`Appointment::MAX_ALSO`] further ones.
    pub fn visit(&self, first: &str, also: &[&str]) -> Option<Visit> {
        if also.len() > Appointment::MAX_ALSO {
            return None;
        }
        let (department, first) = self.service(first)?;
        let mut visit = Visit {
            department,
            first,
            also: Vec::with_capacity(also.len()),
        };
        for id in also {
            let (department, service) = self.service(id)?;
            if department.id != visit.department.id || visit.services().any(|s| s.id == service.id)
            {
                return None;
            }
            visit.also.push(service);
        }
        Some(visit)
    }

    /// The appointment a booking holds, if the office still has all its services.
    pub fn visit_of(&self, booking: &Booking) -> Option<Visit> {
        let also: Vec<&str> = booking.also.iter().map(String::as_str).collect();
        self.visit(&booking.service, &also)
    }

    /// Days with some start time far enough ahead (taken ones not counted).
    pub fn days(&self, visit: &Visit) -> Vec<NaiveDate> {
        slots::days(
            &self.config(),
            &self.rules(&visit.department),
            &visit.ids(),
            self.now(),
        )
    }

    /// The start times of a day that a citizen may book: those with room, less the
    /// earliest places owed to the citizens on the day's waitlists (see
    /// [`crate::waitlist`]), who are offered them first.
    pub fn free_starts(&self, visit: &Visit, date: NaiveDate) -> Result<Vec<FreeStart>, SlotError> {
        let mut owed = self.waiting_in(&visit.department, date);
        let mut free = self.all_free_starts(visit, date)?;
        for place in &mut free {
            let kept = place.left.min(owed);
            place.left -= kept;
            owed -= kept;
        }
        free.retain(|place| place.left > 0);
        Ok(free)
    }

    /// How many citizens wait for a place of `department` on `date` (for any of its
    /// services).
    fn waiting_in(&self, department: &Department, date: NaiveDate) -> u32 {
        let config = self.config();
        let waiting: usize = config
            .services
            .iter()
            .filter(|s| s.department == department.id)
            .map(|s| {
                self.store
                    .waiting(s.id.as_str(), date)
                    .map_or(0, |w| w.len())
            })
            .sum();
        u32::try_from(waiting).unwrap_or(u32::MAX)
    }

    /// The start times of a day that have room, waitlists or not.
    pub(crate) fn all_free_starts(
        &self,
        visit: &Visit,
        date: NaiveDate,
    ) -> Result<Vec<FreeStart>, SlotError> {
        let department = &visit.department;
        let rules = self.rules(department);
        let now_ms = self.now_ms();
        let starts = slots::starts(&self.config(), &rules, &visit.ids(), date, self.now())?;
        Ok(starts
            .into_iter()
            .filter_map(|start| {
                let taken = self
                    .store
                    .taken(department.id.as_str(), date, start.time, now_ms);
                let taken = u32::try_from(taken).unwrap_or(u32::MAX);
                let left = rules.per_slot.saturating_sub(taken);
                (left > 0).then_some(FreeStart { start, left })
            })
            .collect())
    }

    /// Whether `time` on `date` may be booked now: not when its places are all taken
    /// or owed to those waiting. (The store checks the capacity again as it books.)
    fn bookable_now(&self, visit: &Visit, date: NaiveDate, time: NaiveTime) -> bool {
        // Nobody waits (the common case): nothing is owed, and the store checks the
        // room as it books, without counting every start time of the day.
        if self.waiting_in(&visit.department, date) == 0 {
            return true;
        }
        self.free_starts(visit, date)
            .is_ok_and(|free| free.iter().any(|f| f.start.time == time))
    }

    /// The names of a booking's services in `lang`, as a list; an id stands for a
    /// service the office no longer has.
    pub(crate) fn services_name(&self, booking: &Booking, lang: Lang) -> String {
        let names: Vec<String> = std::iter::once(&booking.service)
            .chain(&booking.also)
            .map(|id| self.service_name(id, lang))
            .collect();
        names.join(", ")
    }

    /// A service's name in `lang`; its id when the office no longer has it.
    pub(crate) fn service_name(&self, id: &str, lang: Lang) -> String {
        match self.service(id) {
            Some((_, service)) => match lang {
                Lang::De => service.name.de.clone(),
                Lang::En => service.name.en.clone(),
            },
            None => id.to_owned(),
        }
    }

    /// What booking `visit` at `date` `time` asks of the store, when the rules allow
    /// it for this account.
    fn slot_request(
        &self,
        account: &crate::store::Account,
        visit: &Visit,
        date: NaiveDate,
        time: NaiveTime,
        lang: Lang,
    ) -> Result<SlotRequest, Refusal> {
        if !account.verified {
            return Err(Refusal::NotVerified);
        }
        let rules = self.rules(&visit.department);
        let due = slots::check(&self.config(), &rules, &visit.ids(), date, time, self.now())
            .map_err(Refusal::Slot)?;
        Ok(SlotRequest {
            account: account.id.clone(),
            department: visit.department.id.to_string(),
            service: visit.first.id.to_string(),
            also: visit.also_ids(),
            date,
            time,
            due_ms: due.as_millis(),
            capacity: rules.per_slot,
            open_limit: self.settings.open_bookings_per_account,
            lang,
        })
    }

    /// Books a start time for a verified account, tells the office, and mails the
    /// confirmation with its `.ics` — all durable before it returns.
    pub fn book(
        &self,
        account: &crate::store::Account,
        visit: &Visit,
        date: NaiveDate,
        time: NaiveTime,
        lang: Lang,
    ) -> Result<Result<Booking, Refusal>, PortalError> {
        let request = match self.slot_request(account, visit, date, time, lang) {
            Ok(r) => r,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if !self.bookable_now(visit, date, time) {
            return Ok(Err(Refusal::Taken));
        }
        let booking = match self.store.book(&request, self.now_ms()) {
            Ok(b) => b,
            Err(e) => return refused(e),
        };
        if let Err(e) = self.into_office(date, appointment(&booking)) {
            // Not in the office: the slot goes back, and the citizen is told it failed.
            self.store.unbook(&booking.code)?;
            return Err(PortalError::Office(e));
        }
        self.confirmation(account, &booking, visit, lang, None)?;
        Ok(Ok(booking))
    }

    /// Moves an open booking of the account to another start time of its services:
    /// a new booking (and code) and the old one cancelled, in one step of the store;
    /// the office hears of both, and the citizen gets the new confirmation.
    pub fn reschedule(
        &self,
        account: &crate::store::Account,
        code: &str,
        date: NaiveDate,
        time: NaiveTime,
        lang: Lang,
    ) -> Result<Result<Booking, Refusal>, PortalError> {
        let Some(old) = self
            .store
            .booking(code)?
            .filter(|b| b.account == account.id)
        else {
            return Ok(Err(Refusal::NotOpen));
        };
        let Some(visit) = self.visit_of(&old) else {
            return Ok(Err(Refusal::Slot(SlotError::Unknown)));
        };
        let request = match self.slot_request(account, &visit, date, time, lang) {
            Ok(r) => r,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if !self.bookable_now(&visit, date, time) {
            return Ok(Err(Refusal::Taken));
        }
        let now = self.now_ms();
        let release = self.cancelled_place_returns(now);
        let (new, old) = match self.store.reschedule(code, &request, now, release) {
            Ok(moved) => moved,
            Err(e) => return refused(e),
        };
        if let Err(e) = self.into_office(date, appointment(&new)) {
            self.store.undo_reschedule(&new, &old)?;
            return Err(PortalError::Office(e));
        }
        self.cancelled_in_office(&old);
        self.confirmation(account, &new, &visit, lang, Some(&old))?;
        Ok(Ok(new))
    }

    /// Sends the reminders that are due: for each open booking, once, from
    /// `reminder_hour` o'clock (office time) on the day before — not for a booking made
    /// after that moment (its confirmation is fresh). Returns how many went out.
    /// Called every few minutes by the node; a reminder is taken off only once its
    /// mail is durable, so a crash sends it again rather than never.
    pub fn send_reminders(&self) -> Result<usize, PortalError> {
        if !self.settings.reminders {
            return Ok(0);
        }
        let now = self.now_ms();
        let zone = self.config().timezone();
        let at = NaiveTime::from_hms_opt(u32::from(self.settings.reminder_hour), 0, 0);
        // The moment is on the day before: within two days of the start.
        let mut sent = 0;
        for reminder in self
            .store
            .reminders(now.saturating_add(2 * 24 * 3_600_000))?
        {
            let booking = self
                .store
                .booking(&reminder.code)?
                .filter(|b| !b.cancelled && b.due_ms > now);
            let moment = booking
                .as_ref()
                .and_then(|b| slots::instant(zone, b.date.pred_opt()?, at?).map(|t| t.as_millis()));
            match (booking, moment) {
                (Some(_), Some(moment)) if now < moment => continue,
                (Some(booking), Some(moment)) if booking.booked_ms < moment => {
                    if let Some(account) = self.store.account(&booking.account)? {
                        self.reminder(&account, &booking, reminder.lang)?;
                        sent += 1;
                    }
                }
                // Cancelled, past, gone, or booked after the reminder's moment.
                _ => {}
            }
            self.store.reminder_done(&reminder)?;
        }
        Ok(sent)
    }

    /// The reminder mail of an open booking, with its cancel link.
    fn reminder(
        &self,
        account: &crate::store::Account,
        booking: &Booking,
        lang: Lang,
    ) -> Result<(), PortalError> {
        let config = self.config();
        let office = &config.office.name;
        let name = self.services_name(booking, lang);
        let date = booking.date.format("%d.%m.%Y");
        let time = booking.time.format("%H:%M");
        let code = &booking.code;
        let cancel = self.cancel_link(code);
        let text = match lang {
            Lang::De => format!(
                "Guten Tag,\n\nwir erinnern Sie an Ihren Termin:\n\n{name}\n{date}, {time} Uhr\n{office}\n\nBuchungscode: {code}\n\nBitte melden Sie sich mit diesem Code am Automaten im Foyer an (ab einer Stunde vorher).\n\nSie können nicht kommen? Bitte sagen Sie ab, damit jemand anderes den Termin bekommt: {cancel}\n"
            ),
            Lang::En => format!(
                "Hello,\n\nthis is a reminder of your appointment:\n\n{name}\n{date}, {time}\n{office}\n\nBooking code: {code}\n\nCheck in with this code at the kiosk in the foyer (from an hour before).\n\nCannot come? Please cancel, so that someone else gets the appointment: {cancel}\n"
            ),
        };
        self.mailer.send(&Mail {
            to: account.email.clone(),
            subject: match lang {
                Lang::De => format!("Erinnerung: Ihr Termin am {date} um {time} Uhr – {code}"),
                Lang::En => format!("Reminder: your appointment on {date} at {time} – {code}"),
            },
            text,
            attachments: Vec::new(),
        })?;
        Ok(())
    }

    pub(crate) fn confirmation(
        &self,
        account: &crate::store::Account,
        booking: &Booking,
        visit: &Visit,
        lang: Lang,
        moved_from: Option<&Booking>,
    ) -> Result<(), PortalError> {
        let config = self.config();
        let office = &config.office.name;
        let name = visit.name(lang);
        let date = booking.date.format("%d.%m.%Y");
        let time = booking.time.format("%H:%M");
        let code = &booking.code;
        let link = self.link(&format!("/bookings/{code}"));
        let cancel = self.cancel_link(code);
        let feedback = self.feedback_link(code);
        let booked = match (lang, moved_from) {
            (Lang::De, None) => "Ihr Termin ist gebucht.".to_owned(),
            (Lang::En, None) => "Your appointment is booked.".to_owned(),
            (Lang::De, Some(old)) => format!(
                "Ihr Termin ist verschoben. Der bisherige Termin am {} um {} Uhr ({}) ist abgesagt; hier der neue:",
                old.date.format("%d.%m.%Y"),
                old.time.format("%H:%M"),
                old.code
            ),
            (Lang::En, Some(old)) => format!(
                "Your appointment is moved. The earlier one on {} at {} ({}) is cancelled; this is the new one:",
                old.date.format("%d.%m.%Y"),
                old.time.format("%H:%M"),
                old.code
            ),
        };
        let text = match lang {
            Lang::De => format!(
                "Guten Tag,\n\n{booked}\n\n{name}\n{date}, {time} Uhr\n{office}\n\nBuchungscode: {code}\n\nBitte melden Sie sich am Termintag mit diesem Code am Automaten im Foyer an (ab einer Stunde vorher).\n\nVerschieben oder absagen in Ihrem Konto: {link}\nAbsagen ohne Anmeldung: {cancel}\n\nNach Ihrem Termin freuen wir uns über Ihre Rückmeldung (anonym): {feedback}\n"
            ),
            Lang::En => format!(
                "Hello,\n\n{booked}\n\n{name}\n{date}, {time}\n{office}\n\nBooking code: {code}\n\nOn the day, check in with this code at the kiosk in the foyer (from an hour before).\n\nMove or cancel it in your account: {link}\nCancel without logging in: {cancel}\n\nAfter your appointment, tell us how it went (anonymous): {feedback}\n"
            ),
        };
        self.mailer.send(&Mail {
            to: account.email.clone(),
            subject: match lang {
                Lang::De => format!("Ihr Termin am {date} um {time} Uhr – {code}"),
                Lang::En => format!("Your appointment on {date} at {time} – {code}"),
            },
            text,
            attachments: qr_png(code)
                .map(|png| MailAttachment {
                    file_name: format!("{code}.png"),
                    content_type: "image/png".into(),
                    body: png,
                })
                .into_iter()
                .chain([MailAttachment {
                    file_name: "termin.ics".into(),
                    content_type: "text/calendar; charset=utf-8; method=PUBLISH".into(),
                    body: ics(
                        &format!("{code}@aufruf"),
                        booking.due_ms,
                        visit.minutes(),
                        &format!("{name} ({code})"),
                        office,
                        self.now_ms(),
                    ),
                }])
                .collect(),
        })?;
        Ok(())
    }

    /// Cancels an open booking of the account; false when there is none by that code.
    pub fn cancel(&self, account: &crate::store::Account, code: &str) -> Result<bool, PortalError> {
        let now = self.now_ms();
        let release = self.cancelled_place_returns(now);
        let Some(booking) = self.store.cancel(&account.id, code, now, release)? else {
            return Ok(false);
        };
        self.cancelled_in_office(&booking);
        Ok(true)
    }

    /// The booking a mail's cancel link names, if its signature holds.
    pub fn booking_by_link(
        &self,
        code: &str,
        signature: &str,
    ) -> Result<Option<Booking>, PortalError> {
        if !self.cancel_link_holds(code, signature) {
            return Ok(None);
        }
        Ok(self.store.booking(code)?)
    }

    /// Cancels the booking a mail's cancel link names; `None` when the link does not
    /// hold or the booking is not open (cancelled before, or past).
    pub fn cancel_by_link(
        &self,
        code: &str,
        signature: &str,
    ) -> Result<Option<Booking>, PortalError> {
        let Some(booking) = self.booking_by_link(code, signature)? else {
            return Ok(None);
        };
        let now = self.now_ms();
        let release = self.cancelled_place_returns(now);
        let cancelled = self.store.cancel(&booking.account, code, now, release)?;
        if let Some(b) = &cancelled {
            self.cancelled_in_office(b);
        }
        Ok(cancelled)
    }

    /// When the place of a booking cancelled at `now_ms` is offered again.
    pub(crate) fn cancelled_place_returns(&self, now_ms: u64) -> u64 {
        let minutes = u64::from(self.settings.cancelled_place_returns_after_minutes);
        now_ms.saturating_add(minutes * 60_000)
    }

    /// Tells the office that a booking is cancelled, so the kiosk no longer checks
    /// it in and no estimate counts it. The portal's cancellation stands either way;
    /// an office that cannot take it now is logged (its day still lists the booking).
    pub(crate) fn cancelled_in_office(&self, booking: &Booking) {
        let appointment = Appointment {
            cancelled: true,
            ..appointment(booking)
        };
        if let Err(error) = self.into_office(booking.date, appointment) {
            tracing::error!(code = %booking.code, date = %booking.date, %error, "the office did not take a cancellation");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_qr_code_reads_back_as_the_booking_code() {
        let png = super::qr_png("K7M2X9PQ").unwrap();
        let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
        // 1 bit per pixel in the file; 8 to read it.
        decoder.set_transformations(png::Transformations::EXPAND);
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        let (w, h) = (info.width as usize, info.height as usize);
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1);
        assert_eq!(grids[0].decode().unwrap().1, "K7M2X9PQ");
    }
}
