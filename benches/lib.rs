//! Benchmarks of medicare's hot paths; see the `[[bench]]` targets (`cargo bench -p medicare-benches`).
//!
//! What the targets share: the process's peak memory, which criterion does not measure.

/// The process's peak resident memory in KiB (Linux `VmHWM`, the same figure as
/// `getrusage`'s max RSS), if known. One measurement a process: the peak never falls.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// [`peak_rss_kib`] in MiB, for printing (`?` where unknown).
pub fn peak_rss_mib() -> String {
    peak_rss_kib().map_or_else(|| "?".to_string(), |k| format!("{:.1}", k as f64 / 1024.0))
}
