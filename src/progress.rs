//! The progress bar of long headless jobs (training, the feature network), from indicatif.

/// A bar from `start` to `total`; hidden when `quiet` (tests, logs).
pub fn bar(start: u64, total: u64, quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total).with_position(start);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{pos}/{len} [{elapsed_precise} < {eta_precise}] {per_sec} {msg}",
        )
        .expect("a valid template"),
    );
    bar
}
