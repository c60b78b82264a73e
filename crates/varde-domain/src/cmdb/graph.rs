//! Breadth-first walks over the CI graph, one frontier at a time.
//!
//! The walk is pure: the caller (the store) asks [`Walk::frontier`] which
//! nodes to expand, fetches their neighbours in one batched query, and hands
//! them to [`Walk::advance`]. Breadth first gives every reached node a
//! shortest path back to the start; a node is expanded at most once, so
//! cycles and self loops end the walk instead of looping it.

use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct Walk {
    start: i64,
    max_depth: u32,
    max_nodes: usize,
    depth: u32,
    frontier: Vec<i64>,
    /// Reached node -> (the node it was first reached from, its distance).
    seen: HashMap<i64, (i64, u32)>,
    truncated: bool,
}

impl Walk {
    /// A walk from `start` to at most `max_depth` edges away.
    pub fn new(start: i64, max_depth: u32) -> Walk {
        Walk::with_limit(start, max_depth, usize::MAX)
    }

    /// As [`Walk::new`], stopping once `max_nodes` nodes are reached so that a
    /// walk over a huge, densely connected estate stays bounded; the result
    /// then says it is [`truncated`](Walk::truncated).
    pub fn with_limit(start: i64, max_depth: u32, max_nodes: usize) -> Walk {
        let mut seen = HashMap::new();
        seen.insert(start, (start, 0));
        let frontier = if max_depth == 0 { Vec::new() } else { vec![start] };
        Walk { start, max_depth, max_nodes, depth: 0, frontier, seen, truncated: false }
    }

    /// The nodes to expand next; empty when the walk is over.
    pub fn frontier(&self) -> &[i64] {
        &self.frontier
    }

    pub fn is_done(&self) -> bool {
        self.frontier.is_empty()
    }

    /// Takes the edges out of the current frontier as `(frontier node,
    /// neighbour)` pairs, in any order and with repeats. Pairs that do not
    /// start in the frontier are ignored. When a node is reachable from
    /// several frontier nodes, the smallest id is its parent, so the paths
    /// do not depend on the order the database returned rows in.
    pub fn advance(&mut self, steps: impl IntoIterator<Item = (i64, i64)>) {
        if self.frontier.is_empty() {
            return;
        }
        let mut steps: Vec<(i64, i64)> = steps.into_iter().collect();
        steps.sort_unstable_by_key(|&(from, to)| (to, from));
        let next_depth = self.depth + 1;
        let mut next = Vec::new();
        for (from, to) in steps {
            if !matches!(self.seen.get(&from), Some(&(_, d)) if d == self.depth) || self.seen.contains_key(&to) {
                continue;
            }
            if self.seen.len() > self.max_nodes {
                self.truncated = true;
                break;
            }
            self.seen.insert(to, (from, next_depth));
            next.push(to);
        }
        self.depth = next_depth;
        self.frontier = if self.depth >= self.max_depth || self.truncated { Vec::new() } else { next };
    }

    /// Every node reached, other than the start, with its distance.
    pub fn reached(&self) -> impl Iterator<Item = (i64, u32)> + '_ {
        self.seen.iter().filter(|(id, _)| **id != self.start).map(|(id, (_, d))| (*id, *d))
    }

    pub fn distance(&self, id: i64) -> Option<u32> {
        self.seen.get(&id).map(|(_, d)| *d)
    }

    /// A shortest path from `id` back to the start: `[id, ..., start]`.
    pub fn path(&self, id: i64) -> Option<Vec<i64>> {
        let mut out = vec![id];
        let mut at = id;
        while at != self.start {
            let (parent, _) = self.seen.get(&at)?;
            at = *parent;
            out.push(at);
        }
        Some(out)
    }

    /// Whether the walk stopped at its node limit before its depth.
    pub fn truncated(&self) -> bool {
        self.truncated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn run(edges: &[(i64, i64)], start: i64, depth: u32) -> Walk {
        let mut w = Walk::new(start, depth);
        while !w.is_done() {
            // Hand over every edge, in reverse, repeated: the walk must pick
            // out what belongs to its frontier itself.
            let steps: Vec<(i64, i64)> = edges.iter().rev().chain(edges.iter()).copied().collect();
            w.advance(steps);
        }
        w
    }

    /// The reference: a node is at distance k when some walk of exactly k
    /// edges reaches it and none shorter does; the sets of nodes reachable
    /// in exactly k steps are computed by brute force, step by step.
    fn naive(n: i64, edges: &[(i64, i64)], start: i64, depth: u32) -> HashMap<i64, u32> {
        let mut dist = HashMap::new();
        dist.insert(start, 0u32);
        let mut exactly: HashSet<i64> = [start].into();
        for k in 1..=depth {
            let mut next = HashSet::new();
            for v in 0..n {
                if edges.iter().any(|&(a, b)| b == v && exactly.contains(&a)) {
                    next.insert(v);
                }
            }
            for v in &next {
                dist.entry(*v).or_insert(k);
            }
            exactly = next;
        }
        dist
    }

    fn graph() -> impl Strategy<Value = (i64, Vec<(i64, i64)>, i64, u32)> {
        (1i64..24).prop_flat_map(|n| (Just(n), proptest::collection::vec((0..n, 0..n), 0..80), 0..n, 0u32..8))
    }

    proptest! {
        #[test]
        fn matches_the_naive_reference((n, edges, start, depth) in graph()) {
            let w = run(&edges, start, depth);
            let want = naive(n, &edges, start, depth);
            let got: HashMap<i64, u32> = w.reached().chain([(start, 0)]).collect();
            prop_assert_eq!(&got, &want);
            for (v, d) in w.reached() {
                let p = w.path(v).unwrap();
                prop_assert_eq!(p.len() as u32, d + 1, "a path is as long as the distance");
                prop_assert_eq!(p[0], v);
                prop_assert_eq!(*p.last().unwrap(), start);
                for pair in p.windows(2) {
                    // Paths run from the reached node back to the start: each
                    // step is an edge parent -> child.
                    prop_assert!(edges.contains(&(pair[1], pair[0])), "{:?} is not an edge", (pair[1], pair[0]));
                }
                let uniq: HashSet<&i64> = p.iter().collect();
                prop_assert_eq!(uniq.len(), p.len(), "no node twice on a path");
            }
            prop_assert!(!w.truncated());
        }

        #[test]
        fn the_result_does_not_depend_on_edge_order((n, mut edges, start, depth) in graph(), seed in any::<u64>()) {
            let _ = n;
            let a = run(&edges, start, depth);
            // A deterministic shuffle.
            let mut s = seed;
            for i in (1..edges.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                edges.swap(i, (s >> 33) as usize % (i + 1));
            }
            let b = run(&edges, start, depth);
            for (v, _) in a.reached() {
                prop_assert_eq!(a.path(v), b.path(v));
            }
        }
    }

    #[test]
    fn self_loops_and_cycles_end() {
        let edges = [(1, 1), (1, 2), (2, 3), (3, 1)];
        let w = run(&edges, 1, 100);
        let mut r: Vec<_> = w.reached().collect();
        r.sort();
        assert_eq!(r, vec![(2, 1), (3, 2)]);
        assert_eq!(w.path(3), Some(vec![3, 2, 1]));
    }

    #[test]
    fn depth_zero_reaches_nothing_and_limits_truncate() {
        assert_eq!(run(&[(1, 2)], 1, 0).reached().count(), 0);
        let mut w = Walk::with_limit(0, 5, 3);
        w.advance((1..10).map(|i| (0, i)));
        assert!(w.truncated());
        assert!(w.is_done());
        assert!(w.reached().count() <= 3);
    }
}
