//! Examples of embedding medicare; see the `[[example]]` targets (`cargo run -p medicare-examples --example library`).
