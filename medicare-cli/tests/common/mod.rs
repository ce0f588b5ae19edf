//! What the CLI's server tests share: an AWS configuration pointed at the moto server, a
//! bucket in it, and a fresh database on a PostgreSQL or MariaDB server.
#![allow(dead_code, missing_docs)]

use sqlx::Connection;

/// The SDK configuration for the moto server at `moto` (eu-west-2, test credentials).
pub async fn moto_config(moto: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto)
        .region(aws_config::Region::new("eu-west-2"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
}

/// An S3 client for `config` (path-style, as moto needs) and a new `bucket` in it.
pub async fn bucket(config: &aws_config::SdkConfig, bucket: &str) -> aws_sdk_s3::Client {
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket(bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest2)
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3
}

/// A fresh database on the server behind `admin_url`, dropped at the end.
pub struct ServerDatabase {
    pub admin_url: String,
    pub name: String,
    pub url: String,
}

impl ServerDatabase {
    pub async fn create(admin_url: &str) -> ServerDatabase {
        sqlx::any::install_default_drivers();
        let name = format!("medicare_cli_{}_{}", std::process::id(), rand_suffix());
        let (base, _) = admin_url.rsplit_once('/').expect("a URL with a database");
        let url = format!("{base}/{name}");
        execute(admin_url, &format!("CREATE DATABASE {name}")).await;
        ServerDatabase {
            admin_url: admin_url.to_string(),
            name,
            url,
        }
    }

    pub async fn drop_it(self) {
        execute(&self.admin_url, &format!("DROP DATABASE {}", self.name)).await;
    }
}

pub fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish() % 1_000_000_000
}

pub async fn execute(url: &str, sql: &str) {
    let mut conn = sqlx::AnyConnection::connect(url).await.expect("connects");
    sqlx::query(sql).execute(&mut conn).await.expect(sql);
}
