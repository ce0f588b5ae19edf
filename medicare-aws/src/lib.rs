//! AWS implementations (skeleton).
