//! An app's recent output: a ring of lines shared by every process of the
//! app, so a crashed start stays visible in its logs.
//!
//! The app's output is hostile input: it is read with a cap per line and kept
//! with a cap per app, both counted in bytes, so what an app prints costs the
//! control plane at most about `MAX_KEPT` however much and however it prints.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    sync::broadcast,
};

/// Bytes kept of one line; the rest is dropped while reading and counted.
pub const MAX_LINE: usize = 8 * 1024;
/// Bytes kept per app, oldest lines dropped first.
pub const MAX_KEPT: usize = 1024 * 1024;
/// What a kept line costs beyond its text (sequence number, string header,
/// ring slot), so a flood of empty lines is bounded too.
const LINE_OVERHEAD: usize = 48;
/// Lines a live follower may fall behind before it skips some.
const LIVE_LINES: usize = 128;
/// How much of the app's output is read at once.
const READ_CHUNK: usize = 64 * 1024;

pub struct OutputLog {
    inner: Mutex<Inner>,
    live: broadcast::Sender<String>,
}

struct Inner {
    /// (sequence number, line), oldest first.
    lines: VecDeque<(u64, String)>,
    /// What `lines` costs, by `cost`.
    kept: usize,
    next: u64,
}

fn cost(line: &str) -> usize {
    line.len() + LINE_OVERHEAD
}

impl Inner {
    fn tail_since(&self, mark: u64, n: usize) -> Vec<String> {
        let since: Vec<&String> = self
            .lines
            .iter()
            .filter(|(seq, _)| *seq >= mark)
            .map(|(_, l)| l)
            .collect();
        since[since.len().saturating_sub(n)..]
            .iter()
            .map(|l| l.to_string())
            .collect()
    }
}

impl Default for OutputLog {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                lines: VecDeque::new(),
                kept: 0,
                next: 0,
            }),
            live: broadcast::channel(LIVE_LINES).0,
        }
    }
}

impl OutputLog {
    /// Keeps `line` (cut to `MAX_LINE` bytes if longer), dropping the oldest
    /// lines to stay within `MAX_KEPT`.
    pub fn push(&self, mut line: String) {
        if line.len() > MAX_LINE {
            let dropped = line.len() - MAX_LINE;
            line.truncate(floor_char_boundary(&line, MAX_LINE));
            line.push_str(&cut_marker(dropped));
        }
        self.keep(line);
    }

    /// Keeps a line already within `MAX_LINE` (plus its cut marker).
    fn keep(&self, mut line: String) {
        line.shrink_to_fit();
        // Sent under the lock, so `tail_and_follow` never sees a line twice.
        if let Ok(mut inner) = self.inner.lock() {
            inner.kept += cost(&line);
            while inner.kept > MAX_KEPT {
                let Some((_, old)) = inner.lines.pop_front() else {
                    break;
                };
                inner.kept -= cost(&old);
            }
            let seq = inner.next;
            inner.next += 1;
            inner.lines.push_back((seq, line.clone()));
            let _ = self.live.send(line);
        }
    }

    /// The sequence number the next line will get.
    pub fn mark(&self) -> u64 {
        self.inner.lock().map(|i| i.next).unwrap_or(0)
    }

    /// The last `n` lines.
    pub fn tail(&self, n: usize) -> Vec<String> {
        self.tail_since(0, n)
    }

    /// The last `n` lines among those pushed at or after `mark`.
    pub fn tail_since(&self, mark: u64, n: usize) -> Vec<String> {
        match self.inner.lock() {
            Ok(inner) => inner.tail_since(mark, n),
            Err(_) => Vec::new(),
        }
    }

    /// The last `n` lines and a receiver of the lines after them, taken
    /// together so that no line is lost or repeated between the two.
    pub fn tail_and_follow(&self, n: usize) -> (Vec<String>, broadcast::Receiver<String>) {
        match self.inner.lock() {
            Ok(inner) => (inner.tail_since(0, n), self.live.subscribe()),
            Err(_) => (Vec::new(), self.live.subscribe()),
        }
    }
}

fn cut_marker(dropped: usize) -> String {
    format!(" … [line cut: {dropped} bytes dropped]")
}

/// The largest index ≤ `i` on a char boundary of `s`.
fn floor_char_boundary(s: &str, i: usize) -> usize {
    (0..=i.min(s.len()))
        .rev()
        .find(|&j| s.is_char_boundary(j))
        .unwrap_or(0)
}

/// Reads `stream` line by line into `log` until it ends. Never holds more
/// than `MAX_LINE` bytes of a line: the rest is skipped as it arrives and
/// the kept part ends with a marker saying how much was dropped.
pub async fn pump(stream: impl AsyncRead + Unpin, log: &OutputLog) {
    let mut reader = BufReader::with_capacity(READ_CHUNK, stream);
    let mut line: Vec<u8> = Vec::new();
    let mut dropped = 0usize;
    loop {
        let buf = match reader.fill_buf().await {
            Ok(buf) if !buf.is_empty() => buf,
            // The end (or a broken pipe): what is left is the last line.
            _ => {
                if !line.is_empty() || dropped > 0 {
                    log.keep(finish(&mut line, dropped));
                }
                return;
            }
        };
        let (chunk, newline) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], true),
            None => (buf, false),
        };
        let take = chunk.len().min(MAX_LINE - line.len());
        line.extend_from_slice(&chunk[..take]);
        dropped += chunk.len() - take;
        let used = chunk.len() + usize::from(newline);
        reader.consume(used);
        if newline {
            log.keep(finish(&mut line, dropped));
            dropped = 0;
        }
    }
}

/// Turns the bytes of one line into its text, marked if it was cut.
fn finish(line: &mut Vec<u8>, dropped: usize) -> String {
    if line.last() == Some(&b'\r') && dropped == 0 {
        line.pop();
    }
    let mut text = String::from_utf8_lossy(line).into_owned();
    line.clear();
    if dropped > 0 {
        text.push_str(&cut_marker(dropped));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_since_mark_only_shows_newer_lines() {
        let log = OutputLog::default();
        log.push("old".into());
        let mark = log.mark();
        log.push("a".into());
        log.push("b".into());
        log.push("c".into());
        assert_eq!(log.tail_since(mark, 2), vec!["b", "c"]);
        assert_eq!(log.tail_since(mark, 10), vec!["a", "b", "c"]);
        assert_eq!(log.tail(10), vec!["old", "a", "b", "c"]);
    }

    #[test]
    fn follow_continues_exactly_after_the_tail() {
        let log = OutputLog::default();
        log.push("a".into());
        log.push("b".into());
        let (tail, mut rx) = log.tail_and_follow(1);
        log.push("c".into());
        assert_eq!(tail, vec!["b"]);
        assert_eq!(rx.try_recv().unwrap(), "c");
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn the_ring_keeps_the_newest_bytes_within_the_cap() {
        let log = OutputLog::default();
        let line = "y".repeat(1000);
        for i in 0..5000 {
            log.push(format!("{i:05}{line}"));
        }
        let all = log.tail(usize::MAX);
        let kept: usize = all.iter().map(|l| cost(l)).sum();
        assert!(kept <= MAX_KEPT, "{kept} bytes kept");
        assert!(kept > MAX_KEPT - 1100, "only {kept} bytes kept");
        assert!(all.last().unwrap().starts_with("04999"));
        // Empty lines cost too: a flood of them stays bounded.
        for _ in 0..1_000_000 {
            log.push(String::new());
        }
        assert!(log.tail(usize::MAX).len() <= MAX_KEPT / LINE_OVERHEAD);
    }

    #[test]
    fn pushed_lines_are_cut_on_a_char_boundary() {
        let log = OutputLog::default();
        log.push("é".repeat(MAX_LINE));
        let l = &log.tail(1)[0];
        assert!(l.ends_with(&cut_marker(MAX_LINE)), "{}", &l[l.len() - 60..]);
        assert!(l.len() <= MAX_LINE + 60);
    }

    /// A reader that hands out `total` bytes of 'x' then `tail`, in chunks,
    /// without holding them, like a pipe from a process printing forever.
    struct Flood {
        left: usize,
        tail: &'static [u8],
    }

    impl AsyncRead for Flood {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            if self.left > 0 {
                let n = self.left.min(buf.remaining()).min(1 << 16);
                buf.put_slice(&vec![b'x'; n]);
                self.left -= n;
            } else {
                let n = self.tail.len().min(buf.remaining());
                buf.put_slice(&self.tail[..n]);
                self.tail = &self.tail[n..];
            }
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_huge_line_is_cut_while_it_is_read() {
        let log = OutputLog::default();
        let total = 64 << 20;
        pump(
            Flood {
                left: total,
                tail: b"\r\nnext\r\nlast without newline",
            },
            &log,
        )
        .await;
        let lines = log.tail(10);
        let lens: Vec<usize> = lines.iter().map(|l| l.len()).collect();
        assert_eq!(lines.len(), 3, "{lens:?}");
        // (The '\r' before the newline was past the cap: dropped too.)
        let marker = cut_marker(total + 1 - MAX_LINE);
        assert!(
            lines[0].ends_with(&marker),
            "{lens:?} {}",
            &lines[0][MAX_LINE - 10..]
        );
        assert_eq!(lines[0].len(), MAX_LINE + marker.len());
        assert_eq!(lines[1], "next");
        assert_eq!(lines[2], "last without newline");
    }
}
