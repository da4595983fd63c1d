//! Connection storage with generation-tagged keys.
//!
//! A slot is reused after its connection closes, so a readiness event or timer that was queued
//! for the old connection could reach the new one. Each key carries the generation of its slot;
//! a key from an older generation simply finds nothing.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    index: u32,
    generation: u32,
}

impl Key {
    /// Packs the key into a mio token value. Values with the top bit set are left for the
    /// reactor's own sources (listeners, the signal pipe).
    pub fn to_token(self) -> usize {
        (usize::try_from(self.generation).unwrap_or(0) << 32) | self.index as usize
    }

    pub fn from_token(token: usize) -> Option<Key> {
        let token = u64::try_from(token).ok()?;
        Some(Key { index: (token & 0xffff_ffff) as u32, generation: (token >> 32) as u32 })
    }
}

/// Largest generation: keeps packed tokens below the reactor's reserved range.
const MAX_GENERATION: u32 = 0x7fff_ffff;

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { slots: Vec::new(), free: Vec::new(), len: 0 }
    }
}

impl<T> Slab<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn insert(&mut self, value: T) -> Key {
        self.len += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.value = Some(value);
            return Key { index, generation: slot.generation };
        }
        let index = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        self.slots.push(Slot { generation: 1, value: Some(value) });
        Key { index, generation: 1 }
    }

    pub fn get(&self, key: Key) -> Option<&T> {
        let slot = self.slots.get(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        slot.value.as_ref()
    }

    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        slot.value.as_mut()
    }

    pub fn remove(&mut self, key: Key) -> Option<T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        let value = slot.value.take()?;
        slot.generation = if slot.generation >= MAX_GENERATION { 1 } else { slot.generation + 1 };
        self.free.push(key.index);
        self.len -= 1;
        Some(value)
    }

    pub fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.value.is_some())
            .map(|(index, slot)| Key { index: index as u32, generation: slot.generation })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_keys_find_nothing_after_reuse() {
        let mut slab = Slab::default();
        let first = slab.insert("first");
        assert_eq!(slab.remove(first), Some("first"));
        let second = slab.insert("second");
        assert_eq!(slab.get(first), None, "same slot, older generation");
        assert_eq!(slab.get_mut(first), None);
        assert_eq!(slab.remove(first), None);
        assert_eq!(slab.get(second), Some(&"second"));
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn tokens_round_trip_and_stay_below_the_reserved_range() {
        let mut slab = Slab::default();
        let keys: Vec<Key> = (0..10).map(|i| slab.insert(i)).collect();
        for key in keys {
            let token = key.to_token();
            assert!(token < 1 << 63);
            assert_eq!(Key::from_token(token), Some(key));
        }
        assert_eq!(slab.keys().count(), 10);
    }
}
