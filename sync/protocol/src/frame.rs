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
//!
//! Ids and names are a `u8` length and that many UTF-8 bytes. Decoding is strict:
//! a short frame, trailing bytes, an unknown kind or an invalid name is an error, and
//! nothing is decoded partially.

use crate::name::{DocumentName, NameError, NodeId, OfficeId, Role};

/// The protocol version this build speaks; peers must speak the same.
pub const PROTOCOL_VERSION: u16 = 1;

const MAGIC: &[u8; 6] = b"AUFRUF";
const KIND_HELLO: u8 = 1;
const KIND_ANNOUNCE: u8 = 2;
const KIND_SYNC: u8 = 3;
const KIND_HEARTBEAT: u8 = 4;
const KIND_PEERS: u8 = 5;

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
            other => return Err(DecodeError::UnknownKind(other)),
        };
        if !reader.rest.is_empty() {
            return Err(DecodeError::Trailing(reader.rest.len()));
        }
        Ok(frame)
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
}
