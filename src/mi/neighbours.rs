//! Exact max-norm neighbour queries for the KSG estimator: a static k-d tree over points of
//! any dimension whose nodes know their bounding box and size.
//!
//! - [`KdTree::kth_distance`]: distance to the k-th nearest point, keeping the k best in a
//!   small sorted array (no heap, no allocation per query).
//! - [`KdTree::count_within`]: number of points inside a max-norm ball, without listing them.
//!
//! Queries run in the tree's own order, so consecutive queries touch the same nodes.
//!
//! The KSG estimator needs, for every sample i, the number of samples strictly closer than
//! eps_i in each marginal space. Those counts are large (about a thousand per point at
//! N = 100,000), so listing the neighbours (what a k-NN library's radius query does) costs
//! far more than counting them: a node whose box lies wholly inside the ball adds its size at
//! once, a node wholly outside is skipped, and only the boundary is visited point by point.
//! Inclusion uses the same predicate |u - v| < eps on each coordinate as the point test, so
//! the counts are exact.

use rayon::prelude::*;

/// Points per leaf.
const LEAF: usize = 32;

#[derive(Debug, Clone)]
struct Node {
    /// Range of the node's points in the permuted point array.
    start: usize,
    end: usize,
    /// Children (indices into the node array), or `usize::MAX` for a leaf.
    left: usize,
    right: usize,
}

/// A static k-d tree over n points of dimension d.
#[derive(Debug, Clone)]
pub struct KdTree {
    dim: usize,
    /// Points, row-major, in tree order.
    points: Vec<f64>,
    nodes: Vec<Node>,
    /// Bounding boxes, `2 d` values per node: lows then highs.
    boxes: Vec<f64>,
    /// `order[r]` is the input index of the point stored at row r.
    order: Vec<usize>,
}

impl KdTree {
    /// Builds the tree over `points` (row-major, `n x dim`).
    pub fn new(points: &[f64], dim: usize) -> Self {
        assert!(dim > 0 && points.len().is_multiple_of(dim), "points must be n x dim");
        let n = points.len() / dim;
        let mut order: Vec<usize> = (0..n).collect();
        arrange(points, dim, &mut order);
        let mut tree_points = Vec::with_capacity(points.len());
        for &i in &order {
            tree_points.extend_from_slice(&points[i * dim..(i + 1) * dim]);
        }
        let mut tree = KdTree { dim, points: tree_points, nodes: Vec::new(), boxes: Vec::new(), order };
        if n > 0 {
            tree.build_nodes(0, n);
        }
        tree
    }

    /// Creates the nodes over rows `start..end` of the arranged points (the same halving as
    /// [`arrange`]), with bounding boxes from the leaves up; returns the node's index.
    fn build_nodes(&mut self, start: usize, end: usize) -> usize {
        let d = self.dim;
        let id = self.nodes.len();
        self.nodes.push(Node { start, end, left: usize::MAX, right: usize::MAX });
        self.boxes.extend(std::iter::repeat_n(0.0, 2 * d));
        let mut bounds = vec![0.0; 2 * d];
        if end - start > LEAF {
            let mid = start + (end - start) / 2;
            let left = self.build_nodes(start, mid);
            let right = self.build_nodes(mid, end);
            self.nodes[id].left = left;
            self.nodes[id].right = right;
            for j in 0..d {
                bounds[j] = self.boxes[2 * d * left + j].min(self.boxes[2 * d * right + j]);
                bounds[d + j] = self.boxes[2 * d * left + d + j].max(self.boxes[2 * d * right + d + j]);
            }
        } else {
            bounds[..d].fill(f64::INFINITY);
            bounds[d..].fill(f64::NEG_INFINITY);
            for p in self.points[start * d..end * d].chunks_exact(d) {
                for j in 0..d {
                    bounds[j] = bounds[j].min(p[j]);
                    bounds[d + j] = bounds[d + j].max(p[j]);
                }
            }
        }
        self.boxes[2 * d * id..2 * d * (id + 1)].copy_from_slice(&bounds);
        id
    }

    /// The tree order: a permutation of the input indices in which nearby points are
    /// adjacent. Queries issued in this order reuse the cache.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// For every point i of the tree, the number of *other* points strictly closer than
    /// `eps[i]` (input order), computed in tree order and in parallel.
    pub fn count_all_within(&self, eps: &[f64]) -> Vec<usize> {
        let d = self.dim;
        let in_tree_order: Vec<usize> = self
            .points
            .par_chunks_exact(d)
            .zip(self.order.par_iter())
            .map(|(p, &i)| self.count_within(p, eps[i]).saturating_sub(1))
            .collect();
        let mut out = vec![0; in_tree_order.len()];
        for (c, &i) in in_tree_order.iter().zip(&self.order) {
            out[i] = *c;
        }
        out
    }

    /// For every point i of the tree, the max-norm distance to its k-th nearest *other*
    /// point (input order), computed in tree order and in parallel.
    pub fn all_kth_distances(&self, k: usize) -> Vec<f64> {
        let in_tree_order = match self.dim {
            1 => self.all_kth_in_tree_order::<1>(k),
            2 => self.all_kth_in_tree_order::<2>(k),
            3 => self.all_kth_in_tree_order::<3>(k),
            4 => self.all_kth_in_tree_order::<4>(k),
            5 => self.all_kth_in_tree_order::<5>(k),
            6 => self.all_kth_in_tree_order::<6>(k),
            _ => self.all_kth_in_tree_order::<0>(k),
        };
        let mut out = vec![0.0; in_tree_order.len()];
        for (e, &i) in in_tree_order.iter().zip(&self.order) {
            out[i] = *e;
        }
        out
    }

    fn all_kth_in_tree_order<const D: usize>(&self, k: usize) -> Vec<f64> {
        let d = self.dim;
        // Consecutive points in tree order are close, so the previous answer bounds the next
        // one (triangle inequality: eps_i <= eps_{i-1} + |q_i - q_{i-1}|), which prunes the
        // search from the start. The bound is widened by a relative 1e-12 so that it stays
        // strictly above the true distance despite rounding; the answer is exact.
        let chunks: Vec<Vec<f64>> = self
            .points
            .par_chunks(d * 256)
            .map(|chunk| {
                let mut best = vec![f64::INFINITY; k + 1];
                let mut out = Vec::with_capacity(chunk.len() / d);
                let mut prev: Option<(&[f64], f64)> = None;
                for q in chunk.chunks_exact(d) {
                    let bound = match prev {
                        Some((p, e)) => {
                            let step = p.iter().zip(q).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
                            (e + step) * (1.0 + 1e-12) + f64::MIN_POSITIVE
                        }
                        None => f64::INFINITY,
                    };
                    let e = self.kth_distance_d::<D>(q, &mut best, bound);
                    out.push(e);
                    prev = Some((q, e));
                }
                out
            })
            .collect();
        chunks.concat()
    }

    /// Distance from `q` to its `best.len()`-th nearest point of the tree (the query point
    /// itself counts when it is in the tree). `best` is scratch space, overwritten.
    pub fn kth_distance(&self, q: &[f64], best: &mut [f64]) -> f64 {
        self.kth_distance_d::<0>(q, best, f64::INFINITY)
    }

    /// [`KdTree::kth_distance`] with the dimension known at compile time (`D = 0`: at run
    /// time), so the distance loops unroll for the common small dimensions. `bound` must be
    /// strictly greater than the answer (or infinite).
    fn kth_distance_d<const D: usize>(&self, q: &[f64], best: &mut [f64], bound: f64) -> f64 {
        let m = best.len();
        best.fill(bound);
        if self.nodes.is_empty() || m == 0 {
            return f64::INFINITY;
        }
        let d = if D == 0 { self.dim } else { D };
        let q = &q[..d];
        let mut stack = [(0usize, 0.0f64); 128];
        let mut top = 1;
        while top > 0 {
            top -= 1;
            let (id, box_dist) = stack[top];
            if box_dist >= best[m - 1] {
                continue;
            }
            let node = &self.nodes[id];
            if node.left == usize::MAX {
                // Distances first (a branch-free loop the compiler vectorises), then the few
                // that beat the current k-th best are inserted.
                let mut dists = [0.0f64; LEAF];
                let leaf = &self.points[node.start * d..node.end * d];
                for (slot, p) in dists.iter_mut().zip(leaf.chunks_exact(d)) {
                    let mut dist = 0.0f64;
                    for j in 0..d {
                        dist = dist.max((p[j] - q[j]).abs());
                    }
                    *slot = dist;
                }
                for &dist in &dists[..node.end - node.start] {
                    let worst = best[m - 1];
                    if dist < worst {
                        // Insert into the sorted array, dropping the last.
                        let mut j = m - 1;
                        while j > 0 && best[j - 1] > dist {
                            best[j] = best[j - 1];
                            j -= 1;
                        }
                        best[j] = dist;
                    }
                }
            } else {
                let (dl, dr) = (self.box_distance::<D>(node.left, q), self.box_distance::<D>(node.right, q));
                let (near, far) =
                    if dl <= dr { ((node.left, dl), (node.right, dr)) } else { ((node.right, dr), (node.left, dl)) };
                if far.1 < best[m - 1] {
                    stack[top] = far;
                    top += 1;
                }
                stack[top] = near;
                top += 1;
            }
        }
        best[m - 1]
    }

    /// Max-norm distance from `q` to the bounding box of node `id` (0 inside).
    #[inline]
    fn box_distance<const D: usize>(&self, id: usize, q: &[f64]) -> f64 {
        let d = if D == 0 { self.dim } else { D };
        let lo = &self.boxes[2 * d * id..2 * d * id + d];
        let hi = &self.boxes[2 * d * id + d..2 * d * (id + 1)];
        let mut dist = 0.0f64;
        for j in 0..d {
            dist = dist.max(lo[j] - q[j]).max(q[j] - hi[j]);
        }
        dist
    }

    /// Number of points p with |p_j - q_j| < eps for every coordinate j (the query point
    /// itself included when it is in the tree).
    pub fn count_within(&self, q: &[f64], eps: f64) -> usize {
        if self.nodes.is_empty() {
            return 0;
        }
        let mut stack = [0usize; 128];
        let mut top = 1;
        let mut count = 0;
        let d = self.dim;
        while top > 0 {
            top -= 1;
            let id = stack[top];
            let node = &self.nodes[id];
            let (lo, hi) = (&self.boxes[2 * d * id..2 * d * id + d], &self.boxes[2 * d * id + d..2 * d * (id + 1)]);
            let mut inside = true;
            let mut outside = false;
            for j in 0..d {
                let (l, h, v) = (lo[j], hi[j], q[j]);
                if (h < v && v - h >= eps) || (l > v && l - v >= eps) {
                    outside = true;
                    break;
                }
                inside &= (v - l).abs() < eps && (h - v).abs() < eps;
            }
            if outside {
                continue;
            }
            if inside {
                count += node.end - node.start;
            } else if node.left == usize::MAX {
                count += self.points[node.start * d..node.end * d]
                    .chunks_exact(d)
                    .filter(|p| p.iter().zip(q).all(|(a, b)| (a - b).abs() < eps))
                    .count();
            } else {
                stack[top] = node.left;
                stack[top + 1] = node.right;
                top += 2;
            }
        }
        count
    }
}

/// Reorders `order` (indices of `points`) into k-d tree order: each range longer than a leaf
/// is split at its middle along its widest coordinate, both halves in parallel.
fn arrange(points: &[f64], d: usize, order: &mut [usize]) {
    let len = order.len();
    if len <= LEAF {
        return;
    }
    let (mut lo, mut hi) = (vec![f64::INFINITY; d], vec![f64::NEG_INFINITY; d]);
    for &i in order.iter() {
        for j in 0..d {
            let v = points[i * d + j];
            lo[j] = lo[j].min(v);
            hi[j] = hi[j].max(v);
        }
    }
    let axis = (0..d).max_by(|&a, &b| (hi[a] - lo[a]).total_cmp(&(hi[b] - lo[b]))).unwrap_or(0);
    let mid = len / 2;
    order.select_nth_unstable_by(mid, |&a, &b| points[a * d + axis].total_cmp(&points[b * d + axis]));
    let (left, right) = order.split_at_mut(mid);
    if len > 8192 {
        rayon::join(|| arrange(points, d, left), || arrange(points, d, right));
    } else {
        arrange(points, d, left);
        arrange(points, d, right);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kth_distances_equal_brute_force() {
        let n = 2000;
        let pts: Vec<f64> = (0..n * 2).map(|i| ((i * 104729 % 997) as f64 / 30.0).round() / 3.0).collect();
        let tree = KdTree::new(&pts, 2);
        let k = 7;
        let fast = tree.all_kth_distances(k);
        for i in [0usize, 1, 500, 1999] {
            let q = &pts[i * 2..i * 2 + 2];
            let mut d: Vec<f64> = (0..n)
                .filter(|&j| j != i)
                .map(|j| pts[j * 2..j * 2 + 2].iter().zip(q).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max))
                .collect();
            d.sort_by(f64::total_cmp);
            assert_eq!(fast[i], d[k - 1], "point {i}");
        }
    }

    #[test]
    fn counts_equal_brute_force() {
        // Rounded coordinates make ties and points exactly on the boundary.
        let n = 3000;
        let pts: Vec<f64> = (0..n * 3).map(|i| ((i * 7919 % 1009) as f64 / 50.0).round() / 4.0).collect();
        let tree = KdTree::new(&pts, 3);
        for (qi, eps) in [(0usize, 0.25), (17, 0.5), (123, 1.0), (2999, 3.0), (5, 1e-9)] {
            let q = &pts[qi * 3..qi * 3 + 3];
            let brute = pts.chunks_exact(3).filter(|p| p.iter().zip(q).all(|(a, b)| (a - b).abs() < eps)).count();
            assert_eq!(tree.count_within(q, eps), brute, "query {qi} eps {eps}");
        }
    }
}
