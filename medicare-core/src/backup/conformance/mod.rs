//! The behaviour suites of backups (feature `testing`): every [`BackupSink`] must pass
//! the functions here, every database those of [`database`].
//!
//! Each function takes an empty sink (a fresh folder, a random prefix) and panics on a
//! violation; every sink's tests call them all, so the local folder, the in-memory sink
//! and S3 keep the same contract: objects named by content, whole or absent, listed with
//! the size `get` returns, keys that cannot escape the sink.

pub mod database;

use super::sink::{get_bytes, BackupSink, Body};
use crate::error::Error;
use sha2::{Digest, Sha256};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

fn body(bytes: &[u8]) -> Body {
    Box::new(std::io::Cursor::new(bytes.to_vec()))
}

/// Bytes that do not compress, so a sink cannot store them smaller than they are.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

async fn keys(sink: &dyn BackupSink, prefix: &str) -> Vec<String> {
    let listed = sink.list(prefix).await.unwrap();
    listed.into_iter().map(|o| o.key).collect()
}

/// Objects are named by their SHA-256, listed by prefix with the size `get` returns, read
/// back byte for byte, replaced by `put`, and deleted (deleting twice is no error).
pub async fn stores_lists_reads_and_deletes(sink: &dyn BackupSink) {
    let data = noise(300_000, 1);
    let stored = sink.put_object("data", body(&data)).await.unwrap();
    assert_eq!(stored.sha256, hex::encode(Sha256::digest(&data)));
    assert_eq!(stored.key, format!("data/{}.age", stored.sha256));
    assert_eq!(stored.size, data.len() as u64);
    // The same content is the same object.
    assert_eq!(sink.put_object("data", body(&data)).await.unwrap(), stored);
    let empty = sink.put_object("data", body(b"")).await.unwrap();
    assert_eq!(empty.size, 0);

    let manifest = "manifests/20260302T020000Z.manifest";
    sink.put(manifest, b"first".to_vec()).await.unwrap();
    sink.put(manifest, b"second version".to_vec())
        .await
        .unwrap();

    let listed = sink.list("data/").await.unwrap();
    let mut expected = vec![(stored.key.clone(), stored.size), (empty.key.clone(), 0)];
    expected.sort();
    let got: Vec<(String, u64)> = listed.into_iter().map(|o| (o.key, o.size)).collect();
    assert_eq!(
        got, expected,
        "list gives every object under the prefix, by key, with its size"
    );
    let all = keys(sink, "").await;
    assert_eq!(all.len(), 3);
    assert!(
        all.windows(2).all(|w| w[0] < w[1]),
        "sorted by key: {all:?}"
    );
    assert!(sink.list("nothing/").await.unwrap().is_empty());
    let manifests = sink.list("manifests/").await.unwrap();
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0].size, b"second version".len() as u64);

    assert_eq!(get_bytes(sink, &stored.key).await.unwrap(), data);
    assert_eq!(get_bytes(sink, &empty.key).await.unwrap(), b"");
    assert_eq!(get_bytes(sink, manifest).await.unwrap(), b"second version");
    assert!(matches!(
        sink.get("data/missing.age").await.err(),
        Some(Error::NotFound { .. })
    ));

    sink.delete(&stored.key).await.unwrap();
    sink.delete(&stored.key).await.unwrap();
    assert!(matches!(
        sink.get(&stored.key).await.err(),
        Some(Error::NotFound { .. })
    ));
    let left = keys(sink, "").await;
    assert_eq!(left, vec![empty.key.clone(), manifest.to_string()]);
}

/// A body that yields some bytes, then fails.
struct FailingBody {
    sent: bool,
}

impl AsyncRead for FailingBody {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.sent {
            Poll::Ready(Err(std::io::Error::other("the producer failed")))
        } else {
            self.sent = true;
            let n = buf.remaining().min(1000);
            buf.put_slice(&noise(n, 2));
            Poll::Ready(Ok(()))
        }
    }
}

/// A body whose stream fails part way stores nothing.
pub async fn a_failed_body_stores_nothing(sink: &dyn BackupSink) {
    let before = sink.list("").await.unwrap();
    let err = sink
        .put_object("data", Box::new(FailingBody { sent: false }))
        .await
        .expect_err("a failing body is an error");
    assert!(err.to_string().contains("the producer failed"), "{err}");
    assert_eq!(sink.list("").await.unwrap(), before, "nothing was stored");
}

/// Keys that could escape the sink, or name temporary files, are refused by every call.
pub async fn hostile_keys_are_refused(sink: &dyn BackupSink) {
    for bad in [
        "../x",
        "data/../x",
        "/abs",
        "data/.tmp-1",
        "a//b",
        "a b",
        "",
    ] {
        let refused = |e: Option<Error>| matches!(e, Some(Error::InvalidInput { .. }));
        assert!(
            refused(sink.put(bad, b"x".to_vec()).await.err()),
            "put {bad:?}"
        );
        assert!(refused(sink.get(bad).await.err()), "get {bad:?}");
        assert!(refused(sink.delete(bad).await.err()), "delete {bad:?}");
    }
    for bad in ["../data", "/data", ".hidden"] {
        assert!(
            sink.put_object(bad, body(b"x")).await.is_err(),
            "put_object under {bad:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::local::LocalFolderSink;
    use crate::backup::sink::MemorySink;

    #[tokio::test]
    async fn the_memory_sink_passes() {
        stores_lists_reads_and_deletes(&MemorySink::new()).await;
        a_failed_body_stores_nothing(&MemorySink::new()).await;
        hostile_keys_are_refused(&MemorySink::new()).await;
    }

    #[tokio::test]
    async fn the_local_folder_sink_passes() {
        let dir = tempfile::tempdir().unwrap();
        let sink = LocalFolderSink::new(dir.path().join("backups"));
        stores_lists_reads_and_deletes(&sink).await;
        a_failed_body_stores_nothing(&sink).await;
        hostile_keys_are_refused(&sink).await;
    }
}
