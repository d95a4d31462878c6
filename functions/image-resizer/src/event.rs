//! The S3 notification: every record (not only the first), keys URL-decoded (`+` is a space).
//! A record that cannot be read is reported on its own and never fails the others.
//! Our own reader, not aws_lambda_events' `S3Event`: that one adds chrono to the binary,
//! requires fields this function never reads (eventTime, userIdentity, requestParameters)
//! and leaves keys URL-encoded; the five fields read here are checked one by one instead.

use serde_json::Value;

use fleetkeeper::Error;
use fleetkeeper::error::brief;

/// An object an event names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub event_name: String,
    pub bucket: String,
    /// Decoded.
    pub key: String,
    pub size: Option<u64>,
    pub etag: Option<String>,
}

/// Reads the event. Err only when the payload is not an S3 event at all; each record that
/// cannot be read becomes an `Err` in the list, with the reason.
pub fn parse(payload: &Value) -> Result<Vec<Result<Object, String>>, Error> {
    let records = payload
        .get("Records")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            Error::input(format!(
                "expected an S3 event notification with \"Records\", got {}",
                brief(payload)
            ))
        })?;
    Ok(records
        .iter()
        .enumerate()
        .map(|(i, r)| record(r).map_err(|e| format!("record {i}: {e}")))
        .collect())
}

fn record(r: &Value) -> Result<Object, String> {
    let text = |v: Option<&Value>, what: &str| {
        v.and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| format!("missing {what}"))
    };
    let s3 = r.get("s3");
    let raw_key = text(
        s3.and_then(|s| s.get("object")).and_then(|o| o.get("key")),
        "s3.object.key",
    )?;
    Ok(Object {
        event_name: text(r.get("eventName"), "eventName")?,
        bucket: text(
            s3.and_then(|s| s.get("bucket")).and_then(|b| b.get("name")),
            "s3.bucket.name",
        )?,
        key: decode_key(&raw_key)?,
        size: s3
            .and_then(|s| s.get("object"))
            .and_then(|o| o.get("size"))
            .and_then(Value::as_u64),
        etag: s3
            .and_then(|s| s.get("object"))
            .and_then(|o| o.get("eTag"))
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// S3 writes keys form-encoded: `+` for a space, `%XX` for other bytes.
pub fn decode_key(raw: &str) -> Result<String, String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
                out.push(byte.ok_or_else(|| format!("key {raw:?} has a bad %-escape"))?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("key {raw:?} is not UTF-8 once decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(records: &[(&str, &str, &str, u64)]) -> Value {
        json!({"Records": records.iter().map(|(name, bucket, key, size)| json!({
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-11-21T09:00:00.000Z", "eventName": name,
            "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
                   "object": {"key": key, "size": size, "eTag": "9b2cf535f27731c974343645a3985328", "sequencer": "0A1B2C3D4E5F678901"}}
        })).collect::<Vec<_>>()})
    }

    #[test]
    fn every_record_with_decoded_keys() {
        let e = event(&[
            (
                "ObjectCreated:Put",
                "photos",
                "holiday/My+Photo+%281%29.jpg",
                1000,
            ),
            (
                "ObjectCreated:CompleteMultipartUpload",
                "photos",
                "caf%C3%A9/na%C3%AFve.png",
                2000,
            ),
        ]);
        let got: Vec<Object> = parse(&e).unwrap().into_iter().map(Result::unwrap).collect();
        assert_eq!(got[0].key, "holiday/My Photo (1).jpg");
        assert_eq!(got[1].key, "café/naïve.png");
        assert_eq!(got[1].size, Some(2000));
        assert_eq!(
            got[0].etag.as_deref(),
            Some("9b2cf535f27731c974343645a3985328")
        );
    }

    #[test]
    fn a_bad_record_does_not_spoil_the_others() {
        let mut e = event(&[
            ("ObjectCreated:Put", "photos", "a.jpg", 1),
            ("ObjectCreated:Put", "photos", "b%ZZ.jpg", 1),
        ]);
        e["Records"]
            .as_array_mut()
            .unwrap()
            .push(json!({"eventName": "ObjectCreated:Put"}));
        let got = parse(&e).unwrap();
        assert!(got[0].is_ok());
        assert!(got[1].as_ref().unwrap_err().contains("bad %-escape"));
        assert!(
            got[2]
                .as_ref()
                .unwrap_err()
                .contains("record 2: missing s3.object.key")
        );
        for bad in [json!({}), json!("x"), json!({"Records": "no"})] {
            assert!(matches!(parse(&bad), Err(Error::Input(_))), "{bad}");
        }
    }
}
