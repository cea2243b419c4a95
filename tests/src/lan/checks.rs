//! The office's promises, checked on the simulated LAN: cheap checks after a step,
//! the full set after a heal and settle.

use std::collections::{BTreeMap, BTreeSet};

use aufruf_model::{Day, DeskId, TicketId};
use aufruf_office::day_doc;

use super::Lan;
use super::device::EventId;

impl Lan {
    /// Cheap checks on one device's view, fit for every step: no display number twice,
    /// no visitor with a desk that does not exist.
    pub fn check_invariants(&mut self, node: usize) {
        if !self.is_up(node) {
            return;
        }
        let config = self.config.clone();
        let problem = self.with_day(node, |day| {
            let mut numbers = BTreeMap::new();
            for ticket in day.tickets() {
                if let Some(other) = numbers.insert(ticket.number, ticket.id.clone()) {
                    return Some(format!(
                        "{} and {} share the number {}",
                        other, ticket.id, ticket.number
                    ));
                }
                if let Some(desk) = ticket.status.desk()
                    && config.desk(desk).is_none()
                {
                    return Some(format!("{} is with unknown desk {desk}", ticket.id));
                }
            }
            None
        });
        if let Some(problem) = problem {
            let name = self.nodes()[node].name.clone();
            self.fail(format!("on {name}: {problem}"));
        }
    }

    /// Everything the device itself acknowledged on its current disk is in its day
    /// (after a restart: nothing acknowledged was lost in the crash).
    pub fn check_acknowledged_on(&mut self, node: usize) {
        let since = self.nodes()[node].disk_since;
        let mine: Vec<EventId> = self
            .acknowledged
            .events
            .iter()
            .skip(since)
            .filter(|(n, _)| *n == node)
            .map(|(_, event)| event.clone())
            .collect();
        let known = self.with_day(node, event_ids);
        if let Some(lost) = mine.iter().find(|s| !known.contains(*s)) {
            let name = self.nodes()[node].name.clone();
            self.fail(format!(
                "{name} lost its own acknowledged event {lost:?} (after a crash?)"
            ));
        }
    }

    /// The office's promises after the LAN has healed and settled with every device up:
    /// the same document heads and the same queue everywhere (also as read afresh from
    /// the document), every acknowledged ticket and event present, no display number
    /// twice, at most one desk per visitor, and every desk whose call lost told so.
    pub fn check_converged(&mut self) {
        let down: Vec<&str> = self
            .nodes()
            .iter()
            .filter(|n| n.running.is_none())
            .map(|n| n.name.as_str())
            .collect();
        if !down.is_empty() {
            self.fail(format!("check_converged with devices down: {down:?}"));
        }
        let session_errors = self.session_errors();
        if !session_errors.is_empty() {
            self.fail(format!("sessions ended in error: {session_errors:?}"));
        }
        // A device on a new disk has met a peer by now and caught up.
        let waiting: Vec<String> = self
            .nodes()
            .iter()
            .filter(|n| self.catching_up(n.name.as_str()))
            .map(|n| n.name.to_string())
            .collect();
        if !waiting.is_empty() {
            self.fail(format!("still catching up after the settle: {waiting:?}"));
        }
        // Same heads.
        let reference = self.heads(0);
        for node in 1..self.nodes().len() {
            if self.heads(node) != reference {
                let (a, b) = (
                    self.nodes()[0].name.clone(),
                    self.nodes()[node].name.clone(),
                );
                self.fail(format!(
                    "heads of the day differ between {a} ({} heads) and {b} ({} heads)",
                    reference.len(),
                    self.heads(node).len()
                ));
            }
        }
        // Same day, and the office's incremental reading equals a fresh read.
        let day = self.with_day(0, Day::clone);
        for node in 0..self.nodes().len() {
            let fresh = self.fresh_read(node);
            let name = self.nodes()[node].name.clone();
            if !fresh.unreadable.is_empty() {
                self.fail(format!("{name}: unreadable entries {:?}", fresh.unreadable));
            }
            let incremental_matches = self.with_day(node, |d| *d == fresh.day);
            if !incremental_matches {
                self.fail(format!(
                    "{name}: the day read incrementally differs from the day read afresh (refused afresh: {:?}, waiting for a certificate: {:?})",
                    fresh.refused, fresh.pending
                ));
            }
            if fresh.day != day {
                self.fail(format!(
                    "the queue on {name} differs from the queue on {}",
                    self.nodes()[0].name
                ));
            }
        }
        self.check_promises(&day);
    }

    fn check_promises(&self, day: &Day) {
        let known = event_ids(day);
        for (node, event) in &self.acknowledged.events {
            if !known.contains(event) {
                self.fail(format!(
                    "the event {event:?} acknowledged by {} is lost",
                    self.nodes()[*node].name
                ));
            }
        }
        for printed in &self.acknowledged.tickets {
            match day.ticket(&printed.ticket) {
                Some(t) if t.number == printed.number => {}
                Some(t) => self.fail(format!(
                    "{} printed {} as {} but the office has it as {}",
                    printed.node, printed.ticket, printed.number, t.number
                )),
                None => self.fail(format!(
                    "ticket {} ({}) printed by {} is lost",
                    printed.ticket, printed.number, printed.node
                )),
            }
        }
        // Two printed tickets are two visitors: they may share neither id nor number,
        // even if the office folded them into one ticket.
        let mut printed_ids = BTreeMap::new();
        let mut printed_numbers = BTreeMap::new();
        for printed in &self.acknowledged.tickets {
            if let Some(other) = printed_ids.insert(printed.ticket.clone(), printed.number) {
                self.fail(format!(
                    "{} printed ticket {} twice (as {other} and as {})",
                    printed.node, printed.ticket, printed.number
                ));
            }
            if let Some(other) = printed_numbers.insert(printed.number, printed.ticket.clone()) {
                self.fail(format!(
                    "the number {} was printed twice: for {other} and for {}",
                    printed.number, printed.ticket
                ));
            }
        }
        let mut numbers = BTreeMap::new();
        for ticket in day.tickets() {
            if let Some(other) = numbers.insert(ticket.number, ticket.id.clone()) {
                self.fail(format!(
                    "{other} and {} share the display number {}",
                    ticket.id, ticket.number
                ));
            }
        }
        let mut holders: BTreeMap<TicketId, DeskId> = BTreeMap::new();
        for desk in &self.config.desks {
            if let Some(current) = day.current_of(&desk.id)
                && let Some(other) = holders.insert(current.id.clone(), desk.id.clone())
            {
                self.fail(format!(
                    "{} is with two desks: {other} and {}",
                    current.id, desk.id
                ));
            }
        }
        for call in &self.acknowledged.calls {
            let Some(ticket) = day.ticket(&call.ticket) else {
                self.fail(format!("the called ticket {} is lost", call.ticket));
            };
            let won = ticket.won(&call.stamp);
            let told = day
                .lost_claims_of(&call.desk)
                .any(|c| c.stamp == call.stamp && c.ticket == call.ticket);
            if won == told {
                self.fail(format!(
                    "the call of {} by {} at {:?} is {} won and lost",
                    call.ticket,
                    call.desk,
                    call.stamp,
                    if won { "both" } else { "neither" }
                ));
            }
        }
    }

    /// After a settle, also during a partition: devices that can reach each other,
    /// directly both ways or through others, have the same heads — the office keeps
    /// converging within every group that can talk, not only after the heal.
    pub fn check_groups_converged(&self) {
        let n = self.nodes().len();
        let mut group: Vec<Option<usize>> = vec![None; n];
        for start in 0..n {
            if group[start].is_some() || !self.is_up(start) {
                continue;
            }
            group[start] = Some(start);
            let mut todo = vec![start];
            while let Some(a) = todo.pop() {
                for (b, member) in group.iter_mut().enumerate() {
                    if member.is_none() && self.passable(a, b) && self.passable(b, a) {
                        *member = Some(start);
                        todo.push(b);
                    }
                }
            }
        }
        for (a, leader) in group.iter().enumerate() {
            let Some(leader) = *leader else { continue };
            if self.heads(a) != self.heads(leader) {
                self.fail(format!(
                    "{} and {} can talk (through peers) but their days differ after settling",
                    self.nodes()[leader].name,
                    self.nodes()[a].name
                ));
            }
        }
    }

    /// The day read afresh from the device's document, as a restarted office would.
    fn fresh_read(&self, node: usize) -> day_doc::DayRead {
        let Some(running) = &self.nodes()[node].running else {
            self.fail(format!("{} is down", self.nodes()[node].name));
        };
        let roster = self.roster();
        let document = self.day_name.to_string();
        let seals = aufruf_office::replicated::day_seals(
            &roster,
            &aufruf_office::testing::TestAuthority,
            &document,
            self.date,
            None,
        );
        let Some(read) = running
            .replica
            .read(&self.day_name, |doc| day_doc::read_day(doc, &seals))
        else {
            self.fail(format!("{} has no day document", self.nodes()[node].name));
        };
        match read {
            Ok(read) => read,
            Err(error) => self.fail(format!(
                "{}: the day does not read: {error}",
                self.nodes()[node].name
            )),
        }
    }
}

/// The stamps of every ticket and desk event of a day.
pub(super) fn event_ids(day: &Day) -> BTreeSet<EventId> {
    day.events()
        .filter_map(|event| EventId::of(&event))
        .collect()
}
