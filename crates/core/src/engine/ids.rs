//! Task ids interned into slots: every id the graph has seen gets a `u32`
//! slot once, its text kept back to back in one buffer and found through an
//! open-addressing table of (hash tag, slot) words. On a 100 000-task DAG
//! this is a few compact arrays rather than a hash map of separately
//! allocated keys, so a lookup touches about two cache lines, not four.

use std::hash::Hasher;

/// Hashes task ids: a multiply-rotate over 8-byte words, several times
/// quicker than the default SipHash on short ids. The ids are the
/// coordinator's own (ULIDs), so hash flooding is no concern.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(SEED);
        }
    }

    fn finish(&self) -> u64 {
        // The multiply leaves its best bits high; the table indexes by the low ones.
        self.0.rotate_left(26)
    }
}

fn hash(id: &str) -> u64 {
    let mut hasher = IdHasher::default();
    hasher.write(id.as_bytes());
    hasher.finish()
}

/// An empty table entry (no slot is `u32::MAX`: [`Ids::intern`] stops at 2^30).
const EMPTY: u64 = u64::MAX;

/// The interned ids, slot by slot.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ids {
    /// Every id, in slot order, back to back.
    text: String,
    /// Per slot: where its id ends in `text` (it starts where the previous ends).
    ends: Vec<u32>,
    /// Open addressing, linear probing, at most 7/8 full: each entry the
    /// high 32 bits of the id's hash over its slot, or [`EMPTY`]. The tag
    /// spares comparing the text of ids that only share a bucket.
    table: Vec<u64>,
}

impl Ids {
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The id of a slot.
    pub(crate) fn id(&self, slot: u32) -> &str {
        let slot = slot as usize;
        let start = if slot == 0 { 0 } else { self.ends[slot - 1] };
        &self.text[start as usize..self.ends[slot] as usize]
    }

    /// The slot of an id, if it has one.
    pub(crate) fn get(&self, id: &str) -> Option<u32> {
        if self.table.is_empty() {
            return None;
        }
        self.probe(id).ok()
    }

    /// Where `id` is in the (non-empty) table: `Ok` its slot, or `Err` the
    /// empty entry it would take and its hash's tag.
    fn probe(&self, id: &str) -> Result<u32, (usize, u64)> {
        let hash = hash(id);
        let tag = hash >> 32;
        let mask = self.table.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            let entry = self.table[at];
            if entry == EMPTY {
                return Err((at, tag));
            }
            let slot = entry as u32;
            if entry >> 32 == tag && self.id(slot) == id {
                return Ok(slot);
            }
            at = (at + 1) & mask;
        }
    }

    /// Room for `additional` more ids without growing the table.
    pub(crate) fn reserve(&mut self, additional: usize, bytes: usize) {
        self.ends.reserve(additional);
        self.text.reserve(bytes);
        let wanted = (self.len() + additional) * 8 / 7 + 1;
        if wanted > self.table.len() {
            self.rebuild(wanted.next_power_of_two());
        }
    }

    /// The slot of an id, given one if it has none yet.
    pub(crate) fn intern(&mut self, id: &str) -> u32 {
        if (self.len() + 1) * 8 > self.table.len() * 7 {
            self.rebuild((self.table.len() * 2).max(64));
        }
        let (at, tag) = match self.probe(id) {
            Ok(slot) => return slot,
            Err(empty) => empty,
        };
        // A need keeps a slot in 30 bits (`graph::Need`).
        let slot = u32::try_from(self.len())
            .ok()
            .filter(|slot| *slot < 1 << 30)
            .expect("fewer than 2^30 tasks in memory");
        self.text.push_str(id);
        let end = u32::try_from(self.text.len()).expect("task ids under 4 GiB in all");
        self.ends.push(end);
        self.table[at] = (tag << 32) | u64::from(slot);
        slot
    }

    /// Rehashes every id into a table of `size` entries (a power of two).
    fn rebuild(&mut self, size: usize) {
        let mut table = vec![EMPTY; size];
        let mask = size - 1;
        for slot in 0..self.len() as u32 {
            let hash = hash(self.id(slot));
            let mut at = hash as usize & mask;
            while table[at] != EMPTY {
                at = (at + 1) & mask;
            }
            table[at] = ((hash >> 32) << 32) | u64::from(slot);
        }
        self.table = table;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_keeps_its_slot_and_the_table_grows_past_its_first_size() {
        let mut ids = Ids::default();
        let slots: Vec<u32> = (0..1000).map(|i| ids.intern(&format!("t{i}"))).collect();
        assert_eq!(slots, (0..1000).collect::<Vec<u32>>());
        assert_eq!(ids.intern("t7"), 7);
        assert_eq!(ids.get("t999"), Some(999));
        assert_eq!(ids.get("t1000"), None);
        assert_eq!(ids.id(10), "t10");
        assert_eq!(ids.id(0), "t0");
        ids.reserve(5000, 0);
        assert_eq!(ids.get("t123"), Some(123));
        assert_eq!(ids.intern(""), 1000);
        assert_eq!(ids.get(""), Some(1000));
        assert_eq!(ids.id(1000), "");
    }
}
