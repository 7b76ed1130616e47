//! `stib mi` end to end: reference values through the binary, and every kind of bad input
//! giving a clear message and exit code 2.

mod common;

use common::{stib, temp_file};

fn assert_user_error(args: &[&str], needles: &[&str]) {
    let out = stib(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "args {args:?}: stderr {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "args {args:?}: stderr '{stderr}' lacks '{n}'");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn json_output_reproduces_the_reference_value() {
    let Some(dir) = common::data_dir("cli_mi") else { return };
    let file = dir.join("spiral_test.csv");
    let out = stib(&["mi", file.to_str().unwrap(), "--x", "x0,x1", "--y", "2,3", "--k", "20", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!((v["mi"].as_f64().unwrap() - 3.196156104).abs() < 1e-6);
    assert_eq!(v["n"], 10_000);
    let nats = stib(&["mi", file.to_str().unwrap(), "--base", "e", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&nats.stdout).unwrap();
    assert!((v["mi"].as_f64().unwrap() - 2.215406592).abs() < 1e-6);
}

#[test]
fn built_in_example_runs_without_files() {
    let out = stib(&["mi", "--n", "2000", "--x", "t", "--gaussian"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("MI_KSG") && text.contains("MI_gauss"), "{text}");
}

#[test]
fn missing_and_empty_files() {
    assert_user_error(&["mi", "/nonexistent/data.csv"], &["/nonexistent/data.csv"]);
    let (_d, empty) = temp_file("empty.csv", "");
    assert_user_error(&["mi", empty.to_str().unwrap()], &["empty.csv:1", "empty"]);
    let (_d, header_only) = temp_file("header.csv", "x0,x1,y0,y1\n");
    assert_user_error(&["mi", header_only.to_str().unwrap()], &["header.csv:1", "no data rows"]);
}

#[test]
fn missing_duplicate_and_out_of_range_columns() {
    let (_d, f) = temp_file("cols.csv", "a,b,a\n1,2,3\n4,5,6\n7,8,9\n");
    let p = f.to_str().unwrap();
    assert_user_error(&["mi", p, "--x", "zz", "--y", "b", "--k", "1"], &["cols.csv:1", "'zz'"]);
    assert_user_error(&["mi", p, "--x", "a", "--y", "b", "--k", "1"], &["cols.csv:1", "'a' appears 2 times"]);
    assert_user_error(&["mi", p, "--x", "7", "--y", "b", "--k", "1"], &["cols.csv:1", "index 7"]);
}

#[test]
fn bad_fields_name_line_and_column() {
    let (_d, f) = temp_file("text.csv", "u,v\n1,2\n3,abc\n5,6\n");
    assert_user_error(&["mi", f.to_str().unwrap(), "--x", "u", "--y", "v", "--k", "1"], &["text.csv:3", "'v'", "abc"]);
    let (_d, f) = temp_file("nan.csv", "u,v\n1,2\nNaN,4\n5,6\n");
    assert_user_error(
        &["mi", f.to_str().unwrap(), "--x", "u", "--y", "v", "--k", "1"],
        &["nan.csv:3", "'u'", "finite"],
    );
    let (_d, f) = temp_file("inf.csv", "u,v\n1,2\n3,4\n5,inf\n");
    assert_user_error(&["mi", f.to_str().unwrap(), "--x", "u", "--y", "v", "--k", "1"], &["inf.csv:4", "'v'"]);
    let (_d, f) = temp_file("ragged.csv", "u,v\n1,2\n3\n5,6\n");
    assert_user_error(
        &["mi", f.to_str().unwrap(), "--x", "u", "--y", "v", "--k", "1"],
        &["ragged.csv:3", "expected 2 fields"],
    );
}

#[test]
fn impossible_k() {
    let (_d, f) = temp_file("small.csv", "u,v\n1,2\n3,4\n5,7\n");
    let p = f.to_str().unwrap();
    assert_user_error(&["mi", p, "--x", "u", "--y", "v", "--k", "3"], &["k = 3", "3"]);
    assert_user_error(&["mi", p, "--x", "u", "--y", "v", "--k", "0"], &["k must be at least 1"]);
}

/// The probe, a fresh adversary fitted on the even rows and read on the odd ones, finds what x
/// holds about t = 2 x0 + x1 + 0.1 N(0, 1) (0.5 log2(1 + var(2 x0 + x1) / 0.01) = 5.70 bits)
/// and next to nothing between two independent columns; with too few rows it says so.
#[test]
fn the_probe_finds_dependence_that_is_there_and_none_that_is_not() {
    let probe = |x: &str, y: &str| -> f64 {
        let args = ["mi", "--n", "4000", "--x", x, "--y", y, "--probe", "--probe-steps", "600", "--json"];
        let out = stib(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["probe_mi"].as_f64().unwrap()
    };
    let dependent = probe("x0,x1", "t");
    let independent = probe("x0", "x1");
    assert!((5.2..6.0).contains(&dependent), "{dependent}");
    assert!(independent.abs() < 0.02, "{independent}");
    let rows: String = (0..30).map(|i| format!("{i},{}\n", (i * 7) % 30)).collect();
    let (_d, f) = temp_file("few.csv", &format!("u,v\n{rows}"));
    assert_user_error(&["mi", f.to_str().unwrap(), "--x", "u", "--y", "v", "--k", "3", "--probe"], &["at least 20"]);
}
