//! Deadlines of connections, in one heap whose earliest entry sets the poll timeout.
//!
//! Entries are never removed early: a connection whose deadline moved simply finds, when the
//! old entry comes due, that it is not the deadline it is waiting for. To keep such stale
//! entries from piling up, the heap is rebuilt when it grows well past the number of live
//! deadlines.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::slab::Key;

#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Key)>>,
}

impl Timers {
    pub fn schedule(&mut self, at: Instant, key: Key) {
        self.heap.push(Reverse((at, key)));
    }

    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes and returns an entry that is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, Key)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse(entry)| entry),
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Keeps only the entries `is_live` confirms.
    pub fn retain(&mut self, mut is_live: impl FnMut(Instant, Key) -> bool) {
        self.heap.retain(|Reverse((at, key))| is_live(*at, *key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slab::Slab;
    use std::time::Duration;

    #[test]
    fn entries_come_due_in_time_order() {
        let mut slab = Slab::default();
        let (a, b) = (slab.insert(()), slab.insert(()));
        let now = Instant::now();
        let mut timers = Timers::default();
        timers.schedule(now + Duration::from_secs(2), a);
        timers.schedule(now + Duration::from_secs(1), b);
        assert_eq!(timers.next(), Some(now + Duration::from_secs(1)));
        assert_eq!(timers.pop_due(now), None);
        assert_eq!(timers.pop_due(now + Duration::from_secs(5)).map(|(_, k)| k), Some(b));
        assert_eq!(timers.pop_due(now + Duration::from_secs(5)).map(|(_, k)| k), Some(a));
        assert!(timers.is_empty());
    }

    #[test]
    fn retain_drops_stale_entries() {
        let mut slab = Slab::default();
        let key = slab.insert(());
        let now = Instant::now();
        let mut timers = Timers::default();
        for i in 0..10 {
            timers.schedule(now + Duration::from_secs(i), key);
        }
        let live = now + Duration::from_secs(9);
        timers.retain(|at, _| at == live);
        assert_eq!(timers.len(), 1);
        assert_eq!(timers.next(), Some(live));
    }
}
