//! The ablation report: its Markdown tables and the helpers that read its JSON.

use serde_json::Value;

/// The comparison groups, in table order.
pub const GROUPS: [&str; 3] = ["z", "x", "teaching"];

/// The columns of each comparison: (title, [(metric key, header)]).
fn columns(toy: bool) -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    let time = ("seconds_per_iteration", "s / iteration");
    if toy {
        let ll = ("log_likelihood_nats", "log-likelihood (nats)");
        let modes = ("modes_reached_by_revised_samples", "modes reached");
        let mse = ("reconstruction_mse_after_z_langevin", "reconstruction MSE");
        vec![
            ("z: z-chain initialisation and length (paper Table 4)", vec![ll, mse, time]),
            ("x: x-chain length (paper Table 5)", vec![ll, modes, time]),
            ("teaching: how the generator learns (paper Table 1's comparison)", vec![ll, modes, mse, time]),
        ]
    } else {
        let fd_rev = ("frechet_distance_revised_samples", "Fréchet (revised)");
        let fd_gen = ("frechet_distance_generator_samples", "Fréchet (generator)");
        let mse = ("reconstruction_mse_after_z_langevin", "reconstruction MSE");
        let ssim = ("ssim_after_z_langevin", "SSIM");
        vec![
            ("z: z-chain initialisation and length (paper Table 4)", vec![fd_rev, mse, ssim, time]),
            ("x: x-chain length (paper Table 5)", vec![fd_rev, fd_gen, time]),
            (
                "teaching: how the generator learns (paper Table 1's comparison)",
                vec![fd_rev, fd_gen, mse, time],
            ),
        ]
    }
}

/// A Markdown table per comparison; lower Fréchet distance and MSE are better, higher
/// log-likelihood and SSIM are better.
pub fn markdown(report: &Value, toy: bool) -> String {
    let mut md = format!(
        "# Ablation: preset {}, {} iterations per variant, {} examples per measurement\n\nAdapter: {}\n",
        report["preset"].as_str().unwrap_or("?"),
        report["iterations"],
        report["examples_per_measurement"],
        report["adapter"].as_str().unwrap_or("?"),
    );
    let floor = report["variants"]
        .as_array()
        .and_then(|v| v.first())
        .map(|b| &b["result"]["frechet_distance_held_out_data"]);
    if let Some(f) = floor.and_then(Value::as_f64) {
        md.push_str(&format!(
            "\nFréchet distances: squared, in the shipped classifier's feature space (not FID); \
             held-out real images score {f:.2} at this n (the floor).\n"
        ));
    }
    for ((title, cols), group) in columns(toy).into_iter().zip(GROUPS) {
        if !was_run(report, group) {
            continue;
        }
        let rows = group_rows(report, group);
        md.push_str(&format!("\n## {title}\n\n| variant |"));
        for (_, header) in &cols {
            md.push_str(&format!(" {header} |"));
        }
        md.push_str(&format!("\n|---|{}\n", "---|".repeat(cols.len())));
        for v in rows {
            md.push_str(&format!("| {} |", v["label"].as_str().unwrap_or("?")));
            for (key, _) in &cols {
                md.push_str(&format!(" {} |", cell(&v["result"], key)));
            }
            md.push('\n');
        }
    }
    md
}

/// The variants of comparison `group` in the report, in table order: the x-chain lengths by
/// length (the baseline at its own), the others baseline first.
pub fn group_rows<'a>(report: &'a Value, group: &str) -> Vec<&'a Value> {
    let Some(variants) = report["variants"].as_array() else { return Vec::new() };
    let mut rows: Vec<&Value> = variants
        .iter()
        .filter(|v| v["groups"].as_array().is_some_and(|g| g.iter().any(|x| x == group)))
        .collect();
    if group == "x" {
        rows.sort_by_key(|v| x_steps(report, v));
    }
    rows
}

/// The x-chain length of a variant of the report.
pub fn x_steps(report: &Value, variant: &Value) -> u64 {
    let name = variant["name"].as_str().unwrap_or("");
    match name.strip_prefix("x-") {
        Some(k) => k.parse().unwrap_or(0),
        None => report["baseline_x_steps"].as_u64().unwrap_or(0),
    }
}

/// Whether the report's ablation ran comparison `group`.
pub fn was_run(report: &Value, group: &str) -> bool {
    report["comparisons"].as_array().is_some_and(|g| g.iter().any(|x| x == group))
}

/// A table cell: values of 10 and more (Fréchet distances) to 0.1, smaller ones (errors,
/// log-likelihoods, seconds) to 4 decimals.
fn cell(result: &Value, key: &str) -> String {
    if result.get("error").is_some() {
        return "failed".into();
    }
    match &result[key] {
        Value::Number(x) if x.is_f64() => {
            let f = x.as_f64().unwrap_or(f64::NAN);
            if f.abs() >= 10.0 { format!("{f:.1}") } else { format!("{f:.4}") }
        }
        Value::Null => "–".into(),
        v => v.to_string(),
    }
}
