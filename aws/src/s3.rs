//! Photo files on S3. Uploads come straight from the client with a presigned POST, whose
//! signed policy fixes the key and caps the size; the photo worker reads them, writes the
//! processed photos, and deletes what is no longer used (removed photos, deleted accounts).

use std::collections::BTreeMap;

use anyhow::Context;
use async_trait::async_trait;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use shared::ports::{PhotoStore, Upload, UploadForm, UploadForms};
use time::{OffsetDateTime, format_description::well_known::Rfc3339, macros::format_description};

use crate::Lazy;

/// Upload forms for the photo bucket: S3's presigned POST, signed here with the function's own
/// credentials. No S3 client: the users function, which hands them out, links none.
#[derive(Clone)]
pub struct S3UploadForms {
    bucket: String,
    /// Where browsers POST uploads: the bucket's own endpoint (path-style on an emulator).
    upload_url: String,
    region: String,
    credentials: SharedCredentialsProvider,
}

impl S3UploadForms {
    pub fn new(sdk: &aws_types::SdkConfig, bucket: &str) -> anyhow::Result<Self> {
        let region = sdk.region().context("no AWS region configured")?.to_string();
        let credentials = sdk.credentials_provider().context("no AWS credentials configured")?;
        // An emulator serves every bucket under its one host.
        let upload_url = match sdk.endpoint_url() {
            Some(endpoint) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
            None => format!("https://{bucket}.s3.{region}.amazonaws.com"),
        };
        Ok(Self { bucket: bucket.to_string(), upload_url, region, credentials })
    }
}

/// The photo files in the bucket: what the photo worker reads, writes and deletes.
#[derive(Clone)]
pub struct S3Photos {
    client: Lazy<aws_sdk_s3::Client>,
    bucket: String,
}

impl S3Photos {
    pub fn new(sdk: &aws_types::SdkConfig, bucket: &str) -> Self {
        let mut config = aws_sdk_s3::config::Builder::from(sdk);
        // An emulator serves every bucket under its one host.
        if sdk.endpoint_url().is_some() {
            config = config.force_path_style(true);
        }
        let client = Lazy::new(move || aws_sdk_s3::Client::from_conf(config.build()));
        Self { client, bucket: bucket.to_string() }
    }
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Signature Version 4's signing key for a day, a region and a service.
fn signing_key(secret: &str, day: &str, region: &str, service: &str) -> Vec<u8> {
    let key = hmac(format!("AWS4{secret}").as_bytes(), day);
    let key = hmac(&key, region);
    let key = hmac(&key, service);
    hmac(&key, "aws4_request")
}

#[async_trait]
impl UploadForms for S3UploadForms {
    /// S3's POST policy, signed with Signature Version 4 (the SDK presigns requests, not forms).
    async fn upload_form(&self, key: &str, max_bytes: u64, expires_at: OffsetDateTime) -> anyhow::Result<UploadForm> {
        let credentials = self.credentials.provide_credentials().await.context("AWS credentials")?;
        let now = OffsetDateTime::now_utc();
        let day = now.format(format_description!("[year][month][day]"))?;
        let amz_date = now.format(format_description!("[year][month][day]T[hour][minute][second]Z"))?;
        let credential = format!("{}/{day}/{}/s3/aws4_request", credentials.access_key_id(), self.region);
        let mut fields = BTreeMap::from([
            ("key".to_string(), key.to_string()),
            ("x-amz-algorithm".to_string(), "AWS4-HMAC-SHA256".to_string()),
            ("x-amz-credential".to_string(), credential),
            ("x-amz-date".to_string(), amz_date),
        ]);
        if let Some(token) = credentials.session_token() {
            fields.insert("x-amz-security-token".into(), token.to_string());
        }
        let mut conditions = vec![
            serde_json::json!({ "bucket": self.bucket }),
            serde_json::json!(["content-length-range", 1, max_bytes]),
        ];
        conditions.extend(fields.iter().map(|(name, value)| serde_json::json!({ name: value })));
        let expiration = expires_at.replace_nanosecond(0)?.format(&Rfc3339)?;
        let policy = serde_json::json!({ "expiration": expiration, "conditions": conditions });
        let policy = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
        let key = signing_key(credentials.secret_access_key(), &day, &self.region, "s3");
        fields.insert("x-amz-signature".into(), hex::encode(hmac(&key, &policy)));
        fields.insert("policy".into(), policy);
        Ok(UploadForm { url: self.upload_url.clone(), fields, max_bytes, expires_at })
    }
}

#[async_trait]
impl PhotoStore for S3Photos {
    async fn read(&self, key: &str, max_bytes: u64) -> anyhow::Result<Upload> {
        let output = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(output) => output,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(Upload::Missing),
            Err(e) => return Err(anyhow::Error::new(e).context("S3 GetObject")),
        };
        // The policy caps uploads on AWS; checked again here, before reading a byte.
        if output.content_length().unwrap_or(0) as u64 > max_bytes {
            return Ok(Upload::TooLarge);
        }
        let bytes = output.body.collect().await.context("reading an S3 object")?.into_bytes();
        if bytes.len() as u64 > max_bytes {
            return Ok(Upload::TooLarge);
        }
        Ok(Upload::Bytes(bytes.to_vec()))
    }

    async fn write(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> anyhow::Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            // Each photo has its own key: it never changes, so caches may keep it.
            .cache_control("public, max-age=31536000, immutable")
            .body(bytes.into())
            .send()
            .await
            .context("S3 PutObject")?;
        Ok(())
    }

    async fn delete(&self, keys: &[String]) -> anyhow::Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let objects =
            keys.iter().map(|key| ObjectIdentifier::builder().key(key).build()).collect::<Result<Vec<_>, _>>()?;
        let delete = Delete::builder().set_objects(Some(objects)).quiet(true).build()?;
        self.client.delete_objects().bucket(&self.bucket).delete(delete).send().await.context("S3 DeleteObjects")?;
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &str) -> anyhow::Result<()> {
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.context("S3 ListObjectsV2")?;
            let keys: Vec<String> = page.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect();
            self.delete(&keys).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signing_key_is_the_one_aws_documents() {
        // From AWS's "Examples of how to derive a signing key for Signature Version 4".
        let key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam");
        assert_eq!(hex::encode(key), "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    }
}
