//! The KSG estimator against NPEET's values (noise off) on the authors' spiral test set.

mod common;

use stib::data::table::{ColumnSpec, read_columns};
use stib::mi::{KsgOptions, Ties, ksg_with};

fn mi(x: &str, y: &str, k: usize) -> Option<stib::mi::KsgEstimate> {
    let dir = common::data_dir("ksg_reference")?;
    let path = dir.join("spiral_test.csv");
    let g = read_columns(&path, &[ColumnSpec::parse_list(x), ColumnSpec::parse_list(y)]).unwrap();
    Some(ksg_with(g[0].view(), g[1].view(), &KsgOptions { k, ties: Ties::Error, seed: 0 }).unwrap())
}

#[test]
fn spiral_x_y_k20_bits() {
    let Some(e) = mi("x0,x1", "y0,y1", 20) else { return };
    assert!((e.bits() - 3.196156104).abs() < 1e-6, "{}", e.bits());
    assert!((e.nats - 2.215406592).abs() < 1e-6, "{}", e.nats);
    assert!(!e.jittered);
}

#[test]
fn spiral_x_y_k3_bits() {
    let Some(e) = mi("x0,x1", "y0,y1", 3) else { return };
    assert!((e.bits() - 4.059125340).abs() < 1e-6, "{}", e.bits());
}

#[test]
fn spiral_t_y_k20_bits() {
    let Some(e) = mi("t", "y0,y1", 20) else { return };
    assert!((e.bits() - 4.901541935).abs() < 1e-6, "{}", e.bits());
}

#[test]
fn spiral_x0_y_k20_bits() {
    let Some(e) = mi("x0", "y0,y1", 20) else { return };
    assert!((e.bits() - 1.038879520).abs() < 1e-6, "{}", e.bits());
}

#[test]
fn auto_ties_leave_continuous_data_untouched() {
    let Some(dir) = common::data_dir("auto_ties") else { return };
    let g =
        read_columns(&dir.join("spiral_test.csv"), &[ColumnSpec::parse_list("x0,x1"), ColumnSpec::parse_list("y0,y1")])
            .unwrap();
    let auto = stib::mi::ksg(g[0].view(), g[1].view(), 20).unwrap();
    assert!((auto / std::f64::consts::LN_2 - 3.196156104).abs() < 1e-6);
    // NPEET-style jitter moves the estimate by far less than its statistical error.
    let jit = ksg_with(g[0].view(), g[1].view(), &KsgOptions { k: 20, ties: Ties::Jitter, seed: 3 }).unwrap();
    assert!(jit.jittered);
    assert!((jit.nats - auto).abs() < 1e-4);
}
