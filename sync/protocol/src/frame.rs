//! The peer protocol's frames and their byte layout.
//!
//! A frame is what one length-prefixed record on the wire carries (the length prefix
//! itself belongs to the shell). Layout, all integers big endian:
//!
//! | kind | body |
//! |---|---|
//! | `1` hello | magic `AUFRUF`, protocol version `u16`, office id, node id, role `u8` |
//! | `2` announce | count `u16`, that many document names |
//! | `3` sync | document name, then the rest of the frame is one automerge sync message |
//! | `4` heartbeat | nothing |
//! | `5` peers | count `u16`, that many node ids |
//! | `6` changes | document name, heads, count `u16`, that many changes: length `u32` and an automerge change chunk |
//! | `7` heads | document name, heads |
//! | `8` clock | the sender's wall clock: milliseconds since 1970 `u64` |
//!
//! Ids and names are a `u8` length and that many UTF-8 bytes; heads are a count `u16`
//! and that many 32-byte change hashes. Decoding is strict: a short frame, trailing
//! bytes, an unknown kind or an invalid name is an error, and nothing is decoded
//! partially. Frames check only their own layout; how many heads or changes a peer
//! may send is the core's [`Limits`](crate::Limits).

use crate::name::{DocumentName, NameError, NodeId, OfficeId, Role};

/// The protocol version this build speaks; peers must speak the same.
///
/// 2: `changes` and `heads` frames (new changes are pushed as they are, outside the
/// automerge sync protocol).
/// 3: `clock` frames; sync messages carry plain change chunks only.
pub const PROTOCOL_VERSION: u16 = 3;

const MAGIC: &[u8; 6] = b"AUFRUF";
const KIND_HELLO: u8 = 1;
const KIND_ANNOUNCE: u8 = 2;
const KIND_SYNC: u8 = 3;
const KIND_HEARTBEAT: u8 = 4;
const KIND_PEERS: u8 = 5;
const KIND_CHANGES: u8 = 6;
const KIND_HEADS: u8 = 7;
const KIND_CLOCK: u8 = 8;

/// The length of a change hash (SHA-256).
pub const HASH_LEN: usize = 32;

/// One head of a document as it travels: the 32 bytes of an automerge change hash.
pub type Head = [u8; HASH_LEN];

/// One message between two peers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// The first frame each side sends.
    Hello(Hello),
    /// Documents the sender has; the receiver starts syncing them, creating the ones
    /// it does not know yet (this is how a peer learns of a new day).
    Announce(Vec<DocumentName>),
    /// One automerge sync message for one document.
    Sync {
        /// The document.
        name: DocumentName,
        /// An encoded `automerge::sync::Message`.
        message: Vec<u8>,
    },
    /// Sent when nothing else was sent for a while, so the peer knows we are alive.
    Heartbeat,
    /// The nodes the sender has sessions with now; a receiver need not relay a
    /// change at once to a peer that has a session with the change's sender.
    Peers(Vec<NodeId>),
    /// New changes of one document, pushed as they happen (outside the automerge
    /// sync protocol), with the sender's heads once they are applied.
    Changes {
        /// The document.
        name: DocumentName,
        /// The sender's heads after these changes.
        heads: Vec<Head>,
        /// Raw (uncompressed) automerge change chunks, dependencies first.
        changes: Vec<Vec<u8>>,
    },
    /// The sender's heads of one document; a receiver that does not know them all
    /// starts an automerge sync round to catch up.
    Heads {
        /// The document.
        name: DocumentName,
        /// The sender's heads.
        heads: Vec<Head>,
    },
    /// The sender's wall clock when it sent the frame, so peers can tell whose clock
    /// is wrong.
    Clock {
        /// Milliseconds since 1970-01-01 UTC.
        wall_ms: u64,
    },
}

/// Who a peer says it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The protocol version the sender speaks.
    pub protocol_version: u16,
    /// The sender's office.
    pub office: OfficeId,
    /// The sender.
    pub node: NodeId,
    /// The sender's role.
    pub role: Role,
}

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The frame ended before its fields did.
    #[error("frame truncated")]
    Truncated,
    /// Bytes were left after the last field.
    #[error("{0} trailing bytes after frame")]
    Trailing(usize),
    /// The first byte names no frame kind.
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    /// A hello without the protocol's magic bytes.
    #[error("not an Aufruf hello")]
    BadMagic,
    /// An unknown role code.
    #[error("unknown role {0}")]
    UnknownRole(u8),
    /// A name or id that is not valid UTF-8 or not valid.
    #[error("bad name: {0}")]
    Name(#[from] NameError),
    /// A sync frame without a message.
    #[error("empty sync message")]
    EmptySync,
    /// More names than the length field can say.
    #[error("too many names to encode")]
    TooMany,
    /// A changes frame without changes, or with an empty change.
    #[error("empty change")]
    EmptyChange,
}

impl Frame {
    /// The frame's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Frame::Hello(hello) => {
                out.push(KIND_HELLO);
                out.extend_from_slice(MAGIC);
                out.extend_from_slice(&hello.protocol_version.to_be_bytes());
                put_text(&mut out, hello.office.as_str());
                put_text(&mut out, hello.node.as_str());
                out.push(hello.role.code());
            }
            Frame::Announce(names) => {
                out.push(KIND_ANNOUNCE);
                // Callers split announcements into chunks of at most u16::MAX names.
                let count = u16::try_from(names.len()).unwrap_or(u16::MAX);
                out.extend_from_slice(&count.to_be_bytes());
                for name in names.iter().take(usize::from(count)) {
                    put_text(&mut out, &name.to_string());
                }
            }
            Frame::Sync { name, message } => {
                out.push(KIND_SYNC);
                put_text(&mut out, &name.to_string());
                out.extend_from_slice(message);
            }
            Frame::Heartbeat => out.push(KIND_HEARTBEAT),
            Frame::Peers(nodes) => {
                out.push(KIND_PEERS);
                let count = u16::try_from(nodes.len()).unwrap_or(u16::MAX);
                out.extend_from_slice(&count.to_be_bytes());
                for node in nodes.iter().take(usize::from(count)) {
                    put_text(&mut out, node.as_str());
                }
            }
            Frame::Changes {
                name,
                heads,
                changes,
            } => {
                out.push(KIND_CHANGES);
                put_text(&mut out, &name.to_string());
                put_heads(&mut out, heads);
                // The core sends at most `Limits::max_changes_per_frame` (< u16::MAX)
                // changes of at most `Limits::max_frame_len` (< u32::MAX) bytes.
                let count = u16::try_from(changes.len()).unwrap_or(u16::MAX);
                out.extend_from_slice(&count.to_be_bytes());
                for change in changes.iter().take(usize::from(count)) {
                    let len = u32::try_from(change.len()).unwrap_or(u32::MAX);
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(&change[..len as usize]);
                }
            }
            Frame::Heads { name, heads } => {
                out.push(KIND_HEADS);
                put_text(&mut out, &name.to_string());
                put_heads(&mut out, heads);
            }
            Frame::Clock { wall_ms } => {
                out.push(KIND_CLOCK);
                out.extend_from_slice(&wall_ms.to_be_bytes());
            }
        }
        out
    }

    /// Decodes one frame, all or nothing.
    pub fn decode(bytes: &[u8]) -> Result<Frame, DecodeError> {
        let mut reader = Reader { rest: bytes };
        let frame = match reader.byte()? {
            KIND_HELLO => {
                if reader.take(MAGIC.len())? != MAGIC {
                    return Err(DecodeError::BadMagic);
                }
                let version = reader.take(2)?;
                let protocol_version = u16::from_be_bytes([version[0], version[1]]);
                let office = OfficeId::new(reader.text()?)?;
                let node = NodeId::new(reader.text()?)?;
                let code = reader.byte()?;
                let role = Role::from_code(code).ok_or(DecodeError::UnknownRole(code))?;
                Frame::Hello(Hello {
                    protocol_version,
                    office,
                    node,
                    role,
                })
            }
            KIND_ANNOUNCE => {
                let count = reader.take(2)?;
                let count = u16::from_be_bytes([count[0], count[1]]);
                let mut names = Vec::new();
                for _ in 0..count {
                    names.push(DocumentName::parse(reader.text()?)?);
                }
                Frame::Announce(names)
            }
            KIND_SYNC => {
                let name = DocumentName::parse(reader.text()?)?;
                let message = std::mem::take(&mut reader.rest).to_vec();
                if message.is_empty() {
                    return Err(DecodeError::EmptySync);
                }
                Frame::Sync { name, message }
            }
            KIND_HEARTBEAT => Frame::Heartbeat,
            KIND_PEERS => {
                let count = reader.take(2)?;
                let count = u16::from_be_bytes([count[0], count[1]]);
                let mut nodes = Vec::new();
                for _ in 0..count {
                    nodes.push(NodeId::new(reader.text()?)?);
                }
                Frame::Peers(nodes)
            }
            KIND_CHANGES => {
                let name = DocumentName::parse(reader.text()?)?;
                let heads = reader.heads()?;
                let count = reader.u16()?;
                if count == 0 {
                    return Err(DecodeError::EmptyChange);
                }
                let mut changes = Vec::new();
                for _ in 0..count {
                    let len = reader.take(4)?;
                    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]);
                    // `take` checks the length against the bytes that are there
                    // before anything is allocated.
                    let change =
                        reader.take(usize::try_from(len).map_err(|_| DecodeError::Truncated)?)?;
                    if change.is_empty() {
                        return Err(DecodeError::EmptyChange);
                    }
                    changes.push(change.to_vec());
                }
                Frame::Changes {
                    name,
                    heads,
                    changes,
                }
            }
            KIND_HEADS => {
                let name = DocumentName::parse(reader.text()?)?;
                let heads = reader.heads()?;
                Frame::Heads { name, heads }
            }
            KIND_CLOCK => {
                let mut wall = [0; 8];
                wall.copy_from_slice(reader.take(8)?);
                Frame::Clock {
                    wall_ms: u64::from_be_bytes(wall),
                }
            }
            other => return Err(DecodeError::UnknownKind(other)),
        };
        if !reader.rest.is_empty() {
            return Err(DecodeError::Trailing(reader.rest.len()));
        }
        Ok(frame)
    }
}

fn put_heads(out: &mut Vec<u8>, heads: &[Head]) {
    // The core sends at most `Limits::max_heads` (< u16::MAX) heads.
    let count = u16::try_from(heads.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for head in heads.iter().take(usize::from(count)) {
        out.extend_from_slice(head);
    }
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    // Ids are at most 64 bytes and names 14, both checked when they were made.
    let len = u8::try_from(text.len()).unwrap_or(u8::MAX);
    out.push(len);
    out.extend_from_slice(&text.as_bytes()[..usize::from(len)]);
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let (head, tail) = self
            .rest
            .split_at_checked(n)
            .ok_or(DecodeError::Truncated)?;
        self.rest = tail;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let bytes = self.take(2)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn heads(&mut self) -> Result<Vec<Head>, DecodeError> {
        let count = self.u16()?;
        let mut heads = Vec::new();
        for _ in 0..count {
            let mut head = [0; HASH_LEN];
            head.copy_from_slice(self.take(HASH_LEN)?);
            heads.push(head);
        }
        Ok(heads)
    }

    fn text(&mut self) -> Result<&'a str, DecodeError> {
        let len = self.byte()?;
        let bytes = self.take(usize::from(len))?;
        std::str::from_utf8(bytes).map_err(|_| DecodeError::Name(NameError::Id(String::new())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let frames = [
            Frame::Hello(Hello {
                protocol_version: PROTOCOL_VERSION,
                office: OfficeId::new("zeitz").unwrap(),
                node: NodeId::new("desk-3").unwrap(),
                role: Role::Desk,
            }),
            Frame::Announce(vec![
                DocumentName::Office,
                DocumentName::day(2026, 3, 11).unwrap(),
            ]),
            Frame::Sync {
                name: DocumentName::Office,
                message: vec![0x42, 1, 2],
            },
            Frame::Heartbeat,
            Frame::Peers(vec![
                NodeId::new("kiosk-1").unwrap(),
                NodeId::new("display-1").unwrap(),
            ]),
            Frame::Changes {
                name: DocumentName::day(2026, 3, 11).unwrap(),
                heads: vec![[7; HASH_LEN], [9; HASH_LEN]],
                changes: vec![vec![1, 2, 3], vec![4]],
            },
            Frame::Heads {
                name: DocumentName::Office,
                heads: vec![[3; HASH_LEN]],
            },
            Frame::Heads {
                name: DocumentName::Office,
                heads: Vec::new(),
            },
            Frame::Clock {
                wall_ms: 1_773_216_000_000,
            },
        ];
        for frame in frames {
            let bytes = frame.encode();
            assert_eq!(Frame::decode(&bytes).unwrap(), frame);
            // A sync frame's message is the rest of the frame; automerge finds a cut
            // in it when decoding the message.
            let whole_fields = match &frame {
                Frame::Sync { .. } => bytes.len() - 2,
                _ => bytes.len(),
            };
            for cut in 0..whole_fields {
                assert!(
                    Frame::decode(&bytes[..cut]).is_err(),
                    "{frame:?} cut at {cut}"
                );
            }
            let mut longer = bytes.clone();
            longer.push(0);
            if !matches!(frame, Frame::Sync { .. }) {
                assert_eq!(Frame::decode(&longer), Err(DecodeError::Trailing(1)));
            }
        }
    }

    #[test]
    fn a_changes_frame_is_checked_before_anything_is_allocated_for_it() {
        let frame = Frame::Changes {
            name: DocumentName::Office,
            heads: Vec::new(),
            changes: vec![vec![1, 2, 3]],
        };
        let bytes = frame.encode();
        // The change's length field (after kind, name and heads) says 4 GiB.
        let at = 1 + 1 + "office".len() + 2 + 2;
        let mut huge = bytes.clone();
        huge[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(Frame::decode(&huge), Err(DecodeError::Truncated));
        // No changes at all, or an empty one, is not a push.
        let mut none = bytes[..at - 2].to_vec();
        none.extend_from_slice(&0u16.to_be_bytes());
        assert_eq!(Frame::decode(&none), Err(DecodeError::EmptyChange));
        let empty = Frame::Changes {
            name: DocumentName::Office,
            heads: Vec::new(),
            changes: vec![Vec::new()],
        };
        assert_eq!(
            Frame::decode(&empty.encode()),
            Err(DecodeError::EmptyChange)
        );
    }
}
