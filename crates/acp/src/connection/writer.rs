//! The writer task: the only place that writes to the agent's stdin, so
//! messages from concurrent requests and answers never interleave.

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

pub(super) enum WriterCmd {
    Line(String),
    /// Close the agent's stdin (after the lines queued before).
    Close,
}

pub(super) async fn write_loop<W: AsyncWrite + Unpin>(
    writer: W,
    mut rx: mpsc::UnboundedReceiver<WriterCmd>,
) {
    let mut sink = Some(writer);
    while let Some(cmd) = rx.recv().await {
        match cmd {
            WriterCmd::Line(line) => {
                let Some(w) = sink.as_mut() else {
                    tracing::debug!("agent stdin closed; dropping a message");
                    continue;
                };
                let written = async {
                    w.write_all(line.as_bytes()).await?;
                    w.flush().await
                };
                if let Err(e) = written.await {
                    tracing::warn!("cannot write to the agent's stdin: {e}");
                    sink = None;
                }
            }
            WriterCmd::Close => {
                if let Some(mut w) = sink.take() {
                    let _ = w.shutdown().await;
                }
            }
        }
    }
}
