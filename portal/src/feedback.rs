//! Feedback after a visit: a 1–5 rating and an optional comment, once per ticket
//! (from its QR page, once it is done) or per booking (from the confirmation mail's
//! signed link, once the appointment has begun). Kept without the person: the day,
//! the service and the rating; the ticket or booking only as a one-way marker, so
//! the same one cannot rate twice. Shown to admins with the statistics.

use aufruf_office::views::TicketState;

use crate::store::Feedback;
use crate::{Portal, PortalError, secret};

/// The longest comment kept.
pub const MAX_COMMENT_CHARS: usize = 1000;
/// Days feedback is kept (comments are free text: a citizen may have written a name).
pub const KEPT_DAYS: u64 = 730;

/// What became of a citizen's feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Given {
    Taken,
    /// This ticket or booking has given its feedback already.
    Already,
    /// Not yet: the ticket is not done, the appointment has not begun.
    NotYet,
    /// No ticket of today by this token, no open or past booking by this code.
    Unknown,
}

/// A rating and comment as sent, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rating {
    pub rating: u8,
    pub comment: String,
}

/// Why a feedback form comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RatingProblem {
    NoRating,
    CommentTooLong,
}

impl Rating {
    /// The form's `rating` (1–5) and `comment` (trimmed; control characters but line
    /// breaks dropped).
    pub fn of(rating: &str, comment: &str) -> Result<Rating, RatingProblem> {
        let rating = match rating.trim().parse::<u8>() {
            Ok(r @ 1..=5) => r,
            _ => return Err(RatingProblem::NoRating),
        };
        let comment: String = comment
            .chars()
            .filter(|c| !c.is_control() || *c == '\n')
            .collect::<String>()
            .trim()
            .to_owned();
        if comment.chars().count() > MAX_COMMENT_CHARS {
            return Err(RatingProblem::CommentTooLong);
        }
        Ok(Rating { rating, comment })
    }
}

fn marker(kind: &str, key: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, format!("{kind}/{key}").as_bytes());
    secret::hex(&digest.as_ref()[..16])
}

impl Portal {
    /// The feedback link of booking `code` in its confirmation mail.
    pub fn feedback_link(&self, code: &str) -> String {
        self.link(&format!("/f/{code}/{}", self.feedback_signature(code)))
    }

    fn feedback_signature(&self, code: &str) -> String {
        self.sign_link(&format!("feedback/{code}"))
    }

    /// Whether `signature` is that of booking `code`'s feedback link.
    pub fn feedback_link_holds(&self, code: &str, signature: &str) -> bool {
        secret::same(&self.feedback_signature(code), signature)
    }

    /// Whether today's ticket of `token` may give feedback now (it is done and has
    /// not given it), and its service.
    pub fn ticket_feedback_state(&self, token: &str) -> Result<(Given, String), PortalError> {
        let now = self.now();
        let Some(ticket) = self.office.ticket(now, token) else {
            return Ok((Given::Unknown, String::new()));
        };
        let service = ticket.service.to_string();
        if ticket.status != TicketState::Done {
            return Ok((Given::NotYet, service));
        }
        let date = self.config().local_date(now);
        if self.store.has_feedback(&marker("t", token), date)? {
            return Ok((Given::Already, service));
        }
        Ok((Given::Taken, service))
    }

    /// Keeps the feedback of today's ticket `token`, once it is done.
    pub fn ticket_feedback(&self, token: &str, rating: &Rating) -> Result<Given, PortalError> {
        let (state, service) = self.ticket_feedback_state(token)?;
        if state != Given::Taken {
            return Ok(state);
        }
        let now = self.now();
        let feedback = Feedback {
            date: self.config().local_date(now),
            service,
            appointment: false,
            rating: rating.rating,
            comment: rating.comment.clone(),
            at_ms: now.as_millis(),
        };
        self.keep(&marker("t", token), &feedback)
    }

    /// Whether booking `code` may give feedback now (its appointment has begun, it was
    /// not cancelled, it has not given it), and its service.
    pub fn booking_feedback_state(&self, code: &str) -> Result<(Given, String), PortalError> {
        let Some(booking) = self.store.booking(code)? else {
            return Ok((Given::Unknown, String::new()));
        };
        if booking.cancelled {
            return Ok((Given::Unknown, String::new()));
        }
        if self.now_ms() < booking.due_ms {
            return Ok((Given::NotYet, booking.service));
        }
        if self.store.has_feedback(&marker("b", code), booking.date)? {
            return Ok((Given::Already, booking.service));
        }
        Ok((Given::Taken, booking.service))
    }

    /// Keeps the feedback of booking `code` (its link checked already).
    pub fn booking_feedback(&self, code: &str, rating: &Rating) -> Result<Given, PortalError> {
        let (state, service) = self.booking_feedback_state(code)?;
        if state != Given::Taken {
            return Ok(state);
        }
        let Some(booking) = self.store.booking(code)? else {
            return Ok(Given::Unknown);
        };
        let feedback = Feedback {
            date: booking.date,
            service,
            appointment: true,
            rating: rating.rating,
            comment: rating.comment.clone(),
            at_ms: self.now_ms(),
        };
        self.keep(&marker("b", code), &feedback)
    }

    fn keep(&self, marker: &str, feedback: &Feedback) -> Result<Given, PortalError> {
        Ok(if self.store.give_feedback(marker, feedback)? {
            Given::Taken
        } else {
            Given::Already
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rating_is_one_to_five_and_a_comment_is_bounded_and_plain() {
        assert_eq!(
            Rating::of("5", " gut \u{7} ").unwrap(),
            Rating {
                rating: 5,
                comment: "gut".into()
            }
        );
        assert_eq!(Rating::of(" 1", "").unwrap().rating, 1);
        for bad in ["", "0", "6", "-1", "5.0", "fünf", "255", "999999999999"] {
            assert_eq!(Rating::of(bad, ""), Err(RatingProblem::NoRating), "{bad}");
        }
        assert_eq!(
            Rating::of("3", &"x".repeat(MAX_COMMENT_CHARS + 1)),
            Err(RatingProblem::CommentTooLong)
        );
        assert_eq!(
            Rating::of("3", "zwei\nZeilen\r").unwrap().comment,
            "zwei\nZeilen"
        );
        assert_ne!(marker("t", "abc"), marker("b", "abc"));
    }
}
