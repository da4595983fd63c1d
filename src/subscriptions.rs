//! The subscription trie (spec §5): who gets notified when the document changes at a path.
//!
//! Nodes are keyed by path segment and hold the subscribers whose path ends exactly there. A
//! change at P reaches every node on the way from the root to P and every node below P, each
//! once; siblings and cousins are never touched.
//!
//! Paths can be hundreds of segments deep, so every walk — including dropping a node — is a loop
//! with an explicit stack, never recursion.

use std::collections::{BTreeMap, BTreeSet, btree_map};
use std::fmt;
use std::mem;

pub struct SubscriptionTrie<S> {
    root: Node<S>,
    pair_count: usize,
}

/// Children live in a `BTreeMap` rather than a `HashMap` so that notification order is the same
/// from run to run (no per-process hash seed) and a node with a few children stays compact.
struct Node<S> {
    subscribers: BTreeSet<S>,
    children: BTreeMap<String, Node<S>>,
}

/// What an unsubscribe changes, settled by a read-only walk first so the mutable walk never has
/// to climb back up to prune.
enum Removal {
    /// The node keeps other subscribers or children: only the subscriber goes.
    Subscriber,
    /// The node and its now-empty ancestors go: cut the branch below the node at this depth.
    Branch { parent_depth: usize },
}

impl<S> Default for Node<S> {
    fn default() -> Self {
        Node { subscribers: BTreeSet::new(), children: BTreeMap::new() }
    }
}

impl<S> Drop for Node<S> {
    /// The derived drop would recurse once per level and overflow the stack on a deep path.
    fn drop(&mut self) {
        let mut orphans: Vec<Node<S>> = mem::take(&mut self.children).into_values().collect();
        while let Some(mut orphan) = orphans.pop() {
            orphans.extend(mem::take(&mut orphan.children).into_values());
        }
    }
}

impl<S> Node<S> {
    fn descendant(&self, path: &[String]) -> Option<&Node<S>> {
        let mut node = self;
        for segment in path {
            node = node.children.get(segment)?;
        }
        Some(node)
    }

    fn descendant_mut(&mut self, path: &[String]) -> Option<&mut Node<S>> {
        let mut node = self;
        for segment in path {
            node = node.children.get_mut(segment)?;
        }
        Some(node)
    }
}

impl<S: Copy + Ord> Default for SubscriptionTrie<S> {
    fn default() -> Self {
        SubscriptionTrie { root: Node::default(), pair_count: 0 }
    }
}

impl<S> fmt::Debug for SubscriptionTrie<S> {
    /// Only the size: printing the nodes would be as deep as the deepest path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionTrie").field("pairs", &self.pair_count).finish_non_exhaustive()
    }
}

impl<S: Copy + Ord> SubscriptionTrie<S> {
    /// Returns true if the pair was new.
    pub fn subscribe(&mut self, path: &[String], subscriber: S) -> bool {
        let mut node = &mut self.root;
        for segment in path {
            // The entry API needs an owned key even when the child exists; subscribing is rare
            // next to notifying, so one small allocation per segment is not worth avoiding.
            node = node.children.entry(segment.clone()).or_default();
        }
        let added = node.subscribers.insert(subscriber);
        if added {
            self.pair_count += 1;
        }
        added
    }

    /// Returns true if the pair existed. Nodes left without subscribers and children are pruned,
    /// so memory follows the live subscriptions.
    pub fn unsubscribe(&mut self, path: &[String], subscriber: S) -> bool {
        let Some(removal) = self.plan_removal(path, subscriber) else {
            return false;
        };
        let removed = match removal {
            Removal::Subscriber => self
                .root
                .descendant_mut(path)
                .is_some_and(|node| node.subscribers.remove(&subscriber)),
            Removal::Branch { parent_depth } => self
                .root
                .descendant_mut(&path[..parent_depth])
                .and_then(|parent| parent.children.remove(&path[parent_depth]))
                .is_some(),
        };
        if removed {
            self.pair_count -= 1;
        }
        removed
    }

    pub fn is_subscribed(&self, path: &[String], subscriber: S) -> bool {
        self.root.descendant(path).is_some_and(|node| node.subscribers.contains(&subscriber))
    }

    /// The subscribers of exactly `path`, if any.
    pub fn subscribers(&self, path: &[String]) -> Option<&BTreeSet<S>> {
        self.root.descendant(path).map(|node| &node.subscribers).filter(|set| !set.is_empty())
    }

    /// Number of (path, subscriber) pairs.
    pub fn len(&self) -> usize {
        self.pair_count
    }

    pub fn is_empty(&self) -> bool {
        self.pair_count == 0
    }

    /// Calls `visit(path_of_node, subscribers_of_node)` once for every node with at least one
    /// subscriber that a change at `changed` reaches (ancestors including the root, the node
    /// itself, all descendants). `path_of_node` is the full segment path of that node. Order:
    /// unspecified but deterministic.
    pub fn for_each_affected(
        &self,
        changed: &[String],
        mut visit: impl FnMut(&[String], &BTreeSet<S>),
    ) {
        let mut node = &self.root;
        for (depth, segment) in changed.iter().enumerate() {
            if !node.subscribers.is_empty() {
                visit(&changed[..depth], &node.subscribers);
            }
            match node.children.get(segment) {
                Some(child) => node = child,
                // Nobody is subscribed at or below the changed path.
                None => return,
            }
        }
        if !node.subscribers.is_empty() {
            visit(changed, &node.subscribers);
        }
        if !node.children.is_empty() {
            visit_descendants(node, changed, &mut visit);
        }
    }

    /// Finds the pair and decides how far up the branch becomes empty once it is gone.
    fn plan_removal(&self, path: &[String], subscriber: S) -> Option<Removal> {
        let mut node = &self.root;
        // The root is never pruned, so the cut is at most directly below it.
        let mut parent_depth = 0;
        for (depth, segment) in path.iter().enumerate() {
            let needed_by_others = !node.subscribers.is_empty() || node.children.len() > 1;
            if needed_by_others {
                parent_depth = depth;
            }
            node = node.children.get(segment)?;
        }
        if !node.subscribers.contains(&subscriber) {
            return None;
        }
        let node_empties = node.subscribers.len() == 1 && node.children.is_empty();
        Some(if node_empties && !path.is_empty() {
            Removal::Branch { parent_depth }
        } else {
            Removal::Subscriber
        })
    }

    #[cfg(test)]
    fn node_count(&self) -> usize {
        let mut count = 0;
        let mut pending = vec![&self.root];
        while let Some(node) = pending.pop() {
            count += 1;
            pending.extend(node.children.values());
        }
        count
    }
}

/// Depth-first over everything below `start`, with one path buffer that grows and shrinks by a
/// segment as the walk moves, instead of a cloned path per node.
fn visit_descendants<S>(
    start: &Node<S>,
    start_path: &[String],
    visit: &mut impl FnMut(&[String], &BTreeSet<S>),
) {
    let mut path = start_path.to_vec();
    let mut pending: Vec<btree_map::Iter<'_, String, Node<S>>> = vec![start.children.iter()];
    while let Some(siblings) = pending.last_mut() {
        match siblings.next() {
            Some((segment, child)) => {
                path.push(segment.clone());
                if !child.subscribers.is_empty() {
                    visit(&path, &child.subscribers);
                }
                pending.push(child.children.iter());
            }
            None => {
                pending.pop();
                // The segments of `start_path` itself stay; only those the walk added come off.
                if path.len() > start_path.len() {
                    path.pop();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(segments: &[&str]) -> Vec<String> {
        segments.iter().map(|segment| segment.to_string()).collect()
    }

    /// Every (path, subscriber) pair a change reaches, asserting no node is visited twice.
    fn affected<S: Copy + Ord>(
        trie: &SubscriptionTrie<S>,
        changed: &[String],
    ) -> BTreeSet<(Vec<String>, S)> {
        let mut visited_nodes = BTreeSet::new();
        let mut pairs = BTreeSet::new();
        trie.for_each_affected(changed, |node_path, subscribers| {
            assert!(!subscribers.is_empty(), "visited an empty node");
            assert!(visited_nodes.insert(node_path.to_vec()), "node {node_path:?} visited twice");
            pairs.extend(subscribers.iter().map(|&s| (node_path.to_vec(), s)));
        });
        pairs
    }

    fn pairs(entries: &[(&[&str], &'static str)]) -> BTreeSet<(Vec<String>, &'static str)> {
        entries.iter().map(|&(segments, subscriber)| (path(segments), subscriber)).collect()
    }

    #[test]
    fn worked_example_of_the_spec() {
        let mut trie = SubscriptionTrie::default();
        trie.subscribe(&path(&[]), "c1");
        trie.subscribe(&path(&["foo"]), "c2");
        trie.subscribe(&path(&["foo", "bar"]), "c3");
        trie.subscribe(&path(&["baz"]), "c4");

        assert_eq!(
            affected(&trie, &path(&[])),
            pairs(&[(&[], "c1"), (&["foo"], "c2"), (&["foo", "bar"], "c3"), (&["baz"], "c4"),])
        );
        let without_baz = pairs(&[(&[], "c1"), (&["foo"], "c2"), (&["foo", "bar"], "c3")]);
        assert_eq!(affected(&trie, &path(&["foo"])), without_baz);
        assert_eq!(affected(&trie, &path(&["foo", "bar"])), without_baz);
    }

    #[test]
    fn root_subscription_sits_at_the_root_and_a_child_creates_one_node() {
        let mut trie = SubscriptionTrie::default();
        assert!(trie.subscribe(&path(&[]), 1));
        assert_eq!(trie.node_count(), 1);
        assert!(trie.subscribe(&path(&["some"]), 1));
        assert_eq!(trie.node_count(), 2);
        assert!(trie.is_subscribed(&path(&[]), 1));
        assert!(trie.is_subscribed(&path(&["some"]), 1));
    }

    #[test]
    fn subscribing_twice_is_idempotent() {
        let mut trie = SubscriptionTrie::default();
        assert!(trie.subscribe(&path(&["a", "b"]), 7));
        assert!(!trie.subscribe(&path(&["a", "b"]), 7));
        assert_eq!(trie.len(), 1);
        assert_eq!(trie.node_count(), 3);
        assert_eq!(affected(&trie, &path(&["a"])), [(path(&["a", "b"]), 7)].into());
    }

    #[test]
    fn unsubscribing_a_missing_pair_is_a_no_op() {
        let mut trie = SubscriptionTrie::default();
        assert!(!trie.unsubscribe(&path(&[]), 1));
        trie.subscribe(&path(&["a", "b"]), 1);
        assert!(!trie.unsubscribe(&path(&["a", "b"]), 2));
        assert!(!trie.unsubscribe(&path(&["a"]), 1));
        assert!(!trie.unsubscribe(&path(&["a", "b", "c"]), 1));
        assert!(!trie.unsubscribe(&path(&["x"]), 1));
        assert_eq!(trie.len(), 1);
        assert_eq!(trie.node_count(), 3);
        assert!(trie.is_subscribed(&path(&["a", "b"]), 1));
    }

    #[test]
    fn subscribe_then_unsubscribe_leaves_only_the_root() {
        for segments in [&[][..], &["a"], &["a", "b", "c"], &["", ""]] {
            let mut trie = SubscriptionTrie::default();
            trie.subscribe(&path(segments), 1);
            assert!(trie.unsubscribe(&path(segments), 1));
            assert!(trie.is_empty());
            assert_eq!(trie.len(), 0);
            assert_eq!(trie.node_count(), 1, "path {segments:?}");
        }
    }

    #[test]
    fn pruning_stops_at_a_node_still_in_use() {
        let mut trie = SubscriptionTrie::default();
        trie.subscribe(&path(&["a"]), 1);
        trie.subscribe(&path(&["a", "b", "c"]), 2);
        trie.subscribe(&path(&["x", "y"]), 3);
        trie.subscribe(&path(&["x", "z", "w"]), 3);

        assert!(trie.unsubscribe(&path(&["a", "b", "c"]), 2));
        assert_eq!(trie.node_count(), 1 + 1 + 2 + 2);
        assert!(trie.unsubscribe(&path(&["x", "z", "w"]), 3));
        assert_eq!(trie.node_count(), 1 + 1 + 2);
        // A node with children keeps existing after its own last subscriber leaves.
        trie.subscribe(&path(&["x"]), 4);
        assert!(trie.unsubscribe(&path(&["x"]), 4));
        assert_eq!(trie.node_count(), 4);
        assert!(trie.is_subscribed(&path(&["x", "y"]), 3));
    }

    #[test]
    fn subscribe_order_is_commutative() {
        let subscriptions = [
            (path(&[]), 1),
            (path(&["a"]), 2),
            (path(&["a", "b"]), 3),
            (path(&["a"]), 4),
            (path(&["c"]), 2),
        ];
        let mut forwards = SubscriptionTrie::default();
        let mut backwards = SubscriptionTrie::default();
        for (segments, subscriber) in &subscriptions {
            forwards.subscribe(segments, *subscriber);
        }
        for (segments, subscriber) in subscriptions.iter().rev() {
            backwards.subscribe(segments, *subscriber);
        }
        assert_eq!(forwards.len(), backwards.len());
        assert_eq!(forwards.node_count(), backwards.node_count());
        for changed in [path(&[]), path(&["a"]), path(&["a", "b"]), path(&["c"])] {
            let mut forward_visits = Vec::new();
            let mut backward_visits = Vec::new();
            forwards
                .for_each_affected(&changed, |p, s| forward_visits.push((p.to_vec(), s.clone())));
            backwards
                .for_each_affected(&changed, |p, s| backward_visits.push((p.to_vec(), s.clone())));
            assert_eq!(forward_visits, backward_visits);
        }
    }

    #[test]
    fn siblings_and_cousins_are_not_notified() {
        let mut trie = SubscriptionTrie::default();
        trie.subscribe(&path(&["a", "x"]), 1);
        trie.subscribe(&path(&["a", "y"]), 2);
        trie.subscribe(&path(&["b", "x"]), 3);
        assert_eq!(affected(&trie, &path(&["a", "x"])), [(path(&["a", "x"]), 1)].into());
        assert_eq!(affected(&trie, &path(&["a", "x", "deeper"])), [(path(&["a", "x"]), 1)].into());
        assert!(affected(&trie, &path(&["c"])).is_empty());
    }

    #[test]
    fn empty_segments_are_ordinary_keys() {
        let mut trie = SubscriptionTrie::default();
        trie.subscribe(&path(&["a", ""]), 1);
        trie.subscribe(&path(&["a"]), 2);
        trie.subscribe(&path(&["a", "b"]), 3);
        assert!(!trie.is_subscribed(&path(&["a"]), 1));
        assert!(!trie.is_subscribed(&path(&["a", ""]), 2));
        assert_eq!(
            affected(&trie, &path(&["a", ""])),
            [(path(&["a"]), 2), (path(&["a", ""]), 1)].into()
        );
        assert_eq!(affected(&trie, &path(&["a"])).len(), 3);
        assert!(trie.unsubscribe(&path(&["a", ""]), 1));
        assert!(trie.is_subscribed(&path(&["a"]), 2));
        assert_eq!(trie.node_count(), 3);
    }

    use crate::test_support::XorShift;

    fn random_path(rng: &mut XorShift) -> Vec<String> {
        const ALPHABET: [&str; 4] = ["", "a", "b", "c"];
        (0..rng.below(5)).map(|_| rng.pick(&ALPHABET).to_string()).collect()
    }

    fn prefix_related(a: &[String], b: &[String]) -> bool {
        a.starts_with(b) || b.starts_with(a)
    }

    /// Every prefix of a live path, the root included: the nodes a trie holds when pruning
    /// neither leaks nor over-prunes.
    fn expected_node_count(model: &BTreeSet<(Vec<String>, u8)>) -> usize {
        let mut prefixes: BTreeSet<&[String]> = BTreeSet::new();
        prefixes.insert(&[]);
        for (segments, _) in model {
            prefixes.extend((1..=segments.len()).map(|end| &segments[..end]));
        }
        prefixes.len()
    }

    #[test]
    fn matches_a_brute_force_model() {
        for seed in 1..=40_u64 {
            let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut trie = SubscriptionTrie::default();
            let mut model: BTreeSet<(Vec<String>, u8)> = BTreeSet::new();
            for _ in 0..400 {
                let segments = random_path(&mut rng);
                let subscriber = rng.below(4) as u8;
                match rng.below(5) {
                    0 | 1 => assert_eq!(
                        trie.subscribe(&segments, subscriber),
                        model.insert((segments, subscriber))
                    ),
                    2 | 3 => assert_eq!(
                        trie.unsubscribe(&segments, subscriber),
                        model.remove(&(segments, subscriber))
                    ),
                    _ => {
                        let expected: BTreeSet<_> = model
                            .iter()
                            .filter(|(live, _)| prefix_related(live, &segments))
                            .cloned()
                            .collect();
                        assert_eq!(affected(&trie, &segments), expected, "change {segments:?}");
                    }
                }
                assert_eq!(trie.len(), model.len());
                assert_eq!(trie.node_count(), expected_node_count(&model));
                let probe = random_path(&mut rng);
                let probe_subscriber = rng.below(4) as u8;
                assert_eq!(
                    trie.is_subscribed(&probe, probe_subscriber),
                    model.contains(&(probe, probe_subscriber))
                );
            }
            for (segments, subscriber) in mem::take(&mut model) {
                assert!(trie.unsubscribe(&segments, subscriber));
            }
            assert!(trie.is_empty());
            assert_eq!(trie.node_count(), 1);
        }
    }

    #[test]
    fn ten_thousand_subscribers_on_one_path() {
        let segments = path(&["busy", "path"]);
        let mut trie = SubscriptionTrie::default();
        for subscriber in 0..10_000_u32 {
            assert!(trie.subscribe(&segments, subscriber));
        }
        assert_eq!(trie.len(), 10_000);
        let mut notified = 0;
        trie.for_each_affected(&path(&["busy"]), |_, subscribers| {
            notified += subscribers.len();
        });
        assert_eq!(notified, 10_000);
        for subscriber in (0..10_000_u32).rev() {
            assert!(trie.unsubscribe(&segments, subscriber));
        }
        assert!(trie.is_empty());
        assert_eq!(trie.node_count(), 1);
    }

    #[test]
    fn a_hundred_thousand_segment_path_does_not_overflow_the_stack() {
        let deep = vec!["x".to_string(); 100_000];
        let mut trie = SubscriptionTrie::default();
        assert!(trie.subscribe(&deep, 1));
        assert!(trie.subscribe(&deep[..50_000], 2));
        assert!(trie.is_subscribed(&deep, 1));
        assert_eq!(trie.node_count(), 100_001);

        let mut from_root = Vec::new();
        trie.for_each_affected(&[], |p, s| from_root.push((p.len(), s.clone())));
        assert_eq!(from_root, [(50_000, [2].into()), (100_000, [1].into())]);
        let mut from_bottom = Vec::new();
        trie.for_each_affected(&deep, |p, s| from_bottom.push((p.len(), s.clone())));
        assert_eq!(from_root, from_bottom);

        // Pruning drops a 50,000-node branch in one piece.
        assert!(trie.unsubscribe(&deep, 1));
        assert_eq!(trie.node_count(), 50_001);
        assert!(trie.unsubscribe(&deep[..50_000], 2));
        assert_eq!(trie.node_count(), 1);

        // Dropping the whole trie with a deep path still in it.
        trie.subscribe(&deep, 3);
        drop(trie);
    }
}
