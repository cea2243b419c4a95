//! The sans-IO protocol core: every peer session of one node and the node's
//! in-memory documents, driven by [`Replicator::handle`] with the time passed in.
//!
//! It owns the handshake (protocol version, office id, node id, role), the automerge
//! sync of each named document with each peer, announcing documents, heartbeats and
//! dead-peer detection, the frame-size limit and the send budget (back-pressure).
//!
//! Changes spread like this: a local change goes to every peer at once, pushed as
//! it is in a `changes` frame with the sender's heads. A receiver that has the
//! change's dependencies applies it with `apply_changes`, which costs the same at
//! the day's last ticket as at its first; automerge's sync protocol, whose every
//! received message walks the document's whole history, runs only to start a
//! session and to catch up. Changes merged from peer S, pushed or synced, go on at
//! once as a push to every other peer that does not itself have a session with S
//! (peers tell each other whom they are connected to with a `Peers` frame); in a
//! full mesh that takes the n² relays of a desk call off its critical path.
//!
//! What each peer has is tracked per document: the heads we last told it and the
//! heads it last told us. Every tick, a peer that has not heard our current heads
//! and has not told us the same heads gets a small `heads` frame; a node whose
//! peer's heads are still unknown to it at its next tick starts an automerge sync
//! round with that peer, and so does a node that receives a change whose
//! dependencies it lacks (such a change is dropped, not queued, so a peer cannot
//! fill our memory with orphans). That makes up the skipped relays within two ticks
//! however many changes they saw, and covers peers whose session with S died
//! unnoticed.
//!
//! The shell delivers [`Input`]s and carries out the returned [`Output`]s: it writes
//! frames, closes connections, persists changed documents and sync states. The shell
//! is `aufruf-sync`, which re-exports this crate as `aufruf_sync::protocol`; [`name`]
//! (document names, office and node ids, roles) and [`frame`] (the byte layout) are
//! its modules here.
//!
//! **Architecture Invariant**: this crate reads no clock, opens no socket, spawns no
//! thread, draws no random numbers and knows nothing of tokio, sled or TLS. Cargo
//! enforces the part it can: the crate depends on automerge, thiserror and tracing
//! only, so the shell's crates are not there to be used; `clippy.toml` next to
//! `Cargo.toml` disallows std's clocks, sockets, threads and files. Time is the
//! `now` argument, a `Duration` since an arbitrary epoch chosen by the shell; the
//! automerge actor of every document the core creates comes from the caller
//! ([`Replicator::with_actors`]); automerge's `Automerge::new()` still draws a
//! random actor inside, which the core replaces at once.
//!
//! **Architecture Invariant**: a frame that is malformed, truncated, oversized or
//! unexpected ends that peer's session with a [`SessionError`] before any document is
//! touched.
//!
//! **Architecture Invariant**: what one peer can make this node hold or do is
//! bounded. Per session: frames and bytes per [`Limits::quota_window`] (a peer over
//! either is cut off, and its hellos are refused for [`Limits::cut_off_for`]);
//! documents it makes this node create ([`Limits::max_documents`], names new to this
//! node only); day documents only within the window the shell sets
//! ([`Replicator::retire_before`], [`Replicator::accept_days_until`]) — others are
//! ignored, not an error; from peers only plain, uncompressed change chunks, in pushes
//! and in sync messages alike, checked before automerge reads them (a document or
//! compressed chunk would be inflated before anything could bound its size; this
//! node's own sync messages are automerge's version 1, which carries changes only).
//!
//! Clocks: when the shell tells the core the node's wall clock
//! ([`Replicator::set_wall_clock`]), the core tells each peer (a `clock` frame after
//! the hello and every [`Limits::clock_every`]) and reports how far each peer's clock
//! is from its own ([`Replicator::peer_clocks`]); what to make of that is the office's
//! business.

pub mod frame;
pub mod name;

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transaction;
use automerge::{ActorId, Automerge, Change, ChangeHash, ReadDoc};

use frame::{DecodeError, Frame, Head, Hello, PROTOCOL_VERSION};
pub use name::{DocumentName, NameError, NodeId, OfficeId, Role};

/// How the core limits what peers may do and when it gives up on them.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest frame accepted or sent, in bytes.
    pub max_frame_len: usize,
    /// Send a heartbeat when nothing was sent for this long.
    pub heartbeat_every: Duration,
    /// End a session whose peer sent nothing for this long.
    pub silent_after: Duration,
    /// End a session whose peer has not said hello within this time.
    pub hello_within: Duration,
    /// Bytes handed to the shell for one connection and not yet reported
    /// [`Input::Sent`] above which no more sync messages are generated for it.
    pub send_budget: usize,
    /// Most documents one peer may make this node create by announcing them (names
    /// this node already has, or ignores, do not count).
    pub max_documents: usize,
    /// Most node ids one peer may list as its own peers.
    pub max_peers: usize,
    /// Most heads a `changes` or `heads` frame may carry.
    pub max_heads: usize,
    /// Most changes one `changes` frame may carry.
    pub max_changes_per_frame: usize,
    /// The window over which a peer's frames and bytes are counted.
    pub quota_window: Duration,
    /// Most frames one peer may send within a [`Limits::quota_window`].
    pub max_frames_per_window: usize,
    /// Most bytes one peer may send within a [`Limits::quota_window`].
    pub max_bytes_per_window: usize,
    /// How long a peer cut off for flooding is refused a new session.
    pub cut_off_for: Duration,
    /// How often a node tells each peer its wall clock (when the shell gave it one).
    pub clock_every: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_len: 16 * 1024 * 1024,
            heartbeat_every: Duration::from_secs(1),
            silent_after: Duration::from_secs(5),
            hello_within: Duration::from_secs(5),
            send_budget: 4 * 1024 * 1024,
            max_documents: 4096,
            max_peers: 1024,
            max_heads: 256,
            max_changes_per_frame: 1024,
            // A new device catching up takes about 2 MiB per 3,000-ticket day (its
            // 12,000 changes as they are), a few frames per document; an office at
            // its busiest sends each peer a few dozen frames a second. A catch-up
            // beyond the quota goes on after the cut-off, from where it stopped.
            quota_window: Duration::from_secs(10),
            max_frames_per_window: 50_000,
            max_bytes_per_window: 64 * 1024 * 1024,
            cut_off_for: Duration::from_secs(60),
            clock_every: Duration::from_secs(10),
        }
    }
}

/// A peer's wall clock compared with this node's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerClock {
    /// The peer.
    pub node: NodeId,
    /// How far the peer's wall clock is ahead of this node's, in milliseconds
    /// (negative: behind).
    pub ahead_ms: i64,
}

/// Who this node is.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The office it belongs to.
    pub office: OfficeId,
    /// The node itself.
    pub node: NodeId,
    /// What it does.
    pub role: Role,
}

/// One transport connection as the shell numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(pub u64);

/// Something that happened, told to the core.
#[derive(Debug)]
pub enum Input<'a> {
    /// A transport connection is up (for TLS: after the handshake). `certified_node`
    /// is the node id the peer's certificate names; the peer's hello must match it.
    Connected {
        /// The connection.
        connection: ConnectionId,
        /// The node id from the peer's certificate, if the transport has one.
        certified_node: Option<NodeId>,
    },
    /// One frame arrived (without the shell's length prefix).
    Frame {
        /// The connection it came on.
        connection: ConnectionId,
        /// The frame's bytes.
        bytes: &'a [u8],
    },
    /// The shell wrote this many bytes of earlier [`Output::Send`]s to the transport.
    Sent {
        /// The connection.
        connection: ConnectionId,
        /// Bytes written.
        bytes: usize,
    },
    /// The transport connection is gone.
    Disconnected {
        /// The connection.
        connection: ConnectionId,
    },
    /// Time passed; heartbeats and silence checks run.
    Tick,
}

/// Something the shell must do or may want to know.
#[derive(Debug, PartialEq)]
pub enum Output {
    /// Write this frame on the connection (the shell adds the length prefix).
    Send {
        /// The connection.
        connection: ConnectionId,
        /// The frame.
        frame: Vec<u8>,
    },
    /// Close the connection; the core has already forgotten the session.
    Close {
        /// The connection.
        connection: ConnectionId,
        /// Why.
        error: SessionError,
    },
    /// The handshake succeeded.
    PeerReady {
        /// The connection.
        connection: ConnectionId,
        /// The peer.
        peer: Hello,
    },
    /// A document changed through sync: persist `chunk` (the automerge chunks the
    /// peer sent, possibly including changes this node already had) and tell the
    /// readers.
    DocumentChanged {
        /// The document.
        name: DocumentName,
        /// The new changes.
        chunk: Vec<u8>,
    },
    /// A peer sent changes that automerge holds back until their dependencies
    /// arrive: persist `chunk` like [`Output::DocumentChanged`], but the document
    /// looks the same as before.
    ChangesQueued {
        /// The document.
        name: DocumentName,
        /// The chunks the peer sent.
        chunk: Vec<u8>,
    },
    /// A peer announced a document this node did not have; it now exists, empty.
    DocumentAnnounced {
        /// The document.
        name: DocumentName,
    },
    /// Persist this encoded sync state so a reconnect sends only what is new.
    SyncStateChanged {
        /// The peer.
        peer: NodeId,
        /// The document.
        name: DocumentName,
        /// `automerge::sync::State::encode()`.
        state: Vec<u8>,
    },
    /// automerge panicked while applying a peer's changes (its `MissingOps` path);
    /// the in-memory document was dropped. Reload it from the store and give it
    /// back with [`Replicator::restore_document`].
    DocumentDamaged {
        /// The document.
        name: DocumentName,
    },
}

/// Why a peer's session ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// A frame longer than [`Limits::max_frame_len`].
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    Oversized {
        /// The frame's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A frame that does not decode.
    #[error("malformed frame: {0}")]
    Malformed(#[from] DecodeError),
    /// A frame that is valid but not allowed now (e.g. sync before hello).
    #[error("unexpected frame: {0}")]
    Unexpected(&'static str),
    /// The peer speaks another protocol version.
    #[error("peer speaks protocol version {theirs}, we speak {ours}")]
    ProtocolVersion {
        /// Theirs.
        theirs: u16,
        /// Ours.
        ours: u16,
    },
    /// The peer belongs to another office.
    #[error("peer belongs to office {0}")]
    ForeignOffice(OfficeId),
    /// The peer's hello names another node than its certificate.
    #[error("peer says it is {said} but its certificate names {certified}")]
    IdentityMismatch {
        /// From the hello.
        said: NodeId,
        /// From the certificate.
        certified: NodeId,
    },
    /// We connected to ourselves.
    #[error("connected to itself")]
    SelfConnection,
    /// The peer announced more documents than [`Limits::max_documents`].
    #[error("peer announced too many documents")]
    TooManyDocuments,
    /// The peer listed more peers than [`Limits::max_peers`].
    #[error("peer listed too many peers")]
    TooManyPeers,
    /// The peer sent more heads than [`Limits::max_heads`].
    #[error("peer sent too many heads")]
    TooManyHeads,
    /// The peer pushed more changes in one frame than
    /// [`Limits::max_changes_per_frame`].
    #[error("peer pushed too many changes in one frame")]
    TooManyChanges,
    /// A pushed change that is not a plain automerge change, or that automerge
    /// refused.
    #[error("change for {name} refused: {reason}")]
    ChangeRefused {
        /// The document.
        name: DocumentName,
        /// What was wrong.
        reason: String,
    },
    /// An automerge sync message that automerge refused.
    #[error("sync message for {name} refused: {reason}")]
    SyncRefused {
        /// The document.
        name: DocumentName,
        /// automerge's complaint.
        reason: String,
    },
    /// A sync message that carries something other than plain change chunks: a
    /// document or a compressed chunk (which automerge would inflate before anything
    /// bounds its size), refused unread.
    #[error(
        "sync message for {name} refused unread: it carries a chunk of type {chunk_type}, not plain changes"
    )]
    PackedChunk {
        /// The document.
        name: DocumentName,
        /// The automerge chunk type found (0 document, 2 compressed change, 3 bundle).
        chunk_type: u8,
    },
    /// The peer sent more frames or bytes within [`Limits::quota_window`] than
    /// [`Limits::max_frames_per_window`] or [`Limits::max_bytes_per_window`].
    #[error("peer sent more than {limit} {what} within {window:?}")]
    Flooding {
        /// "frames" or "bytes".
        what: &'static str,
        /// The limit it went over.
        limit: usize,
        /// The window.
        window: Duration,
    },
    /// The peer was cut off for flooding a moment ago and may not come back yet.
    #[error("peer {0} was cut off for flooding; it may come back later")]
    CutOff(NodeId),
    /// No hello within [`Limits::hello_within`].
    #[error("no hello in time")]
    HelloTimeout,
    /// Nothing heard within [`Limits::silent_after`].
    #[error("peer silent for too long")]
    PeerSilent,
}

/// A successful local change.
#[derive(Debug)]
pub struct LocalChange<R> {
    /// What the closure returned.
    pub value: R,
    /// The change as an automerge chunk to persist (empty when nothing changed).
    pub chunk: Vec<u8>,
    /// Frames for peers; send them only after `chunk` is durable.
    pub outputs: Vec<Output>,
}

/// All sessions and documents of one node. See the module docs.
#[derive(Debug)]
pub struct Replicator {
    identity: Identity,
    limits: Limits,
    new_actor: ActorSource,
    documents: BTreeMap<DocumentName, Automerge>,
    saved_sync_states: BTreeMap<(NodeId, DocumentName), Vec<u8>>,
    /// Day documents before this one are retired: dropped here and ignored when a
    /// peer still offers them, so deleted personal data does not come back.
    horizon: Option<DocumentName>,
    /// Day documents after this one are ignored when a peer offers them.
    until: Option<DocumentName>,
    sessions: BTreeMap<ConnectionId, Session>,
    /// The node's wall clock (ms since 1970) as the shell last told it, and when.
    wall: Option<(Duration, u64)>,
    /// Nodes cut off for flooding, and until when their hellos are refused.
    cut_off: BTreeMap<NodeId, Duration>,
}

#[derive(Debug)]
struct Session {
    certified_node: Option<NodeId>,
    peer: Option<Hello>,
    opened_at: Duration,
    last_heard: Duration,
    last_sent: Duration,
    unconfirmed_bytes: usize,
    documents: BTreeMap<DocumentName, PeerDocument>,
    /// Documents whose next sync message waits for send budget.
    waiting: BTreeSet<DocumentName>,
    /// The nodes the peer says it has sessions with.
    their_peers: BTreeSet<NodeId>,
    /// The documents the peer announced in its greeting.
    greeting: BTreeSet<DocumentName>,
    /// The peer's greeting is complete: its first `peers` frame arrived. A node
    /// greets a peer with, in this order, the announcement of every document it has,
    /// a sync message or (for a document without changes) a `heads` frame per
    /// document, and its `peers` frame; frames of one connection arrive in order.
    greeted: bool,
    /// When the current quota window began, and the frames and bytes heard in it.
    window_start: Duration,
    window_frames: usize,
    window_bytes: usize,
    /// Documents this peer's announcements made this node create.
    created: usize,
    /// The peer's wall clock (ms since 1970) as it last told it, and when it arrived.
    their_clock: Option<(Duration, u64)>,
    /// When this node last told the peer its wall clock.
    clock_told: Option<Duration>,
}

/// One document as replicated with one peer.
#[derive(Debug, Default)]
struct PeerDocument {
    /// automerge's sync state, for session starts and catch-up rounds.
    sync: sync::State,
    /// Our heads as we last told the peer (in a push, a heads frame or a sync
    /// message); the peer has them once our frames arrive.
    told: Vec<ChangeHash>,
    /// The peer's heads as it last told us in a push or a heads frame.
    heard: Option<Vec<ChangeHash>>,
}

impl PeerDocument {
    fn resumed(sync: sync::State) -> Self {
        PeerDocument {
            sync,
            told: Vec::new(),
            heard: None,
        }
    }
}

/// Names the automerge actor of each document the core creates.
struct ActorSource(Box<dyn FnMut(&DocumentName) -> ActorId + Send>);

impl std::fmt::Debug for ActorSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ActorSource")
    }
}

impl Replicator {
    /// A core with no documents and no sessions that names the actor of each
    /// document it creates `<node id>/<n>`, counting from 0: runs replay exactly.
    ///
    /// For simulations and tests. A node that keeps running after its store was lost
    /// or set aside would reuse those actors for different changes, which its peers
    /// refuse; real nodes use [`Replicator::with_actors`] with random actors.
    pub fn new(identity: Identity, limits: Limits) -> Self {
        let node = identity.node.clone();
        let mut created: u64 = 0;
        Self::with_actors(identity, limits, move |_| {
            let actor = ActorId::from(format!("{node}/{created}").into_bytes());
            created += 1;
            actor
        })
    }

    /// A core with no documents and no sessions; `new_actor` names the automerge
    /// actor of each document the core creates (by a local change or because a peer
    /// announced it). Every call must return an actor never used before for that
    /// document, by any node: the shell passes random ones (`ActorId::random`).
    pub fn with_actors(
        identity: Identity,
        limits: Limits,
        new_actor: impl FnMut(&DocumentName) -> ActorId + Send + 'static,
    ) -> Self {
        Replicator {
            identity,
            limits,
            new_actor: ActorSource(Box::new(new_actor)),
            documents: BTreeMap::new(),
            saved_sync_states: BTreeMap::new(),
            sessions: BTreeMap::new(),
            horizon: None,
            until: None,
            wall: None,
            cut_off: BTreeMap::new(),
        }
    }

    /// Retires every day document dated before `horizon` (a `day/…` name): drops it
    /// with its sync states, and from now on ignores peers that still announce or sync
    /// such days. Returns the documents dropped, for the shell to delete from disk.
    /// The horizon only moves forward.
    pub fn retire_before(&mut self, horizon: DocumentName) -> Vec<DocumentName> {
        if !matches!(horizon, DocumentName::Day { .. }) {
            return Vec::new();
        }
        if self.horizon.as_ref().is_none_or(|h| *h < horizon) {
            self.horizon = Some(horizon);
        }
        let retired: Vec<DocumentName> = self
            .documents
            .keys()
            .filter(|name| self.is_retired(name))
            .cloned()
            .collect();
        for name in &retired {
            self.documents.remove(name);
            for session in self.sessions.values_mut() {
                session.documents.remove(name);
                session.waiting.remove(name);
            }
            self.saved_sync_states.retain(|(_, doc), _| doc != name);
        }
        retired
    }

    /// Whether `name` is a day before the horizon.
    pub fn is_retired(&self, name: &DocumentName) -> bool {
        matches!(name, DocumentName::Day { .. }) && self.horizon.as_ref().is_some_and(|h| name < h)
    }

    /// From now on ignores day documents after `last` (a `day/…` name) when a peer
    /// announces, syncs or pushes them: a peer cannot make this node keep days no
    /// booking reaches. The shell moves it forward as days pass. Documents this node
    /// has already are kept, and its own changes to later days are its own business.
    pub fn accept_days_until(&mut self, last: DocumentName) {
        if matches!(last, DocumentName::Day { .. }) {
            self.until = Some(last);
        }
    }

    /// Whether peers' frames about `name` are ignored: a day before the retention's
    /// horizon or after [`Replicator::accept_days_until`].
    fn ignores(&self, name: &DocumentName) -> bool {
        matches!(name, DocumentName::Day { .. })
            && (self.horizon.as_ref().is_some_and(|h| name < h)
                || self.until.as_ref().is_some_and(|last| name > last))
    }

    /// The node's wall clock (milliseconds since 1970) at `now`, as the shell reads it;
    /// the core tells peers and compares theirs with it. Call it as often as the shell
    /// likes (the shell's replica does before every input).
    pub fn set_wall_clock(&mut self, now: Duration, wall_ms: u64) {
        self.wall = Some((now, wall_ms));
    }

    /// How far each peer's wall clock is ahead of this node's at `now` (negative:
    /// behind), for the peers with a finished handshake that told theirs; empty while
    /// the shell has not told the core its own.
    pub fn peer_clocks(&self, now: Duration) -> Vec<PeerClock> {
        let Some(ours) = self.wall_at(now) else {
            return Vec::new();
        };
        self.sessions
            .values()
            .filter_map(|session| {
                let peer = session.peer.as_ref()?;
                let (heard, theirs) = session.their_clock?;
                let since = i128::try_from(now.saturating_sub(heard).as_millis()).unwrap_or(0);
                let theirs = i128::from(theirs) + since;
                let ahead = theirs - i128::from(ours);
                Some(PeerClock {
                    node: peer.node.clone(),
                    ahead_ms: i64::try_from(ahead).unwrap_or(if ahead < 0 {
                        i64::MIN
                    } else {
                        i64::MAX
                    }),
                })
            })
            .collect()
    }

    /// The wall clock at `now`, from the last reading the shell gave, moved on by the
    /// monotonic time since.
    fn wall_at(&self, now: Duration) -> Option<u64> {
        let (at, wall) = self.wall?;
        let since = u64::try_from(now.saturating_sub(at).as_millis()).unwrap_or(u64::MAX);
        Some(wall.saturating_add(since))
    }

    /// Who this node is.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Adds a document loaded at start-up (before any session exists).
    pub fn insert_document(&mut self, name: DocumentName, document: Automerge) {
        self.documents.insert(name, document);
    }

    /// Gives the core a sync state saved earlier, used when `peer` next connects.
    pub fn restore_sync_state(&mut self, peer: NodeId, name: DocumentName, state: Vec<u8>) {
        self.saved_sync_states.insert((peer, name), state);
    }

    /// A document, if this node has it.
    pub fn document(&self, name: &DocumentName) -> Option<&Automerge> {
        self.documents.get(name)
    }

    /// The names of all documents this node has.
    pub fn document_names(&self) -> impl Iterator<Item = &DocumentName> {
        self.documents.keys()
    }

    /// A peer this node has caught up from: one whose greeting has arrived whole
    /// and who has told this node its heads of every document it announced in it, all
    /// of which this node holds. From then on the node holds everything that peer held
    /// when it greeted — for a node whose store was lost, all of its own earlier
    /// tickets that reached that peer. `None` while there is no such peer.
    pub fn caught_up_from(&self) -> Option<&NodeId> {
        self.sessions.values().find_map(|session| {
            let peer = session.peer.as_ref()?;
            if !session.greeted {
                return None;
            }
            let holds_all = session
                .greeting
                .iter()
                .filter(|name| !self.is_retired(name))
                .all(|name| {
                    let (Some(state), Some(document)) =
                        (session.documents.get(name), self.documents.get(name))
                    else {
                        return false;
                    };
                    if state.heard.is_none() && state.sync.their_heads.is_none() {
                        // Its sync message is still on its way (held back by the
                        // send budget, or not greeted with).
                        return false;
                    }
                    let ours = document.get_heads();
                    state
                        .heard
                        .iter()
                        .chain(state.sync.their_heads.iter())
                        .flatten()
                        .all(|head| has_change(document, &ours, head))
                });
            holds_all.then_some(&peer.node)
        })
    }

    /// The peers with a finished handshake, by connection.
    pub fn peers(&self) -> impl Iterator<Item = (ConnectionId, &Hello)> {
        self.sessions
            .iter()
            .filter_map(|(id, session)| session.peer.as_ref().map(|peer| (*id, peer)))
    }

    /// Applies a local change to a document (creating the document if it is new)
    /// and prepares the frames that carry it to the peers.
    pub fn change<R, E>(
        &mut self,
        now: Duration,
        name: &DocumentName,
        change: impl FnOnce(&mut Transaction<'_>) -> Result<R, E>,
    ) -> Result<LocalChange<R>, E> {
        let mut outputs = Vec::new();
        let is_new = !self.documents.contains_key(name);
        let new_actor = &mut self.new_actor.0;
        let document = self
            .documents
            .entry(name.clone())
            .or_insert_with(|| Automerge::new().with_actor(new_actor(name)));
        let before = document.get_heads();
        let value = match document.transact(change) {
            Ok(success) => success.result,
            Err(failure) => {
                if is_new {
                    self.documents.remove(name);
                }
                return Err(failure.error);
            }
        };
        // A transaction commits exactly one change, or none when it wrote nothing.
        let chunk = if document.get_heads() == before {
            Vec::new()
        } else {
            document
                .get_last_local_change()
                .map(|change| change.raw_bytes().to_vec())
                .unwrap_or_else(|| document.save_after(&before))
        };
        if is_new {
            self.announce_to_all(now, name, &mut outputs);
        }
        if !chunk.is_empty() {
            let peers: Vec<ConnectionId> = self.peers().map(|(id, _)| id).collect();
            self.push(
                now,
                &peers,
                name,
                std::slice::from_ref(&chunk),
                &mut outputs,
            );
        }
        Ok(LocalChange {
            value,
            chunk,
            outputs,
        })
    }

    /// Puts back a document reloaded after [`Output::DocumentDamaged`] (or replaces
    /// one wholesale). Every session's sync state for it starts afresh, because the
    /// old states describe a document instance that is gone.
    pub fn restore_document(
        &mut self,
        now: Duration,
        name: DocumentName,
        document: Automerge,
    ) -> Vec<Output> {
        let mut outputs = Vec::new();
        self.documents.insert(name.clone(), document);
        self.saved_sync_states.retain(|(_, doc), _| *doc != name);
        for session in self.sessions.values_mut() {
            if session.documents.contains_key(&name) {
                session
                    .documents
                    .insert(name.clone(), PeerDocument::default());
            }
        }
        self.announce_to_all(now, &name, &mut outputs);
        self.sync_all(now, &name, &mut outputs);
        outputs
    }

    /// Feeds one input to the core and returns what the shell must do.
    pub fn handle(&mut self, now: Duration, input: Input<'_>) -> Vec<Output> {
        let mut outputs = Vec::new();
        match input {
            Input::Connected {
                connection,
                certified_node,
            } => {
                self.sessions.insert(
                    connection,
                    Session {
                        certified_node,
                        peer: None,
                        opened_at: now,
                        last_heard: now,
                        last_sent: now,
                        unconfirmed_bytes: 0,
                        documents: BTreeMap::new(),
                        waiting: BTreeSet::new(),
                        their_peers: BTreeSet::new(),
                        greeting: BTreeSet::new(),
                        greeted: false,
                        window_start: now,
                        window_frames: 0,
                        window_bytes: 0,
                        created: 0,
                        their_clock: None,
                        clock_told: None,
                    },
                );
                let hello = Frame::Hello(Hello {
                    protocol_version: PROTOCOL_VERSION,
                    office: self.identity.office.clone(),
                    node: self.identity.node.clone(),
                    role: self.identity.role,
                });
                self.send(now, connection, &hello, &mut outputs);
            }
            Input::Frame { connection, bytes } => {
                if let Err(error) = self.receive(now, connection, bytes, &mut outputs) {
                    tracing::info!(?connection, %error, "ending peer session");
                    self.end_session(now, connection, &mut outputs);
                    outputs.push(Output::Close { connection, error });
                }
            }
            Input::Sent { connection, bytes } => {
                if let Some(session) = self.sessions.get_mut(&connection) {
                    session.unconfirmed_bytes = session.unconfirmed_bytes.saturating_sub(bytes);
                    let waiting = std::mem::take(&mut session.waiting);
                    for name in waiting {
                        self.sync_one(now, connection, &name, &mut outputs);
                    }
                }
            }
            Input::Disconnected { connection } => self.end_session(now, connection, &mut outputs),
            Input::Tick => self.tick(now, &mut outputs),
        }
        outputs
    }

    /// Ends silent sessions, catches up peers whose relay was skipped, and sends
    /// heartbeats where nothing else went out.
    fn tick(&mut self, now: Duration, outputs: &mut Vec<Output>) {
        let mut expired = Vec::new();
        for (connection, session) in &self.sessions {
            if session.peer.is_none() {
                if now.saturating_sub(session.opened_at) >= self.limits.hello_within {
                    expired.push((*connection, SessionError::HelloTimeout));
                }
            } else if now.saturating_sub(session.last_heard) >= self.limits.silent_after {
                expired.push((*connection, SessionError::PeerSilent));
            }
        }
        for (connection, error) in expired {
            tracing::info!(?connection, %error, "ending peer session");
            self.end_session(now, connection, outputs);
            outputs.push(Output::Close { connection, error });
        }
        let (rounds, tell) = self.catch_up_due();
        for (connection, name) in rounds {
            self.start_round(now, connection, &name, outputs);
        }
        for (connection, name) in tell {
            self.tell_heads(now, connection, &name, outputs);
        }
        let clock_due: Vec<ConnectionId> = self
            .sessions
            .iter()
            .filter(|(_, session)| {
                session.peer.is_some()
                    && session
                        .clock_told
                        .is_none_or(|told| now.saturating_sub(told) >= self.limits.clock_every)
            })
            .map(|(id, _)| *id)
            .collect();
        for connection in clock_due {
            self.tell_clock(now, connection, outputs);
        }
        let quiet: Vec<ConnectionId> = self
            .sessions
            .iter()
            .filter(|(_, session)| {
                session.peer.is_some()
                    && now.saturating_sub(session.last_sent) >= self.limits.heartbeat_every
                    && session.unconfirmed_bytes < self.limits.send_budget
            })
            .map(|(id, _)| *id)
            .collect();
        for connection in quiet {
            self.send(now, connection, &Frame::Heartbeat, outputs);
        }
    }

    /// Whether the next tick has nothing to do but heartbeats and silence checks: no
    /// peer told heads this node lacks, and every peer that may not know our heads
    /// has been told them. (A simulation is settled only when every node is idle.)
    pub fn is_idle(&self) -> bool {
        let (rounds, tell) = self.catch_up_due();
        rounds.is_empty() && tell.is_empty()
    }

    /// The tick's catch-up: peers that told us heads we still lack get a sync round
    /// (first list); peers that may not know our heads are told them (second).
    #[allow(clippy::type_complexity)]
    fn catch_up_due(
        &self,
    ) -> (
        Vec<(ConnectionId, DocumentName)>,
        Vec<(ConnectionId, DocumentName)>,
    ) {
        let mut rounds = Vec::new();
        let mut tell = Vec::new();
        let heads: BTreeMap<&DocumentName, Vec<ChangeHash>> = self
            .documents
            .iter()
            .map(|(name, document)| (name, document.get_heads()))
            .collect();
        for (connection, session) in &self.sessions {
            if session.peer.is_none() {
                continue;
            }
            for (name, state) in &session.documents {
                let (Some(document), Some(ours)) = (self.documents.get(name), heads.get(name))
                else {
                    continue;
                };
                if let Some(heard) = &state.heard {
                    if heard == ours {
                        continue;
                    }
                    if heard.iter().any(|head| !has_change(document, ours, head)) {
                        rounds.push((*connection, name.clone()));
                        continue;
                    }
                }
                if state.told != *ours {
                    tell.push((*connection, name.clone()));
                }
            }
        }
        (rounds, tell)
    }

    fn receive(
        &mut self,
        now: Duration,
        connection: ConnectionId,
        bytes: &[u8],
        outputs: &mut Vec<Output>,
    ) -> Result<(), SessionError> {
        let Some(session) = self.sessions.get_mut(&connection) else {
            return Ok(());
        };
        if bytes.len() > self.limits.max_frame_len {
            return Err(SessionError::Oversized {
                len: bytes.len(),
                max: self.limits.max_frame_len,
            });
        }
        if let Err(flooding) = count_against_quota(session, now, bytes.len(), &self.limits) {
            // Its hellos are refused for a while: reconnecting must not reset its quota.
            if let Some(node) = session
                .peer
                .as_ref()
                .map(|peer| &peer.node)
                .or(session.certified_node.as_ref())
            {
                self.cut_off.retain(|_, until| *until > now);
                self.cut_off
                    .insert(node.clone(), now + self.limits.cut_off_for);
            }
            return Err(flooding);
        }
        let frame = Frame::decode(bytes)?;
        session.last_heard = now;
        match (frame, session.peer.is_some()) {
            (Frame::Hello(hello), false) => self.greet(now, connection, hello, outputs),
            (Frame::Hello(_), true) => Err(SessionError::Unexpected("second hello")),
            (_, false) => Err(SessionError::Unexpected("frame before hello")),
            (Frame::Heartbeat, true) => Ok(()),
            (Frame::Clock { wall_ms }, true) => {
                if let Some(session) = self.sessions.get_mut(&connection) {
                    session.their_clock = Some((now, wall_ms));
                }
                Ok(())
            }
            (Frame::Peers(nodes), true) => {
                if nodes.len() > self.limits.max_peers {
                    return Err(SessionError::TooManyPeers);
                }
                if let Some(session) = self.sessions.get_mut(&connection) {
                    session.their_peers = nodes.into_iter().collect();
                    session.greeted = true;
                }
                Ok(())
            }
            (Frame::Announce(names), true) => self.learn(now, connection, names, outputs),
            (Frame::Sync { name, message }, true) => {
                self.apply_sync(now, connection, name, &message, outputs)
            }
            (
                Frame::Changes {
                    name,
                    heads,
                    changes,
                },
                true,
            ) => self.apply_pushed(now, connection, name, &heads, changes, outputs),
            (Frame::Heads { name, heads }, true) => self.hear_heads(connection, name, &heads),
        }
    }

    fn greet(
        &mut self,
        now: Duration,
        connection: ConnectionId,
        hello: Hello,
        outputs: &mut Vec<Output>,
    ) -> Result<(), SessionError> {
        if hello.protocol_version != PROTOCOL_VERSION {
            return Err(SessionError::ProtocolVersion {
                theirs: hello.protocol_version,
                ours: PROTOCOL_VERSION,
            });
        }
        if hello.office != self.identity.office {
            return Err(SessionError::ForeignOffice(hello.office));
        }
        if hello.node == self.identity.node {
            return Err(SessionError::SelfConnection);
        }
        if self
            .cut_off
            .get(&hello.node)
            .is_some_and(|until| now < *until)
        {
            return Err(SessionError::CutOff(hello.node));
        }
        let Some(session) = self.sessions.get_mut(&connection) else {
            return Ok(());
        };
        if let Some(certified) = &session.certified_node
            && *certified != hello.node
        {
            return Err(SessionError::IdentityMismatch {
                said: hello.node,
                certified: certified.clone(),
            });
        }
        session.peer = Some(hello.clone());
        outputs.push(Output::PeerReady {
            connection,
            peer: hello,
        });
        let names: Vec<DocumentName> = self.documents.keys().cloned().collect();
        for chunk in names.chunks(usize::from(u16::MAX)) {
            self.send(now, connection, &Frame::Announce(chunk.to_vec()), outputs);
        }
        for name in &names {
            self.start_document(connection, name);
            self.sync_one(now, connection, name, outputs);
            // With nothing to offer the sync waits for the peer to open it; the peer
            // still learns that there is nothing here (see `caught_up_from`).
            if self
                .documents
                .get(name)
                .is_some_and(|document| document.get_heads().is_empty())
            {
                self.tell_heads(now, connection, name, outputs);
            }
        }
        self.tell_peers(now, outputs);
        self.tell_clock(now, connection, outputs);
        Ok(())
    }

    fn learn(
        &mut self,
        now: Duration,
        connection: ConnectionId,
        names: Vec<DocumentName>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), SessionError> {
        // Days outside the window are ignored: before it, the peer has not retired
        // them yet (they are not taken back); after it, no booking reaches them.
        let names: Vec<DocumentName> = names
            .into_iter()
            .filter(|name| !self.ignores(name))
            .collect();
        // Only names new to this node cost it anything; the peer's count of them
        // never comes down in a session.
        let new_names = names
            .iter()
            .filter(|name| !self.documents.contains_key(*name))
            .collect::<BTreeSet<&DocumentName>>()
            .len();
        let Some(session) = self.sessions.get_mut(&connection) else {
            return Ok(());
        };
        session.created += new_names;
        if session.created > self.limits.max_documents {
            return Err(SessionError::TooManyDocuments);
        }
        if let Some(session) = self.sessions.get_mut(&connection)
            && !session.greeted
        {
            session.greeting.extend(names.iter().cloned());
        }
        for name in names {
            if !self.documents.contains_key(&name) {
                let actor = (self.new_actor.0)(&name);
                self.documents
                    .insert(name.clone(), Automerge::new().with_actor(actor));
                outputs.push(Output::DocumentAnnounced { name: name.clone() });
                // Our other peers learn of it too; they may not talk to the sender.
                self.announce_to_all(now, &name, outputs);
            }
            if self.start_document(connection, &name) {
                self.send(
                    now,
                    connection,
                    &Frame::Announce(vec![name.clone()]),
                    outputs,
                );
            }
            self.sync_one(now, connection, &name, outputs);
        }
        Ok(())
    }

    fn apply_sync(
        &mut self,
        now: Duration,
        connection: ConnectionId,
        name: DocumentName,
        message: &[u8],
        outputs: &mut Vec<Output>,
    ) -> Result<(), SessionError> {
        if self.ignores(&name) {
            return Ok(());
        }
        let sender = self
            .sessions
            .get(&connection)
            .and_then(|session| session.peer.as_ref())
            .map(|peer| peer.node.clone());
        let others = self.relay_targets(connection, sender.as_ref());
        let Some(session) = self.sessions.get_mut(&connection) else {
            return Ok(());
        };
        let Some(PeerDocument { sync: state, .. }) = session.documents.get_mut(&name) else {
            return Err(SessionError::Unexpected(
                "sync for a document never announced",
            ));
        };
        let Some(document) = self.documents.get_mut(&name) else {
            return Err(SessionError::Unexpected(
                "sync for a document being reloaded",
            ));
        };
        let message =
            sync::Message::decode(message).map_err(|error| SessionError::SyncRefused {
                name: name.clone(),
                reason: error.to_string(),
            })?;
        plain_changes_only(&name, message.changes.iter())?;
        let before: Vec<ChangeHash> = document.get_heads();
        // The received chunks are what gets persisted: automerge takes them as they
        // are (skipping duplicates on load), and it spares re-encoding them with
        // `save_after`, which cost as much as applying them.
        let received_chunks: Vec<u8> = message.changes.iter().flatten().copied().collect();
        let received_count = message.changes.len();
        let received = catch_unwind(AssertUnwindSafe(|| {
            document.receive_sync_message(state, message)
        }));
        match received {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                return Err(SessionError::SyncRefused {
                    name,
                    reason: error.to_string(),
                });
            }
            Err(_) => {
                tracing::error!(document = %name, "automerge panicked applying a sync message; document dropped for reload");
                self.drop_damaged(&name, outputs);
                return Err(SessionError::SyncRefused {
                    name,
                    reason: "automerge panicked".to_owned(),
                });
            }
        }
        if let Some(peer) = &sender {
            outputs.push(Output::SyncStateChanged {
                peer: peer.clone(),
                name: name.clone(),
                state: state.encode(),
            });
        }
        let changed = document.get_heads() != before;
        if changed {
            outputs.push(Output::DocumentChanged {
                name: name.clone(),
                chunk: received_chunks,
            });
            self.sync_one(now, connection, &name, outputs);
            self.pass_on(now, &others, &name, &before, received_count, outputs);
        } else {
            // Changes whose dependencies have not arrived wait inside automerge; they
            // must be on disk too, or they would be missing after a restart while the
            // saved sync state says we have them. Plain duplicates are not stored.
            if !received_chunks.is_empty() && !document.get_missing_deps(&[]).is_empty() {
                outputs.push(Output::ChangesQueued {
                    name: name.clone(),
                    chunk: received_chunks,
                });
            }
            self.sync_one(now, connection, &name, outputs);
        }
        Ok(())
    }

    /// Applies changes a peer pushed. Changes whose dependencies this node lacks are
    /// not kept (automerge would queue them without bound); the peer has them, and
    /// the sync round started here fetches them with their dependencies.
    fn apply_pushed(
        &mut self,
        now: Duration,
        connection: ConnectionId,
        name: DocumentName,
        heads: &[Head],
        changes: Vec<Vec<u8>>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), SessionError> {
        if heads.len() > self.limits.max_heads {
            return Err(SessionError::TooManyHeads);
        }
        if changes.len() > self.limits.max_changes_per_frame {
            return Err(SessionError::TooManyChanges);
        }
        if self.ignores(&name) {
            return Ok(());
        }
        let Some(session) = self.sessions.get_mut(&connection) else {
            return Ok(());
        };
        let sender = session.peer.as_ref().map(|peer| peer.node.clone());
        let Some(state) = session.documents.get_mut(&name) else {
            return Err(SessionError::Unexpected(
                "changes for a document never announced",
            ));
        };
        let Some(document) = self.documents.get_mut(&name) else {
            return Err(SessionError::Unexpected(
                "changes for a document being reloaded",
            ));
        };
        let changes = parse_changes(&name, changes)?;
        let before = document.get_heads();
        let mut ready: Vec<Change> = Vec::new();
        let mut ready_hashes: BTreeSet<ChangeHash> = BTreeSet::new();
        let mut missing = false;
        for change in changes {
            let hash = change.hash();
            if ready_hashes.contains(&hash) || has_change(document, &before, &hash) {
                continue;
            }
            let deps_here = change
                .deps()
                .iter()
                .all(|dep| ready_hashes.contains(dep) || has_change(document, &before, dep));
            if deps_here {
                ready_hashes.insert(hash);
                ready.push(change);
            } else {
                missing = true;
            }
        }
        state.heard = Some(hashes(heads));
        if !ready.is_empty() {
            let raw: Vec<Vec<u8>> = ready.iter().map(|c| c.raw_bytes().to_vec()).collect();
            let applied = catch_unwind(AssertUnwindSafe(|| document.apply_changes(ready)));
            match applied {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    return Err(SessionError::ChangeRefused {
                        name,
                        reason: error.to_string(),
                    });
                }
                Err(_) => {
                    tracing::error!(document = %name, "automerge panicked applying pushed changes; document dropped for reload");
                    self.drop_damaged(&name, outputs);
                    return Err(SessionError::ChangeRefused {
                        name,
                        reason: "automerge panicked".to_owned(),
                    });
                }
            }
            let after = document.get_heads();
            if state.heard.as_ref() == Some(&after) {
                // Both sides have exactly this: a reconnect starts from here.
                state.sync.shared_heads = after;
            }
            outputs.push(Output::DocumentChanged {
                name: name.clone(),
                chunk: raw.concat(),
            });
            let others = self.relay_targets(connection, sender.as_ref());
            self.push(now, &others, &name, &raw, outputs);
        }
        if missing {
            self.start_round(now, connection, &name, outputs);
        }
        Ok(())
    }

    /// Notes a peer's heads. Heads this node does not know start a sync round at the
    /// next tick if they are still unknown then: the peer may have them from a node
    /// that pushed them to us too, and that push may just be on its way (under load
    /// that is the likely case, and every needless round walks the document's whole
    /// history on both sides).
    fn hear_heads(
        &mut self,
        connection: ConnectionId,
        name: DocumentName,
        heads: &[Head],
    ) -> Result<(), SessionError> {
        if heads.len() > self.limits.max_heads {
            return Err(SessionError::TooManyHeads);
        }
        if self.ignores(&name) {
            return Ok(());
        }
        let Some(session) = self.sessions.get_mut(&connection) else {
            return Ok(());
        };
        let Some(state) = session.documents.get_mut(&name) else {
            return Err(SessionError::Unexpected(
                "heads for a document never announced",
            ));
        };
        let Some(document) = self.documents.get(&name) else {
            // Being reloaded; the reload restarts every session's sync of it.
            return Ok(());
        };
        let theirs = hashes(heads);
        if theirs == document.get_heads() {
            state.sync.shared_heads.clone_from(&theirs);
        }
        state.heard = Some(theirs);
        Ok(())
    }

    /// Pushes changes of `name` (raw change chunks, dependencies first) with our
    /// heads to each of `connections` that syncs the document. A peer over its send
    /// budget gets nothing now; the next tick tells it our heads and it catches up.
    fn push(
        &mut self,
        now: Duration,
        connections: &[ConnectionId],
        name: &DocumentName,
        changes: &[Vec<u8>],
        outputs: &mut Vec<Output>,
    ) {
        let Some(document) = self.documents.get(name) else {
            return;
        };
        let heads = document.get_heads();
        if heads.len() > self.limits.max_heads || changes.len() > self.limits.max_changes_per_frame
        {
            // The peer would refuse the frame: let a sync round carry them.
            for connection in connections {
                self.sync_one(now, *connection, name, outputs);
            }
            return;
        }
        let mut encoded: Option<Vec<u8>> = None;
        for connection in connections {
            let Some(session) = self.sessions.get(connection) else {
                continue;
            };
            if session.peer.is_none()
                || !session.documents.contains_key(name)
                || session.unconfirmed_bytes >= self.limits.send_budget
            {
                continue;
            }
            let bytes = encoded
                .get_or_insert_with(|| {
                    Frame::Changes {
                        name: name.clone(),
                        heads: heads.iter().map(|head| head.0).collect(),
                        changes: changes.to_vec(),
                    }
                    .encode()
                })
                .clone();
            if self.send_encoded(now, *connection, bytes, outputs)
                && let Some(state) = self
                    .sessions
                    .get_mut(connection)
                    .and_then(|session| session.documents.get_mut(name))
            {
                state.told.clone_from(&heads);
            }
        }
    }

    /// Tells a peer our heads of `name`.
    fn tell_heads(
        &mut self,
        now: Duration,
        connection: ConnectionId,
        name: &DocumentName,
        outputs: &mut Vec<Output>,
    ) {
        let Some(document) = self.documents.get(name) else {
            return;
        };
        let heads = document.get_heads();
        if heads.len() > self.limits.max_heads {
            self.sync_one(now, connection, name, outputs);
            return;
        }
        let frame = Frame::Heads {
            name: name.clone(),
            heads: heads.iter().map(|head| head.0).collect(),
        };
        if self.send(now, connection, &frame, outputs)
            && let Some(state) = self
                .sessions
                .get_mut(&connection)
                .and_then(|session| session.documents.get_mut(name))
        {
            state.told = heads;
        }
    }

    /// Starts an automerge sync round with a peer whose heads we lack: our heads,
    /// a Bloom filter of what we have since the heads we last shared, and what we
    /// need. What the peer said it had in an earlier round is stale by now and is
    /// forgotten, or automerge would answer it with changes the peer has had pushed.
    fn start_round(
        &mut self,
        now: Duration,
        connection: ConnectionId,
        name: &DocumentName,
        outputs: &mut Vec<Output>,
    ) {
        let Some(state) = self
            .sessions
            .get_mut(&connection)
            .and_then(|session| session.documents.get_mut(name))
        else {
            return;
        };
        state.sync.their_have = None;
        state.sync.their_need = None;
        if let Some(heard) = &state.heard {
            state.sync.their_heads = Some(heard.clone());
        }
        state.sync.in_flight = false;
        self.sync_one(now, connection, name, outputs);
    }

    /// Forgets a document automerge panicked on; the shell reloads it.
    fn drop_damaged(&mut self, name: &DocumentName, outputs: &mut Vec<Output>) {
        self.documents.remove(name);
        for session in self.sessions.values_mut() {
            session.documents.remove(name);
            session.waiting.remove(name);
        }
        outputs.push(Output::DocumentDamaged { name: name.clone() });
    }

    /// Adds a document to a session's sync; true when it was not there yet.
    fn start_document(&mut self, connection: ConnectionId, name: &DocumentName) -> bool {
        let Some(session) = self.sessions.get_mut(&connection) else {
            return false;
        };
        if session.documents.contains_key(name) {
            return false;
        }
        let state = session
            .peer
            .as_ref()
            .and_then(|peer| {
                self.saved_sync_states
                    .get(&(peer.node.clone(), name.clone()))
            })
            .and_then(|bytes| sync::State::decode(bytes).ok())
            .unwrap_or_default();
        session
            .documents
            .insert(name.clone(), PeerDocument::resumed(state));
        true
    }

    fn announce_to_all(&mut self, now: Duration, name: &DocumentName, outputs: &mut Vec<Output>) {
        let ready: Vec<ConnectionId> = self.peers().map(|(id, _)| id).collect();
        for connection in ready {
            if self.start_document(connection, name) {
                self.send(
                    now,
                    connection,
                    &Frame::Announce(vec![name.clone()]),
                    outputs,
                );
                self.sync_one(now, connection, name, outputs);
            }
        }
    }

    fn sync_all(&mut self, now: Duration, name: &DocumentName, outputs: &mut Vec<Output>) {
        let ready: Vec<ConnectionId> = self.peers().map(|(id, _)| id).collect();
        for connection in ready {
            self.sync_one(now, connection, name, outputs);
        }
    }

    /// The peers that changes from `sender` (on connection `from`) are passed on to:
    /// every other peer except those that have a session with `sender` themselves,
    /// which sends them the same changes directly. Should that session have ended
    /// meanwhile, the tick's catch-up (see [`Replicator::tick`]) sends them within
    /// one tick.
    fn relay_targets(&self, from: ConnectionId, sender: Option<&NodeId>) -> Vec<ConnectionId> {
        self.sessions
            .iter()
            .filter(|(id, session)| {
                **id != from
                    && session.peer.is_some()
                    && !sender.is_some_and(|node| session.their_peers.contains(node))
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// Passes what a sync message brought (every change since `before`, also those
    /// automerge held back for a dependency that came with it) on to `others` as a
    /// push, at once and dependencies first. Passed on by a sync message, it cost each
    /// of them a round trip, and automerge answered a peer's stale `have` with every
    /// change since: after a heal each half's changes went round that half again.
    /// More than one push frame holds (`received` of them came in the message, a
    /// catch-up, say) go by a sync round, as [`Replicator::push`] would send them,
    /// without collecting them first.
    fn pass_on(
        &mut self,
        now: Duration,
        others: &[ConnectionId],
        name: &DocumentName,
        before: &[ChangeHash],
        received: usize,
        outputs: &mut Vec<Output>,
    ) {
        if received > self.limits.max_changes_per_frame {
            for connection in others {
                self.sync_one(now, *connection, name, outputs);
            }
            return;
        }
        if others.is_empty() {
            return;
        }
        let Some(document) = self.documents.get(name) else {
            return;
        };
        // In the order automerge applied them, which is dependencies first.
        let raw: Vec<Vec<u8>> = document
            .get_changes(before)
            .iter()
            .map(|change| change.raw_bytes().to_vec())
            .collect();
        self.push(now, others, name, &raw, outputs);
    }

    /// Tells every peer which nodes this node has sessions with now.
    fn tell_peers(&mut self, now: Duration, outputs: &mut Vec<Output>) {
        let nodes: BTreeSet<NodeId> = self.peers().map(|(_, hello)| hello.node.clone()).collect();
        let frame = Frame::Peers(nodes.into_iter().collect());
        let ready: Vec<ConnectionId> = self.peers().map(|(id, _)| id).collect();
        for connection in ready {
            self.send(now, connection, &frame, outputs);
        }
    }

    fn sync_one(
        &mut self,
        now: Duration,
        connection: ConnectionId,
        name: &DocumentName,
        outputs: &mut Vec<Output>,
    ) {
        let Some(session) = self.sessions.get_mut(&connection) else {
            return;
        };
        let (
            Some(PeerDocument {
                sync: state, told, ..
            }),
            Some(document),
        ) = (session.documents.get_mut(name), self.documents.get(name))
        else {
            return;
        };
        if session.unconfirmed_bytes >= self.limits.send_budget {
            session.waiting.insert(name.clone());
            return;
        }
        // automerge answers `None` in exactly this case too, but only after building
        // a Bloom filter and the list of changes to send; under a burst of changes
        // that cost dominated, so ask only when it can say something.
        let heads = document.get_heads();
        if state.in_flight && state.have_responded && state.last_sent_heads == heads {
            return;
        }
        // With nothing to offer, let the peer open: if both sides open, the empty
        // side's second message (still with empty heads) makes automerge think the
        // peer lost its data, and the whole document is sent twice.
        if heads.is_empty() && state.their_heads.is_none() {
            return;
        }
        // Version 1 messages only: a version 2 message may carry the whole document
        // as one compressed chunk, which peers refuse (see `plain_changes_only`). The
        // peer's capabilities come back with every message it sends.
        state.their_capabilities = None;
        if let Some(message) = document.generate_sync_message(state) {
            told.clone_from(&state.last_sent_heads);
            let frame = Frame::Sync {
                name: name.clone(),
                message: message.encode(),
            };
            self.send(now, connection, &frame, outputs);
        }
    }

    /// Tells a peer this node's wall clock, if the shell gave the core one.
    fn tell_clock(&mut self, now: Duration, connection: ConnectionId, outputs: &mut Vec<Output>) {
        let Some(wall_ms) = self.wall_at(now) else {
            return;
        };
        let within_budget = self
            .sessions
            .get(&connection)
            .is_some_and(|session| session.unconfirmed_bytes < self.limits.send_budget);
        if within_budget
            && self.send(now, connection, &Frame::Clock { wall_ms }, outputs)
            && let Some(session) = self.sessions.get_mut(&connection)
        {
            session.clock_told = Some(now);
        }
    }

    fn send(
        &mut self,
        now: Duration,
        connection: ConnectionId,
        frame: &Frame,
        outputs: &mut Vec<Output>,
    ) -> bool {
        self.send_encoded(now, connection, frame.encode(), outputs)
    }

    /// Hands an encoded frame to the shell; false when it was not sent.
    fn send_encoded(
        &mut self,
        now: Duration,
        connection: ConnectionId,
        bytes: Vec<u8>,
        outputs: &mut Vec<Output>,
    ) -> bool {
        let Some(session) = self.sessions.get_mut(&connection) else {
            return false;
        };
        if bytes.len() > self.limits.max_frame_len {
            // The peer would refuse it; better to say so here than to loop.
            tracing::error!(
                ?connection,
                len = bytes.len(),
                "frame over the size limit not sent"
            );
            return false;
        }
        session.last_sent = now;
        session.unconfirmed_bytes += bytes.len();
        outputs.push(Output::Send {
            connection,
            frame: bytes,
        });
        true
    }

    fn end_session(&mut self, now: Duration, connection: ConnectionId, outputs: &mut Vec<Output>) {
        let Some(session) = self.sessions.remove(&connection) else {
            return;
        };
        let Some(peer) = session.peer else {
            return;
        };
        self.tell_peers(now, outputs);
        for (name, state) in session.documents {
            let encoded = state.sync.encode();
            self.saved_sync_states
                .insert((peer.node.clone(), name.clone()), encoded.clone());
            outputs.push(Output::SyncStateChanged {
                peer: peer.node.clone(),
                name,
                state: encoded,
            });
        }
    }
}

/// Whether `document` has applied the change `hash`; `heads` are its heads, checked
/// first because that is where a pushed change's dependencies usually are.
fn has_change(document: &Automerge, heads: &[ChangeHash], hash: &ChangeHash) -> bool {
    heads.contains(hash) || document.get_change_meta_by_hash(hash).is_some()
}

/// Heads as they came over the wire, sorted and without repeats like automerge's.
fn hashes(heads: &[Head]) -> Vec<ChangeHash> {
    let set: BTreeSet<ChangeHash> = heads.iter().map(|head| ChangeHash(*head)).collect();
    set.into_iter().collect()
}

/// Where an automerge chunk keeps its checksum: after 4 magic bytes.
const CHECKSUM: std::ops::Range<usize> = 4..8;
/// Where an automerge chunk says what it is: after the magic and checksum bytes.
const CHUNK_TYPE_AT: usize = 8;
/// The chunk type of an uncompressed change.
const CHUNK_TYPE_CHANGE: u8 = 1;

/// Parses pushed changes, all or nothing. Only plain change chunks are taken: a
/// compressed one would be inflated before anything could bound its size.
fn parse_changes(name: &DocumentName, raw: Vec<Vec<u8>>) -> Result<Vec<Change>, SessionError> {
    raw.into_iter()
        .map(|bytes| {
            if bytes.get(CHUNK_TYPE_AT) != Some(&CHUNK_TYPE_CHANGE) {
                return Err(SessionError::ChangeRefused {
                    name: name.clone(),
                    reason: "not an uncompressed change chunk".to_owned(),
                });
            }
            let change = Change::try_from(bytes.as_slice()).map_err(|error| {
                SessionError::ChangeRefused {
                    name: name.clone(),
                    reason: error.to_string(),
                }
            })?;
            // automerge's loaders check the chunk's checksum (the first bytes of the
            // change's hash); `Change::try_from` does not.
            if bytes.get(CHECKSUM) != change.hash().0.get(..CHECKSUM.len()) {
                return Err(SessionError::ChangeRefused {
                    name: name.clone(),
                    reason: "checksum does not match".to_owned(),
                });
            }
            Ok(change)
        })
        .collect()
}

/// Counts one frame of `len` bytes against the session's quota; an error once the
/// peer is over either limit of the current window.
fn count_against_quota(
    session: &mut Session,
    now: Duration,
    len: usize,
    limits: &Limits,
) -> Result<(), SessionError> {
    if now.saturating_sub(session.window_start) >= limits.quota_window {
        session.window_start = now;
        session.window_frames = 0;
        session.window_bytes = 0;
    }
    session.window_frames += 1;
    session.window_bytes = session.window_bytes.saturating_add(len);
    let over = if session.window_frames > limits.max_frames_per_window {
        Some(("frames", limits.max_frames_per_window))
    } else if session.window_bytes > limits.max_bytes_per_window {
        Some(("bytes", limits.max_bytes_per_window))
    } else {
        None
    };
    match over {
        Some((what, limit)) => Err(SessionError::Flooding {
            what,
            limit,
            window: limits.quota_window,
        }),
        None => Ok(()),
    }
}

/// The bytes every automerge chunk starts with.
const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// Checks that a sync message's changes are plain change chunks, walking only the
/// chunk headers (magic, checksum, type, length): a document chunk (compressed
/// columns), a compressed change or a bundle would be inflated by automerge before
/// anything could bound its size. automerge parses the plain changes itself.
fn plain_changes_only<'a>(
    name: &DocumentName,
    entries: impl Iterator<Item = &'a [u8]>,
) -> Result<(), SessionError> {
    let refused = |reason: &str| SessionError::SyncRefused {
        name: name.clone(),
        reason: reason.to_owned(),
    };
    for entry in entries {
        let mut rest = entry;
        while !rest.is_empty() {
            if rest.get(..CHUNK_MAGIC.len()) != Some(CHUNK_MAGIC.as_slice()) {
                return Err(refused("not an automerge chunk"));
            }
            let Some(&chunk_type) = rest.get(CHUNK_TYPE_AT) else {
                return Err(refused("chunk header truncated"));
            };
            if chunk_type != CHUNK_TYPE_CHANGE {
                return Err(SessionError::PackedChunk {
                    name: name.clone(),
                    chunk_type,
                });
            }
            let (len, len_bytes) = uleb128(rest.get(CHUNK_TYPE_AT + 1..).unwrap_or_default())
                .ok_or_else(|| refused("chunk length unreadable"))?;
            let end = usize::try_from(len)
                .ok()
                .and_then(|len| len.checked_add(CHUNK_TYPE_AT + 1 + len_bytes))
                .filter(|end| *end <= rest.len())
                .ok_or_else(|| refused("chunk longer than the message"))?;
            rest = &rest[end..];
        }
    }
    Ok(())
}

/// An unsigned LEB128 number at the start of `bytes` and how many bytes it took;
/// `None` if it is cut off or does not fit 64 bits.
fn uleb128(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        let part = u64::from(byte & 0x7f);
        let shift = 7 * u32::try_from(i).ok()?;
        if shift == 63 && part > 1 {
            return None;
        }
        value |= part << shift;
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}
