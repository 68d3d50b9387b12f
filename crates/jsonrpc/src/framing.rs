//! Newline-delimited framing over blocking `std::io` streams.

use std::io::{self, BufRead, Write};

use crate::codec::encode;
use crate::message::Message;

/// Longest line accepted by [`LineReader::new`]. Bigger lines are skipped so a
/// misbehaving peer cannot make us buffer unbounded input.
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// One unit read from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A line without its `'\n'` (a `'\r'` before it is kept; `parse_line`
    /// trims it).
    Line(Vec<u8>),
    /// A line longer than the cap; it was discarded. `len_seen` is its full
    /// length without the `'\n'`.
    TooLong { len_seen: usize },
}

/// Reads newline-delimited frames from any [`BufRead`] with bounded memory:
/// at most the cap is ever buffered for one line.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    max: usize,
}

/// The byte-stream-independent half of line framing, shared by the blocking
/// [`LineReader`] and async readers: it takes whatever bytes are available,
/// says how many were used, and keeps at most `max` bytes of one line.
#[derive(Debug)]
pub struct LineAssembler {
    line: Vec<u8>,
    seen: usize,
    too_long: bool,
    /// The line's `'\n'` was seen (an empty line is still a line).
    ended: bool,
    max: usize,
}

impl LineAssembler {
    pub fn new(max: usize) -> Self {
        LineAssembler {
            line: Vec::new(),
            seen: 0,
            too_long: false,
            ended: false,
            max,
        }
    }

    /// Takes bytes up to and including the next `'\n'`. Returns how many
    /// bytes of `available` were used and whether the line is complete.
    pub fn feed(&mut self, available: &[u8]) -> (usize, bool) {
        let newline = available.iter().position(|&b| b == b'\n');
        let take = newline.unwrap_or(available.len());
        if !self.too_long {
            let needed = self.line.len().saturating_add(take);
            if needed > self.max {
                self.too_long = true;
                self.line = Vec::new();
            } else {
                if needed > self.line.capacity() {
                    // Grow geometrically but never past the cap.
                    let target = needed
                        .max(self.line.capacity().saturating_mul(2))
                        .min(self.max);
                    self.line.reserve_exact(target - self.line.len());
                }
                self.line.extend_from_slice(&available[..take]);
            }
        }
        self.seen = self.seen.saturating_add(take);
        self.ended = newline.is_some();
        (take + usize::from(self.ended), self.ended)
    }

    /// The frame assembled so far (at a newline or at EOF); `None` when no
    /// byte of a new line was seen. Resets for the next line.
    pub fn finish(&mut self) -> Option<Frame> {
        if self.seen == 0 && !self.too_long && !self.ended {
            return None;
        }
        let frame = if self.too_long {
            Frame::TooLong {
                len_seen: self.seen,
            }
        } else {
            Frame::Line(std::mem::take(&mut self.line))
        };
        *self = LineAssembler::new(self.max);
        Some(frame)
    }
}

impl<R: BufRead> LineReader<R> {
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
    /// still returned. After [`Frame::TooLong`] the stream is positioned at
    /// the following line, so reading can simply continue.
    pub fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        let mut assembler = LineAssembler::new(self.max);
        loop {
            let available = match self.inner.fill_buf() {
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

/// Writes one message per line and flushes after each, so the peer sees every
/// message as soon as it is sent.
#[derive(Debug)]
pub struct LineWriter<W: Write> {
    inner: W,
}

impl<W: Write> LineWriter<W> {
    pub fn new(inner: W) -> Self {
        Self { inner }
    }

    /// Encode `message` as one line, write it and flush.
    pub fn send(&mut self, message: &Message) -> io::Result<()> {
        self.write_flush(&encode(message))
    }

    /// Write an already-encoded line (a trailing `'\n'` is optional) and
    /// flush. Fails with `InvalidInput` if it contains any other newline,
    /// which would break framing.
    pub fn send_raw_line(&mut self, line: &str) -> io::Result<()> {
        let body = line.strip_suffix('\n').unwrap_or(line);
        if body.contains('\n') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "raw line contains an embedded newline",
            ));
        }
        self.write_flush(&format!("{body}\n"))
    }

    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    pub fn into_inner(self) -> W {
        self.inner
    }

    /// One `write_all` per line so a buffered sink never holds half a line.
    fn write_flush(&mut self, line: &str) -> io::Result<()> {
        self.inner.write_all(line.as_bytes())?;
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::parse_line;
    use crate::ids::Id;
    use serde_json::json;
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;
    use std::collections::VecDeque;
    use std::io::Read;

    /// Records the largest single allocation made on each thread, so a test
    /// can prove the reader never buffered a whole oversized line.
    struct PeakAlloc;

    thread_local! {
        static PEAK: Cell<usize> = const { Cell::new(0) };
    }

    fn note(size: usize) {
        let _ = PEAK.try_with(|p| p.set(p.get().max(size)));
    }

    // SAFETY: forwards every call unchanged to the system allocator.
    #[allow(unsafe_code)]
    unsafe impl GlobalAlloc for PeakAlloc {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            note(layout.size());
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            note(layout.size());
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            note(new_size);
            unsafe { System.realloc(ptr, layout, new_size) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static ALLOC: PeakAlloc = PeakAlloc;

    /// A `BufRead` that produces runs of bytes on the fly, at most `chunk`
    /// bytes per `fill_buf`, so huge inputs never exist in memory.
    struct Chunked {
        runs: VecDeque<(u8, usize)>,
        chunk: usize,
        buf: Vec<u8>,
        pos: usize,
        interrupts: usize,
    }

    impl Chunked {
        fn runs(runs: &[(u8, usize)], chunk: usize) -> Self {
            Self {
                runs: runs.iter().copied().collect(),
                chunk,
                buf: Vec::new(),
                pos: 0,
                interrupts: 0,
            }
        }

        fn bytes(bytes: &[u8], chunk: usize) -> Self {
            let runs: Vec<(u8, usize)> = bytes.iter().map(|&b| (b, 1)).collect();
            Self::runs(&runs, chunk)
        }
    }

    impl Read for Chunked {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let available = self.fill_buf()?;
            let n = available.len().min(out.len());
            out[..n].copy_from_slice(&available[..n]);
            self.consume(n);
            Ok(n)
        }
    }

    impl BufRead for Chunked {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            if self.interrupts > 0 {
                self.interrupts -= 1;
                return Err(io::ErrorKind::Interrupted.into());
            }
            if self.pos == self.buf.len() {
                self.buf.clear();
                self.pos = 0;
                // Merge consecutive runs up to one chunk.
                while self.buf.len() < self.chunk {
                    let Some((byte, left)) = self.runs.front_mut() else {
                        break;
                    };
                    let n = (*left).min(self.chunk - self.buf.len());
                    self.buf.extend(std::iter::repeat_n(*byte, n));
                    *left -= n;
                    if *left == 0 {
                        self.runs.pop_front();
                    }
                }
            }
            Ok(&self.buf[self.pos..])
        }

        fn consume(&mut self, amount: usize) {
            self.pos = (self.pos + amount).min(self.buf.len());
        }
    }

    fn frames<R: BufRead>(mut reader: LineReader<R>) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(frame) = reader.next_frame().unwrap() {
            out.push(frame);
        }
        out
    }

    fn line(s: &str) -> Frame {
        Frame::Line(s.as_bytes().to_vec())
    }

    #[test]
    fn several_lines_and_final_line_without_newline() {
        let input: &[u8] = b"one\ntwo\r\n\nthree";
        let got = frames(LineReader::new(input));
        assert_eq!(got, [line("one"), line("two\r"), line(""), line("three")]);
        assert_eq!(frames(LineReader::new(&b""[..])), []);
        assert_eq!(frames(LineReader::new(&b"\n"[..])), [line("")]);
    }

    #[test]
    fn lines_split_across_many_small_reads() {
        let text = b"{\"jsonrpc\":\"2.0\",\"method\":\"a\"}\nsecond line\nlast";
        for chunk in [1, 2, 3, 7] {
            let got = frames(LineReader::new(Chunked::bytes(text, chunk)));
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

    #[test]
    fn interrupted_reads_are_retried() {
        let mut source = Chunked::bytes(b"a\nb\n", 1);
        source.interrupts = 3;
        assert_eq!(frames(LineReader::new(source)), [line("a"), line("b")]);
    }

    #[test]
    fn cap_is_inclusive() {
        let input: &[u8] = b"12345678\n123456789\nok\n";
        let got = frames(LineReader::with_limit(input, 8));
        assert_eq!(
            got,
            [line("12345678"), Frame::TooLong { len_seen: 9 }, line("ok")]
        );
        // Same through tiny reads, and a too-long final line at EOF.
        let got = frames(LineReader::with_limit(
            Chunked::bytes(b"123456789\nok\n0123456789", 2),
            8,
        ));
        assert_eq!(
            got,
            [
                Frame::TooLong { len_seen: 9 },
                line("ok"),
                Frame::TooLong { len_seen: 10 }
            ]
        );
    }

    #[test]
    fn huge_line_is_skipped_without_buffering_it() {
        const TEN_MB: usize = 10 * 1024 * 1024;
        let next = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        let mut runs = vec![(b'a', TEN_MB), (b'\n', 1)];
        runs.extend(next.iter().map(|&b| (b, 1)));
        runs.push((b'\n', 1));
        let mut reader = LineReader::new(Chunked::runs(&runs, 8 * 1024));

        PEAK.with(|p| p.set(0));
        let first = reader.next_frame().unwrap();
        let peak = PEAK.with(Cell::get);

        assert!(peak <= MAX_LINE_BYTES, "peak allocation {peak} bytes");
        assert_eq!(first, Some(Frame::TooLong { len_seen: TEN_MB }));
        let Some(Frame::Line(bytes)) = reader.next_frame().unwrap() else {
            panic!("expected the line after the oversized one");
        };
        assert_eq!(bytes, next);
        assert_eq!(
            parse_line(&bytes),
            Ok(Some(Message::request(Id::Number(1), "ping", None)))
        );
        assert_eq!(reader.next_frame().unwrap(), None);
    }

    #[test]
    fn line_buffer_never_exceeds_cap() {
        // A line exactly at the cap, delivered in odd-sized pieces.
        let cap = 1000;
        let mut reader = LineReader::with_limit(Chunked::runs(&[(b'x', cap), (b'\n', 1)], 7), cap);
        let Some(Frame::Line(bytes)) = reader.next_frame().unwrap() else {
            panic!("expected a line");
        };
        assert_eq!(bytes.len(), cap);
        assert!(bytes.capacity() <= cap, "capacity {}", bytes.capacity());
    }

    /// A sink that records writes and flushes.
    #[derive(Default)]
    struct Sink {
        data: Vec<u8>,
        flushed_at: Vec<usize>,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.data.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            self.flushed_at.push(self.data.len());
            Ok(())
        }
    }

    #[test]
    fn writer_sends_one_flushed_line_per_message() {
        let mut writer = LineWriter::new(Sink::default());
        let first = Message::response(Id::Number(1), json!({"text": "a\nb"}));
        let second = Message::notification("n", None);
        writer.send(&first).unwrap();
        writer.send(&second).unwrap();
        writer.send_raw_line(r#"{"raw":1}"#).unwrap();
        writer.send_raw_line("{\"raw\":2}\n").unwrap();
        let err = writer.send_raw_line("a\nb").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);

        let sink = writer.into_inner();
        let text = String::from_utf8(sink.data).unwrap();
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(sink.flushed_at.len(), 4);
        assert_eq!(sink.flushed_at.last(), Some(&text.len()));
        assert_eq!(parse_line(lines[0].as_bytes()), Ok(Some(first)));
        assert_eq!(parse_line(lines[1].as_bytes()), Ok(Some(second)));
        assert_eq!(lines[2..], [r#"{"raw":1}"#, r#"{"raw":2}"#]);
    }

    #[test]
    fn writer_output_reads_back_through_reader() {
        let mut writer = LineWriter::new(Vec::new());
        let sent = [
            Message::request(Id::from("x"), "m", Some(json!([1]))),
            Message::error(None, crate::error::ErrorObject::parse_error("bad")),
        ];
        for m in &sent {
            writer.send(m).unwrap();
        }
        let bytes = writer.into_inner();
        let mut reader = LineReader::new(bytes.as_slice());
        for m in &sent {
            let Some(Frame::Line(l)) = reader.next_frame().unwrap() else {
                panic!("expected a line");
            };
            assert_eq!(parse_line(&l).unwrap().as_ref(), Some(m));
        }
        assert_eq!(reader.next_frame().unwrap(), None);
    }
}
