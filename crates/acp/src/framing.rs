//! Newline-delimited framing over async byte streams, with bounded memory.
//!
//! The async twin of `enki_jsonrpc::LineReader`: a line longer than the cap
//! is reported as [`Frame::TooLong`] and skipped without ever buffering more
//! than the cap.

use std::io;

use enki_jsonrpc::{Frame, LineAssembler, MAX_LINE_BYTES};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Reads [`Frame`]s from an [`AsyncBufRead`].
#[derive(Debug)]
pub struct AsyncLineReader<R> {
    inner: R,
    max: usize,
}

impl<R: AsyncBufRead + Unpin> AsyncLineReader<R> {
    /// A reader with the cap [`MAX_LINE_BYTES`].
    pub fn new(inner: R) -> Self {
        Self::with_limit(inner, MAX_LINE_BYTES)
    }

    /// A reader that reports lines longer than `max` bytes as
    /// [`Frame::TooLong`].
    pub fn with_limit(inner: R, max: usize) -> Self {
        Self { inner, max }
    }

    /// The next frame, or `Ok(None)` at EOF. A final line without `'\n'` is
    /// still returned; a `'\r'` before the `'\n'` is kept. Not cancel-safe:
    /// dropping the future mid-line loses the part read so far.
    pub async fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        let mut assembler = LineAssembler::new(self.max);
        loop {
            let available = match self.inner.fill_buf().await {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok(assembler.finish());
            }
            let (consumed, complete) = assembler.feed(available);
            self.inner.consume(consumed);
            if complete {
                return Ok(assembler.finish());
            }
        }
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::io::AsyncRead;

    /// An `AsyncBufRead` that serves runs of repeated bytes in chunks of at
    /// most `chunk` bytes, generating them lazily (so a 10 MiB line costs no
    /// 10 MiB buffer), and sometimes returns `Pending` first.
    struct Chunked {
        runs: VecDeque<(u8, usize)>,
        chunk: usize,
        buf: Vec<u8>,
        pos: usize,
        pending_every: usize,
        polls: usize,
        interrupts: usize,
    }

    impl Chunked {
        fn runs(runs: &[(u8, usize)], chunk: usize) -> Self {
            Self {
                runs: runs.iter().copied().collect(),
                chunk,
                buf: Vec::new(),
                pos: 0,
                pending_every: 3,
                polls: 0,
                interrupts: 0,
            }
        }

        fn bytes(data: &[u8], chunk: usize) -> Self {
            let runs: Vec<(u8, usize)> = data.iter().map(|&b| (b, 1)).collect();
            Self::runs(&runs, chunk)
        }
    }

    impl AsyncRead for Chunked {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            _buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            unreachable!("only the AsyncBufRead side is used")
        }
    }

    impl AsyncBufRead for Chunked {
        fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
            let this = self.get_mut();
            this.polls += 1;
            if this.pending_every > 0 && this.polls.is_multiple_of(this.pending_every) {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if this.interrupts > 0 {
                this.interrupts -= 1;
                return Poll::Ready(Err(io::ErrorKind::Interrupted.into()));
            }
            if this.pos == this.buf.len() {
                this.buf.clear();
                this.pos = 0;
                while this.buf.len() < this.chunk {
                    let Some((byte, left)) = this.runs.front_mut() else {
                        break;
                    };
                    let n = (*left).min(this.chunk - this.buf.len());
                    this.buf.extend(std::iter::repeat_n(*byte, n));
                    *left -= n;
                    if *left == 0 {
                        this.runs.pop_front();
                    }
                }
            }
            Poll::Ready(Ok(&this.buf[this.pos..]))
        }

        fn consume(self: Pin<&mut Self>, amount: usize) {
            let this = self.get_mut();
            this.pos = (this.pos + amount).min(this.buf.len());
        }
    }

    async fn frames<R: AsyncBufRead + Unpin>(mut reader: AsyncLineReader<R>) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(frame) = reader.next_frame().await.unwrap() {
            out.push(frame);
        }
        out
    }

    fn line(s: &str) -> Frame {
        Frame::Line(s.as_bytes().to_vec())
    }

    #[tokio::test]
    async fn several_lines_and_final_line_without_newline() {
        let input: &[u8] = b"one\ntwo\r\n\nthree";
        let got = frames(AsyncLineReader::new(input)).await;
        assert_eq!(got, [line("one"), line("two\r"), line(""), line("three")]);
        assert_eq!(frames(AsyncLineReader::new(&b""[..])).await, []);
        assert_eq!(frames(AsyncLineReader::new(&b"\n"[..])).await, [line("")]);
    }

    #[tokio::test]
    async fn lines_split_across_small_reads_and_pending_polls() {
        let text = b"{\"jsonrpc\":\"2.0\",\"method\":\"a\"}\nsecond line\nlast";
        for chunk in [1, 2, 3, 7, 100] {
            let got = frames(AsyncLineReader::new(Chunked::bytes(text, chunk))).await;
            assert_eq!(
                got,
                [
                    line("{\"jsonrpc\":\"2.0\",\"method\":\"a\"}"),
                    line("second line"),
                    line("last")
                ],
                "chunk {chunk}"
            );
        }
    }

    #[tokio::test]
    async fn interrupted_reads_are_retried() {
        let mut source = Chunked::bytes(b"a\nb\n", 1);
        source.interrupts = 3;
        let got = frames(AsyncLineReader::new(source)).await;
        assert_eq!(got, [line("a"), line("b")]);
    }

    #[tokio::test]
    async fn cap_is_inclusive_and_reading_resumes_after_a_long_line() {
        let input: &[u8] = b"12345678\n123456789\nok\n";
        let got = frames(AsyncLineReader::with_limit(input, 8)).await;
        assert_eq!(
            got,
            [line("12345678"), Frame::TooLong { len_seen: 9 }, line("ok")]
        );
        let got = frames(AsyncLineReader::with_limit(
            Chunked::bytes(b"123456789\nok\n0123456789", 2),
            8,
        ))
        .await;
        assert_eq!(
            got,
            [
                Frame::TooLong { len_seen: 9 },
                line("ok"),
                Frame::TooLong { len_seen: 10 }
            ]
        );
    }

    #[tokio::test]
    async fn huge_line_is_skipped_without_buffering_it() {
        const TEN_MB: usize = 10 * 1024 * 1024;
        let next = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        let mut runs = vec![(b'a', TEN_MB), (b'\n', 1)];
        runs.extend(next.iter().map(|&b| (b, 1)));
        runs.push((b'\n', 1));
        let mut source = Chunked::runs(&runs, 64 * 1024);
        source.pending_every = 0;
        let mut reader = AsyncLineReader::new(source);
        assert_eq!(
            reader.next_frame().await.unwrap(),
            Some(Frame::TooLong { len_seen: TEN_MB })
        );
        let Some(Frame::Line(bytes)) = reader.next_frame().await.unwrap() else {
            panic!("expected the line after the oversized one");
        };
        assert_eq!(bytes, next);
        assert_eq!(reader.next_frame().await.unwrap(), None);
    }

    #[tokio::test]
    async fn line_buffer_never_exceeds_cap() {
        let cap = 1000;
        let mut reader =
            AsyncLineReader::with_limit(Chunked::runs(&[(b'x', cap), (b'\n', 1)], 7), cap);
        let Some(Frame::Line(bytes)) = reader.next_frame().await.unwrap() else {
            panic!("expected a line");
        };
        assert_eq!(bytes.len(), cap);
        assert!(bytes.capacity() <= cap, "capacity {}", bytes.capacity());
    }
}
