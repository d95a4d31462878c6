//! The S3 calls: HEAD (size, ETag, our metadata), GET pinned to the ETag seen, PUT of a
//! rendition with its metadata, and the verified replace of an original.

use std::collections::HashMap;

use aws_sdk_s3::primitives::ByteStream;

use fleetkeeper::AwsError;
use fleetkeeper::error::aws_err;

pub use crate::model::{Head, META_RENDITION, META_SOURCE_ETAG, META_SOURCE_KEY};

pub struct Store {
    pub s3: aws_sdk_s3::Client,
}

/// A rendition to write.
pub struct Put<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub body: Vec<u8>,
    pub content_type: &'a str,
    pub cache_control: Option<&'a str>,
    pub metadata: HashMap<String, String>,
}

/// The S3 calls image-resizer makes, as one capability: tests can answer them in memory.
pub trait Objects {
    /// None when the object does not exist.
    fn head(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<Head>, AwsError>> + Send;
    /// The object's bytes, only if it still has `etag` (a newer upload is not read).
    fn get(
        &self,
        bucket: &str,
        key: &str,
        etag: &str,
    ) -> impl Future<Output = Result<Vec<u8>, AwsError>> + Send;
    fn put(&self, p: Put<'_>) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// A server-side copy of `from` over `to`, all or nothing.
    fn copy_over(
        &self,
        bucket: &str,
        from: &str,
        to: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    fn delete(&self, bucket: &str, key: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
}

impl Objects for Store {
    async fn head(&self, bucket: &str, key: &str) -> Result<Option<Head>, AwsError> {
        match self.s3.head_object().bucket(bucket).key(key).send().await {
            Ok(h) => Ok(Some(Head {
                size: h.content_length().unwrap_or(0).max(0) as u64,
                etag: h.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
                metadata: h.metadata().cloned().unwrap_or_default(),
            })),
            Err(e) => {
                let e = aws_err("s3:HeadObject")(e);
                if e.http_status == Some(404) || e.code() == Some("NotFound") {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// The object's bytes, only if it still has `etag` (a newer upload has its own event).
    async fn get(&self, bucket: &str, key: &str, etag: &str) -> Result<Vec<u8>, AwsError> {
        let out = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .if_match(format!("\"{etag}\""))
            .send()
            .await
            .map_err(aws_err("s3:GetObject"))?;
        let body = out.body.collect().await.map_err(|e| AwsError {
            operation: "s3:GetObject".into(),
            kind: fleetkeeper::error::AwsErrorKind::Response,
            code: None,
            message: Some(format!("body read failed: {e}")),
            http_status: None,
        })?;
        Ok(body.into_bytes().to_vec())
    }

    async fn put(&self, p: Put<'_>) -> Result<(), AwsError> {
        self.s3
            .put_object()
            .bucket(p.bucket)
            .key(p.key)
            .body(ByteStream::from(p.body))
            .content_type(p.content_type)
            .set_cache_control(p.cache_control.map(str::to_owned))
            .set_metadata(Some(p.metadata))
            .send()
            .await
            .map_err(aws_err("s3:PutObject"))?;
        Ok(())
    }

    /// Copies `from` over `to` in one bucket (a server-side, all-or-nothing replace).
    async fn copy_over(&self, bucket: &str, from: &str, to: &str) -> Result<(), AwsError> {
        self.s3
            .copy_object()
            .bucket(bucket)
            .key(to)
            .copy_source(format!("{bucket}/{}", encode_path(from)))
            .send()
            .await
            .map_err(aws_err("s3:CopyObject"))?;
        Ok(())
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), AwsError> {
        self.s3
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(aws_err("s3:DeleteObject"))?;
        Ok(())
    }
}

/// CopySource is URL-encoded; '/' stays.
fn encode_path(key: &str) -> String {
    let mut out = String::new();
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn copy_source_is_encoded() {
        assert_eq!(
            super::encode_path("a b/c+d(1).jpg"),
            "a%20b/c%2Bd%281%29.jpg"
        );
        assert_eq!(super::encode_path("café.png"), "caf%C3%A9.png");
    }
}

/// In-memory S3 for unit tests: objects by bucket and key, each with its ETag and metadata.
#[cfg(test)]
pub mod fake {
    use std::collections::{BTreeMap, HashMap};
    use std::sync::Mutex;

    use fleetkeeper::AwsError;

    use super::{Objects, Put};
    use crate::model::Head;

    #[derive(Debug, Clone, PartialEq)]
    pub struct Stored {
        pub body: Vec<u8>,
        pub etag: String,
        pub metadata: HashMap<String, String>,
    }

    #[derive(Default)]
    pub struct FakeObjects {
        pub objects: Mutex<BTreeMap<(String, String), Stored>>,
        /// How many PUTs were made.
        pub puts: Mutex<usize>,
    }

    impl FakeObjects {
        pub fn upload(&self, bucket: &str, key: &str, body: Vec<u8>) {
            let etag = format!("{:x}", body.len() * 31 + key.len());
            let stored = Stored {
                body,
                etag,
                metadata: HashMap::new(),
            };
            let mut objects = self.objects.lock().unwrap();
            objects.insert((bucket.to_owned(), key.to_owned()), stored);
        }

        pub fn get_stored(&self, bucket: &str, key: &str) -> Option<Stored> {
            let objects = self.objects.lock().unwrap();
            objects.get(&(bucket.to_owned(), key.to_owned())).cloned()
        }

        pub fn keys(&self) -> Vec<String> {
            let objects = self.objects.lock().unwrap();
            objects.keys().map(|(_, k)| k.clone()).collect()
        }

        pub fn puts(&self) -> usize {
            *self.puts.lock().unwrap()
        }
    }

    impl Objects for FakeObjects {
        async fn head(&self, bucket: &str, key: &str) -> Result<Option<Head>, AwsError> {
            Ok(self.get_stored(bucket, key).map(|s| Head {
                size: s.body.len() as u64,
                etag: s.etag,
                metadata: s.metadata,
            }))
        }

        async fn get(&self, bucket: &str, key: &str, etag: &str) -> Result<Vec<u8>, AwsError> {
            match self.get_stored(bucket, key) {
                Some(s) if s.etag == etag => Ok(s.body),
                _ => Err(AwsError::service(
                    "s3:GetObject",
                    "PreconditionFailed",
                    "etag",
                )),
            }
        }

        async fn put(&self, p: Put<'_>) -> Result<(), AwsError> {
            *self.puts.lock().unwrap() += 1;
            let stored = Stored {
                etag: format!("put-{}", p.body.len()),
                body: p.body,
                metadata: p.metadata,
            };
            let mut objects = self.objects.lock().unwrap();
            objects.insert((p.bucket.to_owned(), p.key.to_owned()), stored);
            Ok(())
        }

        async fn copy_over(&self, bucket: &str, from: &str, to: &str) -> Result<(), AwsError> {
            let from = self
                .get_stored(bucket, from)
                .ok_or_else(|| AwsError::service("s3:CopyObject", "NoSuchKey", "gone"))?;
            let mut objects = self.objects.lock().unwrap();
            objects.insert((bucket.to_owned(), to.to_owned()), from);
            Ok(())
        }

        async fn delete(&self, bucket: &str, key: &str) -> Result<(), AwsError> {
            let mut objects = self.objects.lock().unwrap();
            objects.remove(&(bucket.to_owned(), key.to_owned()));
            Ok(())
        }
    }
}
