//! JSON-RPC 2.0 over newline-delimited streams, shared by the MCP server
//! (blocking stdin/stdout) and the ACP client (which both sends and receives
//! requests).
//!
//! The reusable core is [`parse_line`] (one line in, one classified
//! [`Message`] out) and [`encode`] (one message out as one line). The blocking
//! [`LineReader`]/[`LineWriter`] wrap them for `std::io`. This crate has no
//! async runtime dependency on purpose: async callers frame lines themselves
//! (e.g. with their runtime's buffered line reading, keeping the same
//! [`MAX_LINE_BYTES`] cap) and pass each line to [`parse_line`] / write the
//! output of [`encode`]. A protocol that accepts batches reads lines with
//! [`parse_incoming`] and answers a batch with [`encode_batch`]. Request ids
//! are echoed exactly as the peer wrote them ([`Id`]).

mod codec;
mod error;
mod framing;
mod ids;
mod message;

pub use codec::{Incoming, encode, encode_batch, parse_incoming, parse_line};
pub use error::{ErrorObject, MessageError, codes};
pub use framing::{Frame, LineAssembler, LineReader, LineWriter, MAX_LINE_BYTES};
pub use ids::{Id, IdAllocator, RawId};
pub use message::{Message, Notification, Request, Response};
