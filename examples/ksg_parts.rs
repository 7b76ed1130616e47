use ndarray::Array2;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
fn main() {
    let n = 100_000;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut x = Array2::zeros((n, 2));
    let mut y = Array2::zeros((n, 2));
    for i in 0..n {
        for j in 0..2 {
            let a: f64 = StandardNormal.sample(&mut rng);
            let b: f64 = StandardNormal.sample(&mut rng);
            x[[i, j]] = a;
            y[[i, j]] = 0.8 * a + 0.6 * b;
        }
    }
    let joint = ndarray::concatenate(ndarray::Axis(1), &[x.view(), y.view()]).unwrap();
    let flat: Vec<f64> = joint.iter().copied().collect();
    let t = std::time::Instant::now();
    let tree = stib::mi::neighbours::KdTree::new(&flat, 4);
    println!("build {:?} {}", t.elapsed(), tree.order().len());
    let t = std::time::Instant::now();
    let eps = stib::mi::ksg::kth_neighbour_distance(joint.view(), 20);
    println!("knn {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let nx = stib::mi::ksg::marginal_counts(x.view(), &eps);
    println!("counts {:?} mean nx {}", t.elapsed(), nx.iter().sum::<usize>() as f64 / n as f64);
}
#[allow(dead_code)]
fn build_only() {}
