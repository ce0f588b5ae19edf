//! `s3://bucket/prefix`: where a publisher or a sink keeps its objects.

use medicare_core::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// A bucket and a key prefix (possibly empty), parsed from `s3://bucket/prefix`.
///
/// Bucket names follow S3's rules (3 to 63 lower-case letters, digits, `.` and `-`,
/// starting and ending with a letter or digit). The prefix is `/`-separated parts of
/// ASCII letters, digits, `.`, `_` and `-`, none empty and none `.` or `..`; leading and
/// trailing `/` are dropped. Keeping prefixes to that alphabet means a key never needs
/// escaping in a URL or a signature.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct S3Location {
    bucket: String,
    prefix: String,
}

impl S3Location {
    /// Parses `s3://bucket`, `s3://bucket/` or `s3://bucket/some/prefix/`.
    pub fn parse(s: &str) -> Result<Self> {
        let what = || format!("S3 location {s:?}");
        let rest = s
            .trim()
            .strip_prefix("s3://")
            .ok_or_else(|| Error::invalid(what(), "must start with s3://"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        Self::new(bucket, prefix).map_err(|e| match e {
            Error::InvalidInput { message, .. } => Error::invalid(what(), message),
            other => other,
        })
    }

    /// A location from its parts (see the type docs for the rules).
    pub fn new(bucket: &str, prefix: &str) -> Result<Self> {
        check_bucket(bucket).map_err(|m| Error::invalid(format!("S3 bucket {bucket:?}"), m))?;
        let prefix = prefix.trim_matches('/');
        if !prefix.is_empty() {
            check_prefix(prefix).map_err(|m| Error::invalid(format!("S3 prefix {prefix:?}"), m))?;
        }
        Ok(S3Location {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The prefix, without leading or trailing `/` (empty: the bucket's root).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The full object key for `name` under the prefix.
    pub fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    /// The part of a full key after the prefix (`None` if the key is not under it).
    pub fn relative<'k>(&self, key: &'k str) -> Option<&'k str> {
        if self.prefix.is_empty() {
            Some(key)
        } else {
            key.strip_prefix(&self.prefix)?.strip_prefix('/')
        }
    }

    /// `s3://bucket/key` for `name` under the prefix, for messages.
    pub fn url_of(&self, name: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(name))
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

impl FromStr for S3Location {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        S3Location::parse(s)
    }
}

fn check_bucket(bucket: &str) -> std::result::Result<(), String> {
    let rule = "a bucket name is 3 to 63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit";
    let bytes = bucket.as_bytes();
    let edge_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !(3..=63).contains(&bucket.len())
        || !bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        || !edge_ok(bytes.first())
        || !edge_ok(bytes.last())
    {
        return Err(rule.into());
    }
    if bucket.contains("..") || bucket.contains(".-") || bucket.contains("-.") {
        return Err("a bucket name has no '..', '.-' or '-.'".into());
    }
    if bucket.split('.').count() == 4 && bucket.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return Err("a bucket name cannot look like an IP address".into());
    }
    Ok(())
}

fn check_prefix(prefix: &str) -> std::result::Result<(), String> {
    let ok = prefix.split('/').all(|part| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    });
    if ok {
        Ok(())
    } else {
        Err("a prefix is '/'-separated parts of ASCII letters, digits, '.', '_' and '-', none empty, '.' or '..'".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_buckets_and_prefixes() {
        let l = S3Location::parse("s3://medicare-forms/pages/2026/").unwrap();
        assert_eq!((l.bucket(), l.prefix()), ("medicare-forms", "pages/2026"));
        assert_eq!(l.key("flu.html"), "pages/2026/flu.html");
        assert_eq!(l.relative("pages/2026/flu.html"), Some("flu.html"));
        assert_eq!(l.relative("pages/2026x/flu.html"), None);
        assert_eq!(l.to_string(), "s3://medicare-forms/pages/2026");
        assert_eq!(l.url_of("a"), "s3://medicare-forms/pages/2026/a");
        let root: S3Location = "s3://my.bucket".parse().unwrap();
        assert_eq!((root.bucket(), root.prefix()), ("my.bucket", ""));
        assert_eq!(root.key("x"), "x");
        assert_eq!(root.relative("x/y"), Some("x/y"));
        assert_eq!(S3Location::parse("s3://abc/").unwrap().prefix(), "");
    }

    #[test]
    fn bad_locations_get_clear_errors() {
        for (bad, says) in [
            ("https://bucket/x", "must start with s3://"),
            ("s3://", "bucket name is 3 to 63"),
            ("s3://ab", "bucket name is 3 to 63"),
            ("s3://Bucket", "bucket name is 3 to 63"),
            ("s3://-bucket", "bucket name is 3 to 63"),
            ("s3://bucket_x", "bucket name is 3 to 63"),
            ("s3://a..b", "no '..'"),
            ("s3://192.168.1.1", "IP address"),
            ("s3://bucket/a//b", "none empty"),
            ("s3://bucket/a/../b", "none empty"),
            ("s3://bucket/a b", "none empty"),
            ("s3://bucket/a?b", "none empty"),
        ] {
            let err = S3Location::parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
