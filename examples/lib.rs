//! Examples of embedding medicare; see the `[[example]]` targets (`cargo run -p
//! medicare-examples --example library`), and the AWS Lambda handlers with their SAM
//! template (`examples/template.yaml`).

pub mod lambda_support;
