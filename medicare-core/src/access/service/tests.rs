//! Tests of the sign-in service.
