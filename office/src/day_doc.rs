//! The office day on an automerge document: how the model's events are written to and
//! read from `day/YYYY-MM-DD`.
//!
//! Layout of the document root (a map), version 2:
//!
//! ```text
//! schema                  = 2
//! tickets:<first ticket>  = {                          one map per 64 tickets of a store
//!     ticket:<ticket>     = { <event id>: sealed <event> }   one map per ticket
//!     status:<token>      = sealed <ticket id>
//! }
//! desk:<desk>             = { <event id>: sealed <event> }   one map per desk
//! booking:<code>          = sealed <appointment>
//! ```
//!
//! Tickets sit in blocks ([`TICKETS_PER_BLOCK`] of one issuer's store, named by the
//! block's first ticket id, e.g. `tickets:kiosk-1~7f3a9c21/64`) because automerge
//! pays for a new key of a map with the size of that map: with a key per ticket and
//! per status token under the root (layout 1), applying a peer's new ticket cost ten
//! times more at 3,000 tickets than at 100. Layout 1 — `ticket:<ticket>` and
//! `status:<token>` directly under the root — is still read, and a ticket found there
//! takes its further events there; new tickets go into blocks.
//!
//! Every value is sealed by its author ([`crate::authority`]): automerge bytes
//! `0xA2 | certificate reference | signature length | signature | JSON` (format 1,
//! the text `<certificate fingerprint prefix>:<signature hex>:<JSON>`, is still read). A value whose seal, author
//! or role does not hold is left out of the fold and counted ([`DayRead::refused`]).
//!
//! A ticket is keyed by its id (`kiosk-1~7f3a9c21/12`: issuer, store incarnation,
//! running number; `kiosk-1/12` for a ticket issued before stores had incarnations).
//! An event id is its stamp (`<wall ms>.<counter>.<node>`), unique because each node's
//! clock strictly increases; events are immutable JSON strings. Only maps — automerge
//! lists are its slow spot and the queue needs none.
//!
//! Tickets and desks hang directly off the root, not under shared `tickets`/`desks`
//! maps: a map object that two replicas create concurrently becomes a conflict in which
//! one object hides the other. A ticket's map is created only by the node that issues
//! it (ticket ids carry the issuer's name), so ticket maps never conflict; should two
//! nodes ever create the same desk map, [`read_day`] still reads the union of all
//! conflicting objects, because events are a set and the union is exactly right.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aufruf_model::authority::may_write;
use aufruf_model::day::DeskEvent;
use aufruf_model::{Appointment, Day, DeskId, Event, Hlc, NodeId, Stamp, TicketEvent, TicketId};
use automerge::legacy;
use automerge::transaction::Transactable;
use automerge::{Automerge, AutomergeError, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, Value};

use crate::authority::{self, Sealed, Seals, Signer, Unaccepted};

/// The layout version this build writes and reads (it reads layout 1 too).
pub const SCHEMA: i64 = 2;

/// How many tickets of one store share a block map.
pub const TICKETS_PER_BLOCK: u32 = 64;

const BLOCK: &str = "tickets:";
const TICKET: &str = "ticket:";
const DESK: &str = "desk:";
const BOOKING: &str = "booking:";
const STATUS: &str = "status:";

/// A ticket's status token: 128 random bits as 32 lowercase hex digits.
pub fn is_status_token(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Writes which ticket a status token belongs to into the ticket's block (in the
/// change that issues it), sealed by the issuer.
pub fn write_status_token(
    tx: &mut impl Transactable,
    token: &str,
    ticket: &TicketId,
    sealer: &Sealer<'_>,
) -> Result<(), DayDocError> {
    let block_key = block_key(ticket);
    let entry = format!("{STATUS}{token}");
    let value = sealer.seal(&block_key, &entry, &ticket.to_string())?;
    let block = block_for_write(tx, &block_key)?;
    tx.put(&block, entry, value)?;
    Ok(())
}

/// The ticket a status token belongs to; `None` for unknown or malformed tokens and
/// for entries not sealed by the ticket's issuer. Looks into every block (a few dozen
/// a day) and, for a day of layout 1, at the root.
pub fn ticket_of_status_token(
    doc: &impl ReadDoc,
    token: &str,
    seals: &Seals<'_>,
) -> Option<TicketId> {
    if !is_status_token(token) {
        return None;
    }
    let entry = format!("{STATUS}{token}");
    let issued_by =
        |author: &NodeId, body: &str| parse_ticket_id(body).filter(|ticket| ticket.node == *author);
    let blocks: Vec<String> = doc.keys(ROOT).filter(|k| k.starts_with(BLOCK)).collect();
    for block_key in blocks {
        for block in maps_under(doc, &ROOT, &block_key) {
            for (value, _) in doc.get_all(&block, entry.as_str()).unwrap_or_default() {
                let Some(sealed) = sealed_of(&value) else {
                    continue;
                };
                let Ok((author, body)) = seals.open(&block_key, &entry, &sealed, None) else {
                    continue;
                };
                let ticket = issued_by(&author.node, body)
                    .filter(|ticket| self::block_key(ticket) == block_key);
                if ticket.is_some() {
                    return ticket;
                }
            }
        }
    }
    doc.get_all(ROOT, entry.as_str())
        .ok()?
        .into_iter()
        .find_map(|(value, _)| {
            let sealed = sealed_of(&value)?;
            let (author, body) = seals.open(&entry, "", &sealed, None).ok()?;
            issued_by(&author.node, body)
        })
}

/// The root key of the block a ticket belongs to: `tickets:` and the id of the
/// block's first ticket.
pub fn block_key(ticket: &TicketId) -> String {
    let first = TicketId::new(
        ticket.node.clone(),
        ticket.incarnation,
        ticket.seq - ticket.seq % TICKETS_PER_BLOCK,
    );
    format!("{BLOCK}{first}")
}

/// How this node seals what it writes into one document.
#[derive(Debug, Clone, Copy)]
pub struct Sealer<'a> {
    pub signer: &'a dyn Signer,
    /// The document's name, e.g. `day/2026-11-26`.
    pub document: &'a str,
}

impl Sealer<'_> {
    fn seal(&self, key: &str, entry: &str, body: &str) -> Result<Vec<u8>, DayDocError> {
        authority::seal(self.signer, self.document, key, entry, body).map_err(DayDocError::Seal)
    }
}

/// Why a day document cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DayDocError {
    #[error(
        "the day document has layout version {found}, this build knows {SCHEMA}; update this node"
    )]
    NewerSchema { found: i64 },
    #[error("automerge: {0}")]
    Automerge(#[from] AutomergeError),
    #[error("cannot encode event: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("cannot sign: {0}")]
    Seal(String),
}

/// A day as read from its document, with what could not be understood and what did
/// not count.
#[derive(Debug, Default)]
pub struct DayRead {
    pub day: Day,
    /// Keys whose content this build could not parse (e.g. written by a newer build);
    /// they are skipped, not fatal.
    pub unreadable: Vec<String>,
    /// Entries (`<key>/<entry>`) that do not count, and why: unsealed, forged, by a
    /// role that may not write them, revoked ([`Unaccepted`]).
    pub refused: BTreeMap<String, Unaccepted>,
    /// Refusals not yet reported to the metrics.
    pub refused_unreported: Vec<Unaccepted>,
    /// Root keys with entries sealed by a certificate this node does not have yet
    /// (its office document lags the day's): read again when it arrives.
    pub pending: BTreeSet<String>,
}

impl DayRead {
    fn refuse(&mut self, entry: String, why: Unaccepted) {
        if let std::collections::btree_map::Entry::Vacant(v) = self.refused.entry(entry) {
            tracing::warn!(entry = %v.key(), %why, "an entry of the day does not count");
            v.insert(why);
            self.refused_unreported.push(why);
        }
    }
}

/// Writes one event into the document, sealed by this node, touching only its
/// ticket's or desk's map. (A newer layout was refused when the action read the day.)
pub fn write_event(
    tx: &mut impl Transactable,
    event: &Event,
    sealer: &Sealer<'_>,
) -> Result<(), DayDocError> {
    if tx.get(ROOT, "schema")?.is_none() {
        tx.put(ROOT, "schema", SCHEMA)?;
    }
    match event {
        Event::Ticket {
            ticket,
            stamp,
            event,
        } => {
            let key = format!("{TICKET}{ticket}");
            let entry = event_id(stamp);
            let value = sealer.seal(&key, &entry, &serde_json::to_string(event)?)?;
            let map = ticket_map_for_write(tx, ticket, &key)?;
            tx.put(&map, entry, value)?;
        }
        Event::Desk { desk, stamp, event } => {
            let key = format!("{DESK}{desk}");
            let entry = event_id(stamp);
            let value = sealer.seal(&key, &entry, &serde_json::to_string(event)?)?;
            let map = map_at(tx, ROOT, &key)?;
            tx.put(&map, entry, value)?;
        }
        Event::Booked(appointment) => {
            let key = format!("{BOOKING}{}", appointment.code);
            let value = sealer.seal(&key, "", &serde_json::to_string(appointment)?)?;
            tx.put(ROOT, key, value)?;
        }
    }
    Ok(())
}

/// What the revoked nodes wrote into this document (`document`, e.g.
/// `day/2026-11-26`) up to the heads their revocation names: the seals of theirs that
/// still count ([`authority::Held`]). Read once per revocation and document; a node
/// whose heads are not all here yet is waited for.
pub fn held(doc: &Automerge, roster: &authority::Roster, document: &str) -> authority::Held {
    let mut held = authority::Held::default();
    for (node, frozen) in roster.frozen() {
        let Some(heads) = frozen.get(document) else {
            continue;
        };
        if !heads
            .iter()
            .all(|h| doc.get_change_meta_by_hash(h).is_some())
        {
            held.wait_for(node);
            continue;
        }
        seals_at(doc, &ROOT, heads, 0, &mut |sealed| {
            let Some((reference, signature)) = sealed.reference_and_signature() else {
                return;
            };
            if roster
                .certificate(&reference)
                .is_some_and(|c| c.author.node == *node)
            {
                held.hold(node, signature);
            }
        });
    }
    held
}

/// Every sealed value in the maps under `obj` as the document was at `heads`: the
/// root, blocks, tickets and desks are at most three maps deep.
fn seals_at(
    doc: &Automerge,
    obj: &ObjId,
    heads: &[ChangeHash],
    depth: u8,
    found: &mut dyn FnMut(Sealed),
) {
    for key in doc.keys_at(obj, heads) {
        for (value, id) in doc.get_all_at(obj, key.as_str(), heads).unwrap_or_default() {
            match value {
                Value::Object(ObjType::Map) if depth < 3 => {
                    seals_at(doc, &id, heads, depth + 1, found);
                }
                Value::Scalar(s) => {
                    if let Some(sealed) = Sealed::of(&s) {
                        found(sealed);
                    }
                }
                Value::Object(_) => {}
            }
        }
    }
}

/// Reads the whole day.
pub fn read_day(doc: &impl ReadDoc, seals: &Seals<'_>) -> Result<DayRead, DayDocError> {
    check_schema(doc, seals)?;
    let mut read = DayRead::default();
    // Each ticket once, wherever its maps are (blocks, conflicting blocks, the root).
    let mut keys = BTreeSet::new();
    for key in doc.keys(ROOT) {
        if key.starts_with(BLOCK) {
            for block in maps_under(doc, &ROOT, &key) {
                keys.extend(doc.keys(&block).filter(|k| k.starts_with(TICKET)));
            }
        } else {
            keys.insert(key);
        }
    }
    for key in keys {
        read_key(doc, &key, &mut read, seals)?;
    }
    Ok(read)
}

/// Reads the root keys a set of changes touched into `read`: the cheap path after a
/// change touched only those.
pub fn read_changed(
    doc: &impl ReadDoc,
    changed: &Changed,
    read: &mut DayRead,
    seals: &Seals<'_>,
) -> Result<(), DayDocError> {
    check_schema(doc, seals)?;
    for ticket in &changed.tickets {
        read_key(doc, &format!("{TICKET}{ticket}"), read, seals)?;
    }
    for key in &changed.other_keys {
        read_key(doc, key, read, seals)?;
    }
    Ok(())
}

/// Reads again the keys whose entries named a certificate this node lacked.
pub fn read_pending(
    doc: &impl ReadDoc,
    read: &mut DayRead,
    seals: &Seals<'_>,
) -> Result<(), DayDocError> {
    for key in std::mem::take(&mut read.pending) {
        read_key(doc, &key, read, seals)?;
    }
    Ok(())
}

/// The ticket a root key holds, if it is a ticket's.
pub fn ticket_of_key(key: &str) -> Option<TicketId> {
    key.strip_prefix(TICKET).and_then(parse_ticket_id)
}

/// What a set of changes touched.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changed {
    pub tickets: BTreeSet<TicketId>,
    /// Desk and booking keys of the root.
    pub other_keys: BTreeSet<String>,
}

impl Changed {
    fn add(&mut self, key: &str) {
        if let Some(ticket) = key.strip_prefix(TICKET).and_then(parse_ticket_id) {
            self.tickets.insert(ticket);
        } else if key.starts_with(DESK) || key.starts_with(BOOKING) {
            self.other_keys.insert(key.to_owned());
        }
    }
}

/// The maps of a day document, by object id, and the key each hangs under (a root
/// key, or a ticket's key in its block): what [`changed_since`] needs to name the
/// key a change touched without reading the whole document.
#[derive(Debug, Default, Clone)]
pub struct RootMaps {
    by_object: HashMap<String, String>,
}

impl RootMaps {
    /// Learns every map under the root of `doc` and in its blocks.
    pub fn of(doc: &Automerge) -> Self {
        let mut maps = RootMaps::default();
        maps.learn_maps(doc, &ROOT);
        maps
    }

    fn learn_maps(&mut self, doc: &Automerge, obj: &ObjId) {
        for key in doc.keys(obj) {
            for (value, child) in doc.get_all(obj, key.as_str()).unwrap_or_default() {
                if matches!(value, Value::Object(_)) {
                    if *obj == ROOT && key.starts_with(BLOCK) {
                        self.learn_maps(doc, &child);
                    }
                    self.by_object.insert(child.to_string(), key.clone());
                }
            }
        }
    }
}

/// What the changes after `before` touched, read from their operations alone: the
/// cost grows with the new changes, not with the day. `None` if an operation is on an
/// object this replica does not know (then read the document whole).
pub fn changed_since(
    doc: &Automerge,
    before: &[ChangeHash],
    maps: &mut RootMaps,
) -> Option<Changed> {
    let mut changed = Changed::default();
    for change in doc.get_changes(before) {
        let expanded = change.decode();
        for (index, op) in expanded.operations.iter().enumerate() {
            let parent = match &op.obj {
                legacy::ObjectId::Root => None,
                legacy::ObjectId::Id(id) => Some(maps.by_object.get(&id.to_string())?),
            };
            let key = match (parent, &op.key) {
                // An operation on the root or on a block names the key it writes.
                (None, legacy::Key::Map(key)) => key.to_string(),
                (Some(block), legacy::Key::Map(key)) if block.starts_with(BLOCK) => key.to_string(),
                (None, legacy::Key::Seq(_)) => return None,
                // One inside a ticket's or a desk's map names that map's key.
                (Some(map), _) => map.clone(),
            };
            if let legacy::OpType::Make(_) = op.action {
                // The new object's id is this operation's id.
                let counter = expanded.start_op.get() + u64::try_from(index).ok()?;
                maps.by_object
                    .insert(format!("{counter}@{}", expanded.actor_id), key.clone());
            }
            changed.add(&key);
        }
    }
    Some(changed)
}

/// Refuses a document of a newer layout — but only when the office's administrator
/// says so: a newer version counts only as `<version>:<admin signature hex>` over
/// [`schema_statement`]. Any node writes the base version (a plain number, harmless);
/// a plain higher number, which any enrolled key could write to stop every node, is
/// ignored.
fn check_schema(doc: &impl ReadDoc, seals: &Seals<'_>) -> Result<(), DayDocError> {
    for (value, _) in doc.get_all(ROOT, "schema")? {
        let Some(text) = text_of(&value) else {
            continue;
        };
        let Some((version, signature)) = text.split_once(':') else {
            continue;
        };
        let (Ok(found), Some(signature)) = (version.parse::<i64>(), authority::unhex(signature))
        else {
            continue;
        };
        if found > SCHEMA
            && seals.authority.admin_signed(
                schema_statement(seals.document, found).as_bytes(),
                &signature,
            )
        {
            return Err(DayDocError::NewerSchema { found });
        }
    }
    Ok(())
}

/// What the administrator signs to move a document to layout `version`.
pub fn schema_statement(document: &str, version: i64) -> String {
    format!("aufruf schema {document} {version}")
}

/// The map under `key` of `obj`, created if missing.
fn map_at(tx: &mut impl Transactable, obj: ObjId, key: &str) -> Result<ObjId, DayDocError> {
    match existing_map(tx, &obj, key)? {
        Some(map) => Ok(map),
        None => Ok(tx.put_object(obj, key, ObjType::Map)?),
    }
}

fn existing_map(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Result<Option<ObjId>, DayDocError> {
    Ok(match doc.get(obj, key)? {
        Some((Value::Object(ObjType::Map), id)) => Some(id),
        _ => None,
    })
}

/// A block's map, created if missing.
fn block_for_write(tx: &mut impl Transactable, block_key: &str) -> Result<ObjId, DayDocError> {
    map_at(tx, ROOT, block_key)
}

/// The map a ticket's next event goes into: its map in its block; for a ticket of a
/// layout-1 day, its map under the root; for a new ticket, a new map in its block.
fn ticket_map_for_write(
    tx: &mut impl Transactable,
    ticket: &TicketId,
    key: &str,
) -> Result<ObjId, DayDocError> {
    let block_key = block_key(ticket);
    if let Some(block) = existing_map(tx, &ROOT, &block_key)?
        && let Some(map) = existing_map(tx, &block, key)?
    {
        return Ok(map);
    }
    if let Some(map) = existing_map(tx, &ROOT, key)? {
        return Ok(map);
    }
    let block = block_for_write(tx, &block_key)?;
    map_at(tx, block, key)
}

/// The map a ticket's events are in (the first, should there be conflicting ones).
pub fn ticket_map(doc: &impl ReadDoc, ticket: &TicketId) -> Option<ObjId> {
    let key = format!("{TICKET}{ticket}");
    ticket_maps(doc, ticket, &key)
        .ok()?
        .into_iter()
        .find(|(value, _)| matches!(value, Value::Object(ObjType::Map)))
        .map(|(_, map)| map)
}

/// Every value under `key` of `obj` that is a map (more than one after a conflict).
fn maps_under(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Vec<ObjId> {
    doc.get_all(obj, key)
        .unwrap_or_default()
        .into_iter()
        .filter(|(value, _)| matches!(value, Value::Object(ObjType::Map)))
        .map(|(_, map)| map)
        .collect()
}

/// Every map a ticket's events are under: in its block (each of conflicting blocks)
/// and, on a day of layout 1, under the root.
fn ticket_maps<'d>(
    doc: &'d impl ReadDoc,
    ticket: &TicketId,
    key: &str,
) -> Result<Vec<(Value<'d>, ObjId)>, DayDocError> {
    let mut maps = Vec::new();
    for block in maps_under(doc, &ROOT, &block_key(ticket)) {
        maps.extend(doc.get_all(&block, key)?);
    }
    maps.extend(doc.get_all(ROOT, key)?);
    Ok(maps)
}

fn read_key(
    doc: &impl ReadDoc,
    key: &str,
    read: &mut DayRead,
    seals: &Seals<'_>,
) -> Result<(), DayDocError> {
    if let Some(ticket) = key.strip_prefix(TICKET) {
        let Some(ticket) = parse_ticket_id(ticket) else {
            read.unreadable.push(key.to_owned());
            return Ok(());
        };
        let maps = ticket_maps(doc, &ticket, key)?;
        for (stamp, sealed) in events_under(doc, key, maps, read) {
            if read.day.holds_ticket_event(&ticket, &stamp) {
                continue;
            }
            let entry = event_id_of(&stamp);
            let event = |event| Event::Ticket {
                ticket: ticket.clone(),
                stamp: stamp.clone(),
                event,
            };
            take_sealed::<TicketEvent>(key, &entry, &sealed, stamp.hlc.wall_ms, event, read, seals);
        }
    } else if let Some(desk) = key.strip_prefix(DESK) {
        let desk = DeskId::new(desk);
        let maps = doc.get_all(ROOT, key)?;
        for (stamp, sealed) in events_under(doc, key, maps, read) {
            if read.day.holds_desk_event(&desk, &stamp) {
                continue;
            }
            let entry = event_id_of(&stamp);
            let event = |event| Event::Desk {
                desk: desk.clone(),
                stamp: stamp.clone(),
                event,
            };
            take_sealed::<DeskEvent>(key, &entry, &sealed, stamp.hlc.wall_ms, event, read, seals);
        }
    } else if key.starts_with(BOOKING) {
        for (value, _) in doc.get_all(ROOT, key)? {
            let Some(sealed) = sealed_of(&value) else {
                read.unreadable.push(key.to_owned());
                continue;
            };
            let opened = seals.open(key, "", &sealed, None).map(|(author, body)| {
                (
                    author.clone(),
                    serde_json::from_str::<Appointment>(body)
                        .ok()
                        .filter(Appointment::is_well_formed),
                )
            });
            match opened {
                Ok((author, Some(appointment))) => {
                    let event = Event::Booked(appointment);
                    match may_write(&author, &event) {
                        Ok(()) => {
                            read.day.apply(event);
                        }
                        Err(why) => read.refuse(key.to_owned(), why.into()),
                    }
                }
                Ok((_, None)) => read.unreadable.push(key.to_owned()),
                Err(Unaccepted::UnknownCertificate) => {
                    read.pending.insert(key.to_owned());
                }
                Err(why) => read.refuse(key.to_owned(), why),
            }
        }
    }
    Ok(())
}

/// Opens a sealed event, checks its author may write it, and applies it.
fn take_sealed<E: serde::de::DeserializeOwned>(
    key: &str,
    entry: &str,
    sealed: &Sealed,
    stamp_ms: u64,
    event: impl FnOnce(E) -> Event,
    read: &mut DayRead,
    seals: &Seals<'_>,
) {
    let path = || format!("{key}/{entry}");
    if read.refused.contains_key(&path()) {
        return;
    }
    match seals.open(key, entry, sealed, Some(stamp_ms)) {
        Ok((author, body)) => match serde_json::from_str::<E>(body) {
            Ok(parsed) => {
                let event = event(parsed);
                match may_write(author, &event) {
                    Ok(()) => {
                        read.day.apply(event);
                    }
                    Err(why) => read.refuse(path(), why.into()),
                }
            }
            Err(_) => read.unreadable.push(path()),
        },
        Err(Unaccepted::UnknownCertificate) => {
            read.pending.insert(key.to_owned());
        }
        Err(why) => read.refuse(path(), why),
    }
}

/// The events of every (possibly conflicting) map of a ticket or desk.
fn events_under(
    doc: &impl ReadDoc,
    key: &str,
    maps: Vec<(Value<'_>, ObjId)>,
    read: &mut DayRead,
) -> Vec<(Stamp, Sealed)> {
    let mut events = Vec::new();
    for (value, map) in maps {
        if !matches!(value, Value::Object(ObjType::Map)) {
            read.unreadable.push(key.to_owned());
            continue;
        }
        for item in doc.map_range(&map, ..) {
            let stamp = parse_event_id(&item.key);
            let sealed = match &item.value {
                automerge::ValueRef::Scalar(automerge::ScalarValueRef::Bytes(b)) => {
                    Some(Sealed::Bytes(b.to_vec()))
                }
                automerge::ValueRef::Scalar(automerge::ScalarValueRef::Str(s)) => {
                    Some(Sealed::Text(s.to_string()))
                }
                _ => None,
            };
            match (stamp, sealed) {
                (Some(stamp), Some(sealed)) => events.push((stamp, sealed)),
                _ => read.unreadable.push(format!("{key}/{}", item.key)),
            }
        }
    }
    events
}

/// A sealed value: bytes (format 2) or text (format 1).
fn sealed_of(value: &Value<'_>) -> Option<Sealed> {
    match value {
        Value::Scalar(s) => Sealed::of(s),
        Value::Object(_) => None,
    }
}

fn text_of(value: &Value<'_>) -> Option<String> {
    match value {
        Value::Scalar(s) => s.as_str().map(str::to_owned),
        Value::Object(_) => None,
    }
}

/// `<wall ms>.<counter>.<node>`: sorts by time within a ticket, parses back exactly.
pub fn event_id(stamp: &Stamp) -> String {
    event_id_of(stamp)
}

fn event_id_of(stamp: &Stamp) -> String {
    format!("{}.{}.{}", stamp.hlc.wall_ms, stamp.hlc.counter, stamp.node)
}

/// `None` for anything a document should not hold, an invalid node id included: a
/// document comes from peers, and what it says is checked like a frame is.
fn parse_event_id(id: &str) -> Option<Stamp> {
    let mut parts = id.splitn(3, '.');
    let wall_ms = parts.next()?.parse().ok()?;
    let counter = parts.next()?.parse().ok()?;
    let node = NodeId::new(parts.next()?).ok()?;
    Some(Stamp::new(Hlc::new(wall_ms, counter), node))
}

/// `None` for anything but `<node id>~<incarnation>/<seq>` ([`TicketId`]'s text), as
/// [`parse_event_id`].
fn parse_ticket_id(id: &str) -> Option<TicketId> {
    id.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authority::{Authority, REFERENCE_BYTES, Roster};
    use crate::testing::{TestAuthority, TestSigner};
    use aufruf_model::{
        HlcClock, Incarnation, OfficeConfig, Origin, Role, ServiceId, Timestamp, node_id,
    };
    use automerge::ActorId;

    /// The store every ticket of these tests is issued from.
    const INC: Incarnation = Incarnation::new(0x0000_0001);

    fn office() -> OfficeConfig {
        crate::example_office().unwrap()
    }

    /// What changed in the document between two sets of heads, by a diff of the whole
    /// document: the reference `changed_since` is held to.
    fn changed_between(doc: &Automerge, before: &[ChangeHash], after: &[ChangeHash]) -> Changed {
        let mut changed = Changed::default();
        for patch in doc.diff(before, after) {
            // The key a patch is under: the first step of its path (the second when
            // the first is a block), or, for a new key of the root or of a block, the
            // key it puts.
            let mut steps = patch.path.iter().map(|(_, prop)| match prop {
                automerge::Prop::Map(key) => Some(key.clone()),
                automerge::Prop::Seq(_) => None,
            });
            let put = match &patch.action {
                automerge::PatchAction::PutMap { key, .. } => Some(key.clone()),
                _ => None,
            };
            let key = match steps.next().flatten() {
                Some(block) if block.starts_with(BLOCK) => steps.next().flatten().or(put),
                Some(key) => Some(key),
                None => put,
            };
            if let Some(key) = key {
                changed.add(&key);
            }
        }
        changed
    }

    fn doc(actor: &str) -> Automerge {
        Automerge::new().with_actor(ActorId::from(actor.as_bytes()))
    }

    const DOCUMENT: &str = "day/2026-03-10";

    /// The test key of whoever writes `event`: its stamp's node, the gateway for
    /// bookings; the role by the node's name.
    fn signer_of(event: &Event) -> TestSigner {
        let node = match event {
            Event::Ticket { stamp, .. } | Event::Desk { stamp, .. } => stamp.node.clone(),
            Event::Booked(_) => node_id!("gateway"),
        };
        TestSigner::new(&node, role_of(&node))
    }

    fn role_of(node: &NodeId) -> Role {
        ["kiosk", "desk", "gateway", "display"]
            .into_iter()
            .find(|prefix| node.as_str().starts_with(prefix))
            .and_then(|prefix| prefix.parse().ok())
            .unwrap_or(Role::Display)
    }

    /// Every node the tests write as, with its test certificate.
    fn roster() -> &'static Roster {
        static ROSTER: std::sync::OnceLock<Roster> = std::sync::OnceLock::new();
        ROSTER.get_or_init(|| {
            let mut roster = Roster::default();
            let nodes = ["kiosk-1", "kiosk-2", "gateway", "display-1"]
                .into_iter()
                .map(str::to_owned)
                .chain((1..=6).map(|n| format!("desk-{n}")));
            for node in nodes {
                let node = NodeId::new(node).unwrap();
                let signer = TestSigner::new(&node, role_of(&node));
                roster.learn(
                    &signer.fingerprint()[..crate::authority::FINGERPRINT_DIGITS],
                    TestAuthority.certificate(signer.certificate_der()),
                );
            }
            roster
        })
    }

    fn seals() -> Seals<'static> {
        Seals {
            roster: roster(),
            authority: &TestAuthority,
            document: DOCUMENT,
            window_ms: (0, u64::MAX),
            held: None,
        }
    }

    fn write(doc: &mut Automerge, events: &[Event]) {
        doc.transact::<_, _, DayDocError>(|tx| {
            for e in events {
                let signer = signer_of(e);
                let sealer = Sealer {
                    signer: &signer,
                    document: DOCUMENT,
                };
                write_event(tx, e, &sealer)?;
            }
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn ids_round_trip() {
        let stamp = Stamp::new(Hlc::new(1_773_100_800_123, 7), node_id!("desk.3"));
        assert_eq!(parse_event_id(&event_id(&stamp)), Some(stamp));
        let ticket = TicketId::new(node_id!("kiosk.1_a-b"), INC, 42);
        assert_eq!(parse_ticket_id(&ticket.to_string()), Some(ticket));
        assert_eq!(parse_event_id("12.x.node"), None);
        assert_eq!(parse_ticket_id("/3"), None);
    }

    #[test]
    fn ids_with_a_node_id_no_node_may_have_are_refused() {
        for event in ["12.3.", "12.3.desk/3", "12.3.../x", "12.3.kiosk 1"] {
            assert_eq!(parse_event_id(event), None, "{event}");
        }
        let long = "k".repeat(65);
        assert_eq!(parse_event_id(&format!("12.3.{long}")), None);
        for ticket in [
            "kiosk/1/42",
            "../kiosk/4",
            "kiosk:1/4",
            "kiösk/4",
            "../kiosk~00000001/4",
            "kiösk~00000001/4",
            "kiosk-1~0000001/4",
        ] {
            assert_eq!(parse_ticket_id(ticket), None, "{ticket}");
        }
        assert_eq!(parse_ticket_id(&format!("{long}~00000001/4")), None);
    }

    #[test]
    fn a_day_written_is_the_day_read_back() {
        let config = office();
        let mut day = Day::new();
        let mut kiosk = HlcClock::new(node_id!("kiosk-1"));
        let mut desk = HlcClock::new(node_id!("desk-1"));
        let mut events = vec![Event::Booked(Appointment {
            cancelled: false,
            code: "XK7P".into(),
            service: ServiceId::new("reisepass"),
            due: Timestamp::from_minutes(30),
            also: Vec::new(),
        })];
        day.apply(events[0].clone());
        let s = desk.tick(Timestamp::from_minutes(1));
        events.push(day.open_desk(&config, &"desk-1".into(), vec![], s).unwrap());
        for m in 2..5 {
            let s = kiosk.tick(Timestamp::from_minutes(m));
            events.push(
                day.issue(
                    &config,
                    &ServiceId::new("anmeldung"),
                    Origin::WalkIn,
                    INC,
                    s,
                )
                .unwrap(),
            );
        }
        desk.observe(day.latest());
        let s = desk.tick(Timestamp::from_minutes(6));
        events.push(
            day.call_next(&config, &"desk-1".into(), Timestamp::from_minutes(6), s)
                .unwrap(),
        );

        let mut d = doc("aa");
        write(&mut d, &events);
        let read = read_day(&d, &seals()).unwrap();
        assert!(read.unreadable.is_empty(), "{:?}", read.unreadable);
        assert_eq!(read.day, day);

        // Saved and loaded, the same.
        let loaded = Automerge::load(&d.save()).unwrap();
        assert_eq!(read_day(&loaded, &seals()).unwrap().day, day);
    }

    /// An appointment of several services reads back with them all; one naming a
    /// service twice, or more further services than the portal books, is not read.
    #[test]
    fn an_appointment_of_several_services_reads_back_and_a_malformed_one_does_not() {
        let booked = |code: &str, also: &[&str]| {
            Event::Booked(Appointment {
                cancelled: false,
                code: code.into(),
                service: ServiceId::new("reisepass"),
                due: Timestamp::from_minutes(30),
                also: also.iter().map(|s| ServiceId::new(*s)).collect(),
            })
        };
        let mut d = doc("aa");
        write(
            &mut d,
            &[
                booked("GOOD", &["personalausweis", "anmeldung"]),
                booked("TWICE", &["reisepass"]),
                booked("LONG", &["a", "b", "c", "d"]),
            ],
        );
        let read = read_day(&d, &seals()).unwrap();
        let mut unreadable = read.unreadable.clone();
        unreadable.sort();
        assert_eq!(unreadable, ["booking:LONG", "booking:TWICE"]);
        let good = read.day.appointment(&"GOOD".into()).unwrap();
        let services: Vec<&str> = good.services().map(ServiceId::as_str).collect();
        assert_eq!(services, ["reisepass", "personalausweis", "anmeldung"]);
        assert_eq!(read.day.appointments().count(), 1);
    }

    /// A day written before stores had incarnations (`ticket:kiosk-1/1`) still reads;
    /// the kiosk, updated, numbers on above its ticket, and a desk's call of it goes
    /// into that ticket's map.
    #[test]
    fn a_day_from_before_incarnations_reads_and_goes_on() {
        let config = office();
        let mut day = Day::new();
        let mut kiosk = HlcClock::new(node_id!("kiosk-1"));
        let mut desk = HlcClock::new(node_id!("desk-1"));
        let anmeldung = ServiceId::new("anmeldung");
        let mut d = doc("aa");
        let s = kiosk.tick(Timestamp::from_minutes(1));
        let before = day
            .issue(
                &config,
                &anmeldung,
                Origin::WalkIn,
                Incarnation::UNRECORDED,
                s,
            )
            .unwrap();
        write(&mut d, &[before]);
        assert_eq!(ticket_keys(&d), ["ticket:kiosk-1/1"]);

        let mut read = read_day(&d, &seals()).unwrap();
        assert!(read.unreadable.is_empty(), "{:?}", read.unreadable);
        assert_eq!(read.day, day);
        kiosk.observe(read.day.latest());
        let s = kiosk.tick(Timestamp::from_minutes(2));
        let after = read
            .day
            .issue(&config, &anmeldung, Origin::WalkIn, INC, s)
            .unwrap();
        let Event::Ticket { ticket, .. } = &after else {
            panic!("issue returns a ticket event")
        };
        assert_eq!(
            (ticket.seq, ticket.to_string().as_str()),
            (2, "kiosk-1~00000001/2")
        );
        desk.observe(read.day.latest());
        let s = desk.tick(Timestamp::from_minutes(3));
        let opened = read
            .day
            .open_desk(&config, &"desk-1".into(), vec![], s)
            .unwrap();
        let s = desk.tick(Timestamp::from_minutes(4));
        let called = read
            .day
            .call_next(&config, &"desk-1".into(), Timestamp::from_minutes(4), s)
            .unwrap();
        write(&mut d, &[after, opened, called]);
        let blocks: Vec<String> = d.keys(ROOT).filter(|k| k.starts_with(BLOCK)).collect();
        assert_eq!(blocks, ["tickets:kiosk-1/0", "tickets:kiosk-1~00000001/0"]);
        assert_eq!(
            ticket_keys(&d),
            ["ticket:kiosk-1/1", "ticket:kiosk-1~00000001/2"]
        );
        assert_eq!(read_day(&d, &seals()).unwrap().day, read.day);
    }

    /// The ticket keys in the blocks of `d`, in order.
    fn ticket_keys(d: &Automerge) -> Vec<String> {
        let mut keys = Vec::new();
        for block in d.keys(ROOT).filter(|k| k.starts_with(BLOCK)) {
            let (_, map) = d.get(ROOT, block.as_str()).unwrap().unwrap();
            keys.extend(d.keys(&map).filter(|k| k.starts_with(TICKET)));
        }
        keys
    }

    /// Issues `n` walk-in tickets at kiosk 1, a minute apart from `first_minute`.
    fn issue_walk_ins(
        day: &mut Day,
        kiosk: &mut HlcClock,
        first_minute: u64,
        n: u64,
    ) -> Vec<Event> {
        let config = office();
        (0..n)
            .map(|m| {
                kiosk.observe(day.latest());
                let s = kiosk.tick(Timestamp::from_minutes(first_minute + m));
                day.issue(
                    &config,
                    &ServiceId::new("anmeldung"),
                    Origin::WalkIn,
                    INC,
                    s,
                )
                .unwrap()
            })
            .collect()
    }

    /// A store's 64 tickets share a block: the root of a day holds a key per block,
    /// not one per ticket and one per status token.
    #[test]
    fn tickets_and_their_status_tokens_go_into_blocks_of_64() {
        let mut day = Day::new();
        let mut kiosk = HlcClock::new(node_id!("kiosk-1"));
        let events = issue_walk_ins(&mut day, &mut kiosk, 1, 130);
        let mut d = doc("aa");
        let signer = TestSigner::new(&node_id!("kiosk-1"), Role::Kiosk);
        let sealer = Sealer {
            signer: &signer,
            document: DOCUMENT,
        };
        let mut tokens = Vec::new();
        for (i, event) in events.iter().enumerate() {
            let Event::Ticket { ticket, .. } = event else {
                panic!("issue returns a ticket event")
            };
            let token = format!("{i:032x}");
            d.transact::<_, _, DayDocError>(|tx| {
                write_event(tx, event, &sealer)?;
                write_status_token(tx, &token, ticket, &sealer)
            })
            .unwrap();
            tokens.push((token, ticket.clone()));
        }
        let root: Vec<String> = d.keys(ROOT).collect();
        assert_eq!(
            root,
            [
                "schema",
                "tickets:kiosk-1~00000001/0",
                "tickets:kiosk-1~00000001/128",
                "tickets:kiosk-1~00000001/64",
            ]
        );
        assert_eq!(ticket_keys(&d).len(), 130);
        assert_eq!(read_day(&d, &seals()).unwrap().day, day);
        for (token, ticket) in &tokens {
            assert_eq!(
                ticket_of_status_token(&d, token, &seals()).as_ref(),
                Some(ticket)
            );
        }
        assert_eq!(ticket_of_status_token(&d, &"f".repeat(32), &seals()), None);
    }

    /// A status token only counts sealed by the ticket's issuer and in the ticket's
    /// own block: another node's key cannot point a citizen's link at another ticket.
    #[test]
    fn a_status_token_of_another_author_or_in_another_block_does_not_count() {
        let mut day = Day::new();
        let mut kiosk = HlcClock::new(node_id!("kiosk-1"));
        let events = issue_walk_ins(&mut day, &mut kiosk, 1, 65);
        let mut d = doc("aa");
        write(&mut d, &events);
        let first = TicketId::new(node_id!("kiosk-1"), INC, 1);
        let kiosk_2 = TestSigner::new(&node_id!("kiosk-2"), Role::Kiosk);
        let kiosk_1 = TestSigner::new(&node_id!("kiosk-1"), Role::Kiosk);
        let (forged, misplaced) = ("a".repeat(32), "b".repeat(32));
        d.transact::<_, _, DayDocError>(|tx| {
            let sealer = |signer| Sealer {
                signer,
                document: DOCUMENT,
            };
            // Kiosk 2 claims a token for kiosk 1's ticket.
            write_status_token(tx, &forged, &first, &sealer(&kiosk_2))?;
            // Kiosk 1's real seal for its first ticket, put into the second block.
            let block_key = block_key(&first);
            let entry = format!("{STATUS}{misplaced}");
            let value = sealer(&kiosk_1).seal(&block_key, &entry, &first.to_string())?;
            let other = block_key_of_seq(64);
            let (_, second_block) = tx.get(ROOT, other.as_str())?.unwrap();
            tx.put(&second_block, entry, value)?;
            Ok(())
        })
        .unwrap();
        assert_eq!(ticket_of_status_token(&d, &forged, &seals()), None);
        assert_eq!(ticket_of_status_token(&d, &misplaced, &seals()), None);
    }

    fn block_key_of_seq(seq: u32) -> String {
        block_key(&TicketId::new(node_id!("kiosk-1"), INC, seq))
    }

    /// A day written before blocks (layout 1: tickets and status tokens under the
    /// root) still reads; a ticket found there takes its next events there, and a
    /// new ticket goes into a block.
    #[test]
    fn a_day_of_layout_1_reads_and_goes_on() {
        let config = office();
        let mut day = Day::new();
        let mut kiosk = HlcClock::new(node_id!("kiosk-1"));
        let mut events = issue_walk_ins(&mut day, &mut kiosk, 1, 1);
        let Event::Ticket {
            ticket,
            stamp,
            event,
        } = &events[0]
        else {
            panic!("issue returns a ticket event")
        };
        let signer = TestSigner::new(&node_id!("kiosk-1"), Role::Kiosk);
        let key = format!("{TICKET}{ticket}");
        let token = "c".repeat(32);
        let mut d = doc("aa");
        d.transact::<_, _, DayDocError>(|tx| {
            tx.put(ROOT, "schema", 1_i64)?;
            let seal = |key: &str, entry: &str, body: &str| {
                authority::seal(&signer, DOCUMENT, key, entry, body).unwrap()
            };
            let map = tx.put_object(ROOT, key.as_str(), ObjType::Map)?;
            let entry = event_id(stamp);
            tx.put(
                &map,
                entry.as_str(),
                seal(&key, &entry, &serde_json::to_string(event)?),
            )?;
            let status = format!("{STATUS}{token}");
            tx.put(
                ROOT,
                status.as_str(),
                seal(&status, "", &ticket.to_string()),
            )?;
            Ok(())
        })
        .unwrap();
        assert_eq!(read_day(&d, &seals()).unwrap().day, day);
        assert_eq!(
            ticket_of_status_token(&d, &token, &seals()).as_ref(),
            Some(ticket)
        );

        let mut desk = HlcClock::new(node_id!("desk-1"));
        desk.observe(day.latest());
        let s = desk.tick(Timestamp::from_minutes(3));
        let opened = day.open_desk(&config, &"desk-1".into(), vec![], s).unwrap();
        let s = desk.tick(Timestamp::from_minutes(4));
        let called = day
            .call_next(&config, &"desk-1".into(), Timestamp::from_minutes(4), s)
            .unwrap();
        let later = issue_walk_ins(&mut day, &mut kiosk, 5, 1);
        write(&mut d, &[opened, called]);
        write(&mut d, &later);
        events.extend(later);
        let (_, map) = d.get(ROOT, key.as_str()).unwrap().unwrap();
        assert_eq!(
            d.length(&map),
            2,
            "the call went into the ticket's root map"
        );
        assert_eq!(ticket_keys(&d), ["ticket:kiosk-1~00000001/2"]);
        assert_eq!(read_day(&d, &seals()).unwrap().day, day);
    }

    #[test]
    fn concurrently_created_desk_maps_are_read_as_their_union() {
        let config = office();
        let mut one = doc("01");
        let mut two = doc("02");
        let mut a = Day::new();
        let mut b = Day::new();
        // Desk 1's terminal opens the desk, loses its disk, and opens it again as a
        // new automerge actor before the first opening reaches it.
        let ea = a
            .open_desk(
                &config,
                &"desk-1".into(),
                vec![],
                Stamp::new(Hlc::new(10, 0), node_id!("desk-1")),
            )
            .unwrap();
        let eb = b
            .open_desk(
                &config,
                &"desk-1".into(),
                vec![],
                Stamp::new(Hlc::new(11, 0), node_id!("desk-1")),
            )
            .unwrap();
        write(&mut one, std::slice::from_ref(&ea));
        write(&mut two, std::slice::from_ref(&eb));
        one.merge(&mut two).unwrap();
        let key = format!("{DESK}desk-1");
        assert_eq!(
            one.get_all(ROOT, key.as_str()).unwrap().len(),
            2,
            "a real conflict"
        );
        let read = read_day(&one, &seals()).unwrap();
        let mut both = Day::new();
        both.apply(ea);
        both.apply(eb);
        assert_eq!(read.day, both);
    }

    #[test]
    fn changes_name_the_tickets_they_touched() {
        let config = office();
        let mut day = Day::new();
        let mut kiosk = HlcClock::new(node_id!("kiosk-1"));
        let mut d = doc("aa");
        let s = kiosk.tick(Timestamp::from_minutes(1));
        let first = day
            .issue(
                &config,
                &ServiceId::new("anmeldung"),
                Origin::WalkIn,
                INC,
                s,
            )
            .unwrap();
        write(&mut d, &[first]);
        let before = d.get_heads();
        let s = kiosk.tick(Timestamp::from_minutes(2));
        let second = day
            .issue(
                &config,
                &ServiceId::new("anmeldung"),
                Origin::WalkIn,
                INC,
                s,
            )
            .unwrap();
        write(&mut d, &[second]);
        let changed = changed_between(&d, &before, &d.get_heads());
        assert_eq!(
            changed.tickets.iter().cloned().collect::<Vec<_>>(),
            vec![TicketId::new(node_id!("kiosk-1"), INC, 2)]
        );
        assert!(changed.other_keys.is_empty());
        let mut maps = RootMaps::of(&Automerge::load(&d.save()).unwrap());
        assert_eq!(changed_since(&d, &before, &mut maps), Some(changed));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]
        /// Whatever three replicas write and merge, the cheap reading of the new
        /// operations names every root key the diff of the whole document names (and
        /// perhaps a key whose value was written again unchanged), and reading only
        /// those gives the day a full read gives.
        #[test]
        fn the_operations_of_new_changes_name_what_the_diff_names(
            steps in proptest::collection::vec((0_usize..3, 0_usize..4, 0_u32..6), 1..40),
            cut in 0_usize..40,
        ) {
            let config = office();
            let nodes = ["kiosk-1", "kiosk-2", "desk-1"];
            let mut docs: Vec<Automerge> = nodes.iter().map(|n| doc(n)).collect();
            let mut clocks: Vec<HlcClock> = nodes.iter().map(|n| HlcClock::new(NodeId::new(*n).unwrap())).collect();
            let mut days = [Day::new(), Day::new(), Day::new()];
            let mut before = Vec::new();
            let mut maps = RootMaps::default();
            let mut read = DayRead::default();
            for (i, (who, what, n)) in steps.iter().enumerate() {
                if i == cut.min(steps.len() - 1) {
                    // The reader catches up here.
                    before = docs[2].get_heads();
                    maps = RootMaps::of(&docs[2]);
                    read = read_day(&docs[2], &seals()).unwrap();
                }
                let now = Timestamp::from_minutes(u64::try_from(i).unwrap() + 1);
                clocks[*who].observe(days[*who].latest());
                let stamp = clocks[*who].tick(now);
                let event = match what {
                    0 if *who < 2 => days[*who]
                        .issue(&config, &ServiceId::new("anmeldung"), Origin::WalkIn, INC, stamp)
                        .ok(),
                    1 => days[*who].open_desk(&config, &"desk-1".into(), vec![], stamp).ok(),
                    2 => Some(Event::Booked(Appointment { cancelled: false,
                        code: format!("B{n}").as_str().into(),
                        service: ServiceId::new("reisepass"),
                        due: Timestamp::from_minutes(u64::from(*n) * 10),
                     also: Vec::new(), })),
                    _ => {
                        // Merge another replica's changes in.
                        let other = (who + 1 + usize::try_from(*n).unwrap() % 2) % 3;
                        let mut theirs = docs[other].clone();
                        docs[*who].merge(&mut theirs).unwrap();
                        days[*who] = read_day(&docs[*who], &seals()).unwrap().day;
                        None
                    }
                };
                if let Some(event) = event {
                    write(&mut docs[*who], &[event]);
                }
            }
            let after = docs[2].get_heads();
            let slow = changed_between(&docs[2], &before, &after);
            let fast = changed_since(&docs[2], &before, &mut maps);
            proptest::prop_assert!(fast.is_some(), "every object is known");
            let fast = fast.unwrap_or_default();
            proptest::prop_assert!(fast.tickets.is_superset(&slow.tickets), "{fast:?} {slow:?}");
            proptest::prop_assert!(fast.other_keys.is_superset(&slow.other_keys), "{fast:?} {slow:?}");
            read_changed(&docs[2], &fast, &mut read, &seals()).unwrap();
            proptest::prop_assert_eq!(&read.day, &read_day(&docs[2], &seals()).unwrap().day);
        }
    }

    #[test]
    fn a_newer_layout_is_refused_and_garbage_is_skipped() {
        let mut d = doc("aa");
        d.transact::<_, _, AutomergeError>(|tx| {
            tx.put(ROOT, "schema", 1_i64)?;
            let m = tx.put_object(ROOT, "ticket:kiosk-1~00000001/1", ObjType::Map)?;
            tx.put(&m, "5.0.kiosk-1", "{not json")?;
            tx.put(&m, "no-stamp", "{}")?;
            Ok(())
        })
        .unwrap();
        let read = read_day(&d, &seals()).unwrap();
        assert_eq!(read.unreadable, ["ticket:kiosk-1~00000001/1/no-stamp"]);
        assert_eq!(
            read.refused.values().collect::<Vec<_>>(),
            [&Unaccepted::Unsealed]
        );
        assert_eq!(read.day.tickets().count(), 0);

        // A newer layout only on the administrator's word: any enrolled key could
        // write a plain number and stop every node.
        let newer = SCHEMA + 1;
        d.transact::<_, _, AutomergeError>(|tx| tx.put(ROOT, "schema", newer))
            .unwrap();
        assert!(read_day(&d, &seals()).is_ok());
        d.transact::<_, _, AutomergeError>(|tx| tx.put(ROOT, "schema", format!("{newer}:00ff")))
            .unwrap();
        assert!(read_day(&d, &seals()).is_ok(), "a forged signature");
        let signature =
            crate::testing::admin_sign(schema_statement(DOCUMENT, newer).as_bytes()).unwrap();
        let signed = format!("{newer}:{}", authority::hex(&signature));
        d.transact::<_, _, AutomergeError>(|tx| tx.put(ROOT, "schema", signed.as_str()))
            .unwrap();
        assert!(matches!(
            read_day(&d, &seals()),
            Err(DayDocError::NewerSchema { found }) if found == newer
        ));
    }

    /// Node ids come back from documents peers wrote; one no node may have is skipped
    /// like any other malformed entry, and the rest of the day is read.
    #[test]
    fn entries_naming_an_invalid_node_are_skipped() {
        let config = office();
        let mut day = Day::new();
        let mut kiosk = HlcClock::new(node_id!("kiosk-1"));
        let s = kiosk.tick(Timestamp::from_minutes(2));
        let issued = day
            .issue(
                &config,
                &ServiceId::new("anmeldung"),
                Origin::WalkIn,
                INC,
                s,
            )
            .unwrap();
        let mut d = doc("aa");
        write(&mut d, std::slice::from_ref(&issued));
        let Event::Ticket { event, .. } = &issued else {
            panic!("issue returns a ticket event")
        };
        let good_event = serde_json::to_string(event).unwrap();
        d.transact::<_, _, AutomergeError>(|tx| {
            // A ticket of a node that cannot exist.
            let m = tx.put_object(ROOT, "ticket:../etc~00000001/1", ObjType::Map)?;
            tx.put(&m, "5.0.kiosk-1", good_event.as_str())?;
            // An event stamped by one, under the good ticket.
            let (_, block) = tx.get(ROOT, "tickets:kiosk-1~00000001/0")?.unwrap();
            let (_, good) = tx.get(&block, "ticket:kiosk-1~00000001/1")?.unwrap();
            tx.put(&good, "6.0.desk/3", good_event.as_str())?;
            // A desk event stamped by one.
            let desk = tx.put_object(ROOT, "desk:desk-1", ObjType::Map)?;
            tx.put(&desk, format!("7.0.{}", "d".repeat(65)), "{}")?;
            Ok(())
        })
        .unwrap();
        let read = read_day(&d, &seals()).unwrap();
        let mut unreadable = read.unreadable.clone();
        unreadable.sort();
        assert_eq!(
            unreadable,
            vec![
                format!("desk:desk-1/7.0.{}", "d".repeat(65)),
                "ticket:../etc~00000001/1".to_owned(),
                "ticket:kiosk-1~00000001/1/6.0.desk/3".to_owned(),
            ]
        );
        assert_eq!(read.day, day);
    }

    /// Issue 3's budget: a day of 3,000 tickets, each issued, called, served and
    /// finished (12,000 events), stays well under 150 KB as a saved document and is
    /// read back whole.
    #[test]
    fn a_busy_day_stays_small() {
        let mut config = office();
        config.number_blocks[0].last = 9999;
        let mut day = Day::new();
        let mut kiosk = HlcClock::new(node_id!("kiosk-1"));
        let mut desks: Vec<(DeskId, HlcClock)> = (1..=6)
            .map(|n| {
                (
                    DeskId::new(format!("desk-{n}")),
                    HlcClock::new(NodeId::new(format!("desk-{n}")).unwrap()),
                )
            })
            .collect();
        let mut events = Vec::new();
        let mut t = 1_773_100_800_000_u64;
        for (desk, clock) in &mut desks {
            clock.observe(day.latest());
            let s = clock.tick(Timestamp::from_millis(t));
            events.push(day.open_desk(&config, desk, vec![], s).unwrap());
        }
        let services = [
            "meldebescheinigung",
            "anmeldung",
            "personalausweis",
            "reisepass",
        ];
        for i in 0..3000_usize {
            t += 10_000;
            kiosk.observe(day.latest());
            let s = kiosk.tick(Timestamp::from_millis(t));
            let service = ServiceId::new(services[i % 4]);
            events.push(
                day.issue(&config, &service, Origin::WalkIn, INC, s)
                    .unwrap(),
            );
            let (desk, clock) = &mut desks[i % 6];
            for step in 0..3 {
                t += 1000;
                clock.observe(day.latest());
                let s = clock.tick(Timestamp::from_millis(t));
                let event = match step {
                    0 => day.call_next(&config, desk, Timestamp::from_millis(t), s),
                    1 => day.start_serving(desk, s),
                    _ => day.finish(desk, s),
                };
                events.push(event.unwrap());
            }
        }
        let mut d = doc("aa");
        for e in &events {
            write(&mut d, std::slice::from_ref(e));
        }
        let root = d.keys(ROOT).count();
        assert_eq!(
            root,
            1 + 6 + 3000_usize.div_ceil(64),
            "schema, desks, blocks"
        );
        let saved = d.save();
        // The events themselves stay within the budget; each seal adds its format
        // tag, certificate reference, signature length and signature, which do not
        // compress (a real ECDSA signature is 64 bytes: about 0.9 MB for such a
        // day; format 1 wrote it as 128 hex digits behind a 16-digit reference).
        let seal = 1 + REFERENCE_BYTES + 1 + 8;
        let budget = 150_000 + events.len() * seal;
        assert!(
            saved.len() < budget,
            "{} bytes, budget {budget}",
            saved.len()
        );
        let loaded = Automerge::load(&saved).unwrap();
        assert_eq!(read_day(&loaded, &seals()).unwrap().day, day);
    }
}
