//! Benchmarks of medicare's hot paths; see the `[[bench]]` targets (`cargo bench -p medicare-benches`).
