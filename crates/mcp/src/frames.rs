//! The stdio loop's input, read on a thread of its own: the loop waits for
//! the next frame with a timeout, so it can send notifications while the
//! client is quiet (`watch.rs`). The channel holds one frame at a time, so
//! memory stays bounded by the line cap however fast the client writes.

use std::io::BufRead;
use std::sync::mpsc::{Receiver, sync_channel};

use enki_jsonrpc::{Frame, LineReader, MAX_LINE_BYTES};

/// What the reader thread hands over: a frame, the end of the input
/// (`Ok(None)`), or the error that ended it.
pub type Incoming = std::io::Result<Option<Frame>>;

/// Starts reading `input` frame by frame on its own thread. The thread ends
/// after the end of the input, an error, or when the receiver is dropped
/// (at its next frame).
pub fn read_on_a_thread<R: BufRead + Send + 'static>(
    input: R,
) -> std::io::Result<Receiver<Incoming>> {
    let (send, receive) = sync_channel(1);
    std::thread::Builder::new()
        .name("enki-mcp-stdin".into())
        .spawn(move || {
            let mut reader = LineReader::with_limit(input, MAX_LINE_BYTES);
            loop {
                let incoming = reader.next_frame();
                let last = !matches!(incoming, Ok(Some(_)));
                if send.send(incoming).is_err() || last {
                    break;
                }
            }
        })?;
    Ok(receive)
}
