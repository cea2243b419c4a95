//! Waitlists: a citizen who finds a day of a service fully booked waits for it; when a
//! place of that day frees up (a cancellation's cool-down is over), the first in line
//! is offered the earliest free start time by mail, held for them for
//! `waitlist_offer_minutes`. They take it with the mail's signed link, or it goes to
//! the next in line. The node looks for freed places every few minutes
//! ([`Portal::offer_free_places`]).

use chrono::NaiveDate;

use crate::booking::Refusal;
use crate::i18n::Lang;
use crate::mail::Mail;
use crate::secret;
use crate::store::{Account, BookError, Booking, Joined, Offer, Waiting};
use crate::{Portal, PortalError};

/// Why the account was not put on a waitlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitRefusal {
    /// The day has free times: book one.
    FreeTimes,
    /// The account waits for as many days as it may.
    TooMany,
    /// The day cannot be booked at all (past, beyond the horizon, closed).
    NotBookable,
    NotVerified,
}

impl WaitRefusal {
    pub fn text(self, lang: Lang) -> &'static str {
        match self {
            WaitRefusal::FreeTimes => lang.pick(
                "An diesem Tag sind Zeiten frei: Buchen Sie eine davon.",
                "There are free times on this day: book one of them.",
            ),
            WaitRefusal::TooMany => lang.pick(
                "Sie stehen schon für so viele Tage auf der Warteliste, wie möglich ist.",
                "You are on the waitlist for as many days as allowed.",
            ),
            WaitRefusal::NotBookable => lang.pick(
                "Für diesen Tag gibt es keine Warteliste.",
                "There is no waitlist for this day.",
            ),
            WaitRefusal::NotVerified => Refusal::NotVerified.text(lang),
        }
    }
}

/// What an offer link names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferLink {
    /// Not a link of this portal (its signature does not hold).
    Unknown,
    /// An offer that was taken, expired, or withdrawn.
    Gone,
    /// The place, held for its citizen.
    Open(Offer),
}

impl Portal {
    /// Puts a verified account on the waitlist of a fully booked day of a service;
    /// `Ok(Ok(false))` when it waits for that day already.
    pub fn join_waitlist(
        &self,
        account: &Account,
        service_id: &str,
        date: NaiveDate,
        lang: Lang,
    ) -> Result<Result<bool, WaitRefusal>, PortalError> {
        if !account.verified {
            return Ok(Err(WaitRefusal::NotVerified));
        }
        let Some(visit) = self.visit(service_id, &[]) else {
            return Ok(Err(WaitRefusal::NotBookable));
        };
        if !self.has_starts(&visit, date) {
            return Ok(Err(WaitRefusal::NotBookable));
        }
        if self.free_starts(&visit, date).is_ok_and(|s| !s.is_empty()) {
            return Ok(Err(WaitRefusal::FreeTimes));
        }
        let waiting = Waiting {
            account: account.id.clone(),
            service: visit.first.id.to_string(),
            date,
            joined_ms: self.now_ms(),
            lang: lang.code().to_owned(),
        };
        match self
            .store
            .join_waitlist(&waiting, self.settings.open_bookings_per_account)?
        {
            Joined::Waiting => Ok(Ok(true)),
            Joined::Already => Ok(Ok(false)),
            Joined::TooMany => Ok(Err(WaitRefusal::TooMany)),
        }
    }

    /// Offers each freed place to the first in line of its day, by mail; a day that
    /// can no longer be booked (past, or within the lead) ends its waitlist. Returns
    /// how many offers went out.
    pub fn offer_free_places(&self) -> Result<usize, PortalError> {
        let minutes = u64::from(self.settings.waitlist_offer_minutes);
        let mut offered = 0;
        for (service_id, date) in self.store.waitlists()? {
            let waiting = self.store.waiting(&service_id, date)?;
            let Some(visit) = self.visit(&service_id, &[]) else {
                self.end_waitlist(&waiting)?;
                continue;
            };
            let department = &visit.department;
            let free = self.all_free_starts(&visit, date).unwrap_or_default();
            if !self.has_starts(&visit, date) {
                self.end_waitlist(&waiting)?;
                continue;
            }
            let capacity = self.rules(department).per_slot;
            let mut places = free
                .iter()
                .flat_map(|f| std::iter::repeat_n(f.start, f.left as usize));
            for person in &waiting {
                let Some(start) = places.next() else { break };
                let now = self.now_ms();
                let offer = self.store.offer(
                    person,
                    department.id.as_str(),
                    start.time,
                    start.due.as_millis(),
                    capacity,
                    // Never held beyond the start itself.
                    now.saturating_add(minutes * 60_000)
                        .min(start.due.as_millis()),
                    now,
                )?;
                if let Some(offer) = offer {
                    self.offer_mail(&offer)?;
                    offered += 1;
                }
            }
        }
        Ok(offered)
    }

    /// Whether the rules give `visit` start times on `date` now (taken or not): only
    /// such a day has a waitlist.
    pub fn has_starts(&self, visit: &crate::booking::Visit, date: NaiveDate) -> bool {
        crate::slots::starts(
            &self.config(),
            &self.rules(&visit.department),
            &visit.ids(),
            date,
            self.now(),
        )
        .is_ok_and(|s| !s.is_empty())
    }

    fn end_waitlist(&self, waiting: &[Waiting]) -> Result<(), PortalError> {
        for w in waiting {
            self.store.leave_waitlist(&w.account, &w.service, w.date)?;
        }
        Ok(())
    }

    /// The signature of offer `code`'s link: 128 bits, hex.
    fn offer_signature(&self, code: &str) -> String {
        self.sign_link(&format!("offer/{code}"))
    }

    /// The link in an offer mail that takes the place, without logging in.
    pub fn offer_link(&self, code: &str) -> String {
        self.link(&format!("/w/{code}/{}", self.offer_signature(code)))
    }

    /// What a mail's offer link names now.
    pub fn offer_by_link(&self, code: &str, signature: &str) -> Result<OfferLink, PortalError> {
        if !secret::same(&self.offer_signature(code), signature) {
            return Ok(OfferLink::Unknown);
        }
        // The signature holds: this portal offered the place once.
        Ok(match self.store.offer_by_code(code)? {
            Some(offer) if offer.expires_ms > self.now_ms() => OfferLink::Open(offer),
            _ => OfferLink::Gone,
        })
    }

    /// Takes the offered place through the mail's link: booked for the offer's
    /// account, told to the office, confirmed by mail. `None` when the link does not
    /// hold.
    pub fn take_offer_by_link(
        &self,
        code: &str,
        signature: &str,
        lang: Lang,
    ) -> Result<Option<Result<Booking, Refusal>>, PortalError> {
        match self.offer_by_link(code, signature)? {
            OfferLink::Unknown => return Ok(None),
            OfferLink::Gone => return Ok(Some(Err(Refusal::NotOpen))),
            OfferLink::Open(_) => {}
        }
        let booking = match self.store.take_offer(
            code,
            self.now_ms(),
            self.settings.open_bookings_per_account,
            lang,
        ) {
            Ok(b) => b,
            Err(BookError::TooManyOpen) => return Ok(Some(Err(Refusal::TooManyOpen))),
            Err(BookError::NotOpen | BookError::SlotFull) => {
                return Ok(Some(Err(Refusal::NotOpen)));
            }
            Err(BookError::Store(e)) => return Err(e.into()),
        };
        if let Err(e) = self.into_office(booking.date, crate::booking::appointment(&booking)) {
            self.store.unbook(&booking.code)?;
            return Err(PortalError::Office(e));
        }
        if let (Some(account), Some(visit)) = (
            self.store.account(&booking.account)?,
            self.visit_of(&booking),
        ) {
            self.confirmation(&account, &booking, &visit, lang, None)?;
        }
        Ok(Some(Ok(booking)))
    }

    /// When the offer's hold ends, in office time, as `format` writes it.
    pub fn held_until(&self, offer: &Offer, format: &str) -> String {
        let zone = self.config().timezone();
        chrono::DateTime::from_timestamp_millis(i64::try_from(offer.expires_ms).unwrap_or(i64::MAX))
            .map(|t| t.with_timezone(&zone).format(format).to_string())
            .unwrap_or_default()
    }

    /// The mail offering a freed place, with the link that takes it.
    fn offer_mail(&self, offer: &Offer) -> Result<(), PortalError> {
        let Some(account) = self.store.account(&offer.account)? else {
            return Ok(());
        };
        let lang = Lang::parse(&offer.lang).unwrap_or_default();
        let config = self.config();
        let office = &config.office.name;
        let name = self.service_name(&offer.service, lang);
        let date = offer.date.format("%d.%m.%Y");
        let time = offer.time.format("%H:%M");
        let until = self.held_until(offer, "%d.%m.%Y %H:%M");
        let link = self.offer_link(&offer.code);
        let text = match lang {
            Lang::De => format!(
                "Guten Tag,\n\nauf der Warteliste sind Sie an der Reihe: Ein Termin ist frei geworden.\n\n{name}\n{date}, {time} Uhr\n{office}\n\nWir halten ihn für Sie bis {until} Uhr frei. Übernehmen Sie ihn hier: {link}\n\nWenn Sie ihn nicht möchten, tun Sie nichts; dann bekommt ihn die nächste Person auf der Warteliste.\n"
            ),
            Lang::En => format!(
                "Hello,\n\nit is your turn on the waitlist: an appointment has become free.\n\n{name}\n{date}, {time}\n{office}\n\nWe hold it for you until {until}. Take it here: {link}\n\nIf you do not want it, do nothing; it then goes to the next person on the waitlist.\n"
            ),
        };
        self.mailer.send(&Mail {
            to: account.email,
            subject: match lang {
                Lang::De => format!("Termin frei geworden: {date} um {time} Uhr"),
                Lang::En => format!("An appointment became free: {date} at {time}"),
            },
            text,
            attachments: Vec::new(),
        })?;
        Ok(())
    }
}
