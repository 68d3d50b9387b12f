//! One tier's ready queue of an execution: the positions of its ready tasks
//! in the execution's start order (step index, then slot), as a bitset with
//! a summary level per 64 words. Inserting, removing and finding the next
//! ready task cost a few word operations whatever the queue's size; the
//! ordered set it replaced walked a B-tree of up to half the DAG (a random
//! 100 000-node DAG has some 40 000 ready tasks at its peak).

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ReadySet {
    /// `levels[0]` has a bit per position; each further level a bit per
    /// non-empty word of the one below; the last has a single word.
    levels: Vec<Vec<u64>>,
    len: usize,
}

impl ReadySet {
    /// An empty queue for positions below `positions`.
    pub(crate) fn new(positions: usize) -> ReadySet {
        let mut levels = Vec::new();
        let mut words = positions.div_ceil(64).max(1);
        loop {
            levels.push(vec![0; words]);
            if words == 1 {
                break;
            }
            words = words.div_ceil(64);
        }
        ReadySet { levels, len: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a position (below the size it was made for); false if present.
    pub(crate) fn insert(&mut self, position: u32) -> bool {
        let mut at = position as usize;
        for (level, words) in self.levels.iter_mut().enumerate() {
            let Some(word) = words.get_mut(at / 64) else {
                return false;
            };
            let bit = 1u64 << (at % 64);
            let was = *word;
            *word |= bit;
            if level == 0 {
                if was & bit != 0 {
                    return false;
                }
                self.len += 1;
            }
            if was != 0 {
                break;
            }
            at /= 64;
        }
        true
    }

    /// Takes a position out; false if it was not there.
    pub(crate) fn remove(&mut self, position: u32) -> bool {
        let mut at = position as usize;
        for (level, words) in self.levels.iter_mut().enumerate() {
            let Some(word) = words.get_mut(at / 64) else {
                return false;
            };
            let bit = 1u64 << (at % 64);
            if level == 0 {
                if *word & bit == 0 {
                    return false;
                }
                self.len -= 1;
            }
            *word &= !bit;
            if *word != 0 {
                break;
            }
            at /= 64;
        }
        true
    }

    /// The first position at or after `from`.
    pub(crate) fn next(&self, from: usize) -> Option<usize> {
        self.next_at(0, from)
    }

    fn next_at(&self, level: usize, from: usize) -> Option<usize> {
        let words = &self.levels[level];
        let index = from / 64;
        let word = *words.get(index)?;
        let bits = word & (!0u64 << (from % 64));
        if bits != 0 {
            return Some(index * 64 + bits.trailing_zeros() as usize);
        }
        if level + 1 == self.levels.len() {
            // The top level is one word: nothing lies past it.
            return None;
        }
        let next = self.next_at(level + 1, index + 1)?;
        Some(next * 64 + words[next].trailing_zeros() as usize)
    }

    /// Its positions in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let mut from = 0;
        std::iter::from_fn(move || {
            let found = self.next(from)?;
            from = found + 1;
            Some(found)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn it_keeps_the_positions_an_ordered_set_would_across_levels() {
        for size in [1, 63, 64, 65, 4096, 4097, 300_000] {
            let mut set = ReadySet::new(size);
            let mut model = BTreeSet::new();
            let mut state: u64 = 0x2545_f491_4f6c_dd1d;
            for _ in 0..2000 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let position = (state % size as u64) as u32;
                if state & (1 << 40) == 0 {
                    assert_eq!(set.insert(position), model.insert(position as usize));
                } else {
                    assert_eq!(set.remove(position), model.remove(&(position as usize)));
                }
                assert_eq!(set.is_empty(), model.is_empty());
                let from = (state >> 20) as usize % size;
                assert_eq!(set.next(from), model.range(from..).next().copied());
            }
            assert_eq!(
                set.iter().collect::<Vec<_>>(),
                model.into_iter().collect::<Vec<_>>()
            );
        }
        let mut set = ReadySet::new(10);
        assert!(!set.insert(10_000));
        assert!(!set.remove(10_000));
        assert_eq!(set.next(10_000), None);
    }
}
