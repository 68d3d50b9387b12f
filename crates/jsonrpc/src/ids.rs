//! Request ids for the side that sends requests.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::message::Id;

/// Hands out unique numeric ids (1, 2, 3, ...) so responses can be matched to
/// the requests that caused them. Shareable across threads by reference.
#[derive(Debug)]
pub struct IdAllocator {
    next: AtomicI64,
}

impl IdAllocator {
    pub fn new() -> Self {
        Self {
            next: AtomicI64::new(1),
        }
    }

    /// The next unused id. Ids only repeat after 2^63 calls (wrap-around).
    pub fn next(&self) -> Id {
        Id::Number(self.next.fetch_add(1, Ordering::Relaxed))
    }
}

impl Default for IdAllocator {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn starts_at_one_and_increases() {
        let ids = IdAllocator::new();
        assert_eq!(ids.next(), Id::Number(1));
        assert_eq!(ids.next(), Id::Number(2));
        assert_eq!(ids.next(), Id::Number(3));
    }

    #[test]
    fn unique_across_threads() {
        let ids = IdAllocator::default();
        let all: Vec<Id> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..1000).map(|_| ids.next()).collect::<Vec<_>>()))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let unique: HashSet<&Id> = all.iter().collect();
        assert_eq!(all.len(), 4000);
        assert_eq!(unique.len(), 4000);
        assert!(
            all.iter()
                .all(|id| matches!(id, Id::Number(n) if (1..=4000).contains(n)))
        );
    }
}
