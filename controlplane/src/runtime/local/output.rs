//! An app's recent output: a bounded ring of lines shared by every process of
//! the app, so a crashed start stays visible in its logs.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::broadcast;

const CAPACITY: usize = 2000;

pub struct OutputLog {
    inner: Mutex<Inner>,
    live: broadcast::Sender<String>,
}

struct Inner {
    /// (sequence number, line), oldest first.
    lines: VecDeque<(u64, String)>,
    next: u64,
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
                next: 0,
            }),
            live: broadcast::channel(256).0,
        }
    }
}

impl OutputLog {
    pub fn push(&self, line: String) {
        // Sent under the lock, so `tail_and_follow` never sees a line twice.
        if let Ok(mut inner) = self.inner.lock() {
            if inner.lines.len() == CAPACITY {
                inner.lines.pop_front();
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
        let Ok(inner) = self.inner.lock() else {
            return Vec::new();
        };
        let since: Vec<&String> = inner
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

    /// The last `n` lines and a receiver of the lines after them, taken
    /// together so that no line is lost or repeated between the two.
    pub fn tail_and_follow(&self, n: usize) -> (Vec<String>, broadcast::Receiver<String>) {
        match self.inner.lock() {
            Ok(inner) => (inner.tail_since(0, n), self.live.subscribe()),
            Err(_) => (Vec::new(), self.live.subscribe()),
        }
    }
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
    fn ring_keeps_only_the_newest_lines() {
        let log = OutputLog::default();
        for i in 0..CAPACITY + 5 {
            log.push(i.to_string());
        }
        let all = log.tail(usize::MAX);
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(all[0], "5");
    }
}
