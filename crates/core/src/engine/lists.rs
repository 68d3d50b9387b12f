//! A short list per slot (a task's needs, its dependents), all of them in
//! one flat pool: a span per slot says where its list is. Loading a large
//! DAG then fills two arrays instead of allocating a vector per task, and
//! settling reads lists that lie side by side.

/// Where a slot's list lies in the pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

/// Below this many stale entries the pool is never compacted.
const COMPACT_AFTER: usize = 4096;

#[derive(Debug, Clone)]
pub(crate) struct Lists<T> {
    spans: Vec<Span>,
    pool: Vec<T>,
    /// Entries of the pool that no span covers any more (a list replaced by
    /// a longer one moves to the end).
    stale: usize,
}

impl<T> Default for Lists<T> {
    fn default() -> Self {
        Lists {
            spans: Vec::new(),
            pool: Vec::new(),
            stale: 0,
        }
    }
}

impl<T: Copy> Lists<T> {
    /// The list of a slot (empty for a slot it has not seen).
    pub(crate) fn get(&self, slot: u32) -> &[T] {
        match self.spans.get(slot as usize) {
            Some(span) => &self.pool[span.start as usize..(span.start + span.len) as usize],
            None => &[],
        }
    }

    /// Room for `slots` more slots and `items` more entries.
    pub(crate) fn reserve(&mut self, slots: usize, items: usize) {
        self.spans.reserve(slots);
        self.pool.reserve(items);
    }

    /// Gives every slot below `slots` a list (an empty one if new).
    pub(crate) fn cover(&mut self, slots: usize) {
        if self.spans.len() < slots {
            self.spans.resize(slots, Span::default());
        }
    }

    /// Replaces the list of `slot` (which [`Lists::cover`] covers): in
    /// place when the new one fits, else at the end of the pool.
    pub(crate) fn set(&mut self, slot: u32, items: &[T]) {
        let old = self.spans[slot as usize];
        let len = u32::try_from(items.len()).expect("a list under 4 billion entries");
        if len <= old.len {
            let start = old.start as usize;
            self.pool[start..start + items.len()].copy_from_slice(items);
            self.stale += (old.len - len) as usize;
            self.spans[slot as usize].len = len;
            return;
        }
        self.stale += old.len as usize;
        let start = u32::try_from(self.pool.len()).expect("under 4 billion edges in memory");
        self.pool.extend_from_slice(items);
        self.spans[slot as usize] = Span { start, len };
        if self.stale > COMPACT_AFTER && self.stale > self.pool.len() / 2 {
            self.compact();
        }
    }

    /// Copies every live list into a fresh pool, in slot order.
    fn compact(&mut self) {
        let mut pool = Vec::with_capacity(self.pool.len() - self.stale);
        for span in &mut self.spans {
            let start = span.start as usize;
            let moved = pool.len() as u32;
            pool.extend_from_slice(&self.pool[start..start + span.len as usize]);
            span.start = moved;
        }
        self.pool = pool;
        self.stale = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_is_replaced_in_place_or_moved_and_compaction_keeps_every_list() {
        let mut lists: Lists<u32> = Lists::default();
        lists.cover(3);
        lists.set(0, &[1, 2]);
        lists.set(2, &[7]);
        assert_eq!(lists.get(0), &[1, 2]);
        assert_eq!(lists.get(1), &[] as &[u32]);
        assert_eq!(lists.get(5), &[] as &[u32]);
        lists.set(0, &[3]);
        assert_eq!(lists.get(0), &[3]);
        lists.set(2, &[7, 8, 9]);
        assert_eq!(lists.get(2), &[7, 8, 9]);
        // Moving a list again and again leaves stale entries until compaction.
        for round in 0..(COMPACT_AFTER as u32) {
            let longer: Vec<u32> = (0..round + 4).collect();
            lists.set(1, &longer);
        }
        assert!(lists.stale <= COMPACT_AFTER.max(lists.pool.len() / 2));
        assert_eq!(lists.get(0), &[3]);
        assert_eq!(lists.get(2), &[7, 8, 9]);
        assert_eq!(lists.get(1).len(), COMPACT_AFTER + 3);
    }
}
