//! Request encoding and response decoding: 4-byte big-endian length framing, request and
//! response headers, and the body codecs of `kafka-protocol`. Decoding never panics: malformed
//! input becomes an error message.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

/// Encodes a request, length prefix included.
pub fn encode_request<Req: Request>(
    req: &Req,
    version: i16,
    correlation_id: i32,
    client_id: &str,
) -> Result<Bytes, String> {
    let header = RequestHeader::default()
        .with_request_api_key(Req::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_string(client_id.to_string())));
    let header_version = Req::header_version(version);
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| format!("encoding request header: {e}"))?;
    req.encode(&mut buf, version)
        .map_err(|e| format!("encoding request (api {} v{version}): {e}", Req::KEY))?;
    let len = i32::try_from(buf.len() - 4).map_err(|_| "request too large".to_string())?;
    buf[0..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf.freeze())
}

/// Reads the correlation id at the start of a response body (after the length prefix).
pub fn peek_correlation_id(body: &[u8]) -> Option<i32> {
    let b: [u8; 4] = body.get(0..4)?.try_into().ok()?;
    Some(i32::from_be_bytes(b))
}

/// Decodes a response body (without the length prefix) of a request sent with `version`,
/// checking the correlation id.
pub fn decode_response<Req: Request>(
    mut body: Bytes,
    version: i16,
    correlation_id: i32,
) -> Result<Req::Response, String> {
    let header_version = <Req::Response as HeaderVersion>::header_version(version);
    // The codecs use checked reads; catch_unwind is a second line of defence so a codec bug
    // on hostile input is an error, never a crashed task.
    let decoded = std::panic::catch_unwind(move || {
        let header = ResponseHeader::decode(&mut body, header_version)
            .map_err(|e| format!("decoding response header: {e}"))?;
        if header.correlation_id != correlation_id {
            return Err(format!(
                "correlation id mismatch: expected {correlation_id}, got {}",
                header.correlation_id
            ));
        }
        let resp = <Req::Response as Decodable>::decode(&mut body, version)
            .map_err(|e| format!("decoding response (api {} v{version}): {e}", Req::KEY))?;
        if !body.is_empty() {
            tracing::debug!(
                api = Req::KEY,
                version,
                trailing = body.len(),
                "trailing bytes after response"
            );
        }
        Ok(resp)
    });
    match decoded {
        Ok(r) => r,
        Err(_) => Err(format!(
            "decoder panicked on malformed response (api {} v{version})",
            Req::KEY
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{
        ApiVersionsRequest, FetchRequest, MetadataRequest, ProduceRequest,
    };

    /// A tiny deterministic PRNG (xorshift64*), so the fuzz loop needs no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    #[test]
    fn request_is_length_prefixed() {
        let req = MetadataRequest::default();
        let frame = encode_request(&req, 9, 42, "me").unwrap();
        let len = i32::from_be_bytes(frame[0..4].try_into().unwrap());
        assert_eq!(len as usize, frame.len() - 4);
        // api key 3, version 9, correlation 42
        assert_eq!(&frame[4..6], &3i16.to_be_bytes());
        assert_eq!(&frame[6..8], &9i16.to_be_bytes());
        assert_eq!(&frame[8..12], &42i32.to_be_bytes());
    }

    #[test]
    fn peek_correlation() {
        assert_eq!(peek_correlation_id(&[0, 0, 1, 0, 9]), Some(256));
        assert_eq!(peek_correlation_id(&[0, 0, 1]), None);
    }

    #[test]
    fn correlation_mismatch_is_error() {
        let mut body = BytesMut::new();
        body.put_i32(7);
        body.put_i16(0); // error code
        body.put_i32(0); // empty api array
        let r = decode_response::<ApiVersionsRequest>(body.freeze(), 0, 8);
        assert!(r.unwrap_err().contains("correlation"));
    }

    fn fuzz_one<Req: Request>(rng: &mut Rng, version: i16, prefix: &[u8]) -> bool {
        let len = (rng.next() % 256) as usize;
        let mut body = prefix.to_vec();
        body.extend(rng.bytes(len));
        decode_response::<Req>(Bytes::from(body), version, 1).is_err()
    }

    /// 10k random and truncated bodies per API and version family: all errors, no panic.
    #[test]
    fn fuzz_decode_random_bytes() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut errors = 0;
        let mut ok = 0;
        for i in 0..10_000 {
            // Half of the bodies carry the right correlation id so decoding reaches the body.
            let prefix: &[u8] = if i % 2 == 0 { &[0, 0, 0, 1] } else { &[] };
            for r in [
                fuzz_one::<ApiVersionsRequest>(&mut rng, 3, prefix),
                fuzz_one::<MetadataRequest>(&mut rng, 12, prefix),
                fuzz_one::<MetadataRequest>(&mut rng, 1, prefix),
                fuzz_one::<ProduceRequest>(&mut rng, 9, prefix),
                fuzz_one::<ProduceRequest>(&mut rng, 3, prefix),
                fuzz_one::<FetchRequest>(&mut rng, 12, prefix),
                fuzz_one::<FetchRequest>(&mut rng, 4, prefix),
            ] {
                if r {
                    errors += 1;
                } else {
                    ok += 1;
                }
            }
        }
        // Random bytes occasionally decode (e.g. an empty array); most must be errors.
        assert!(errors > ok * 10, "errors {errors}, ok {ok}");
    }

    /// Every prefix of a valid response is an error.
    #[test]
    fn fuzz_decode_truncated() {
        use kafka_protocol::messages::metadata_response::MetadataResponseBroker;
        use kafka_protocol::messages::{ApiVersionsResponse, MetadataResponse};
        for version in [1i16, 9, 12] {
            let resp = MetadataResponse::default().with_brokers(vec![
                MetadataResponseBroker::default()
                    .with_host(StrBytes::from_static_str("localhost"))
                    .with_port(9092),
            ]);
            let mut body = BytesMut::new();
            let hv = MetadataResponse::header_version(version);
            ResponseHeader::default()
                .with_correlation_id(1)
                .encode(&mut body, hv)
                .unwrap();
            resp.encode(&mut body, version).unwrap();
            let body = body.freeze();
            assert!(decode_response::<MetadataRequest>(body.clone(), version, 1).is_ok());
            for cut in 0..body.len() {
                assert!(
                    decode_response::<MetadataRequest>(body.slice(0..cut), version, 1).is_err(),
                    "v{version} cut {cut}"
                );
            }
        }
        let resp = ApiVersionsResponse::default();
        let mut body = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(1)
            .encode(&mut body, 0)
            .unwrap();
        resp.encode(&mut body, 3).unwrap();
        let body = body.freeze();
        for cut in 0..body.len() {
            assert!(decode_response::<ApiVersionsRequest>(body.slice(0..cut), 3, 1).is_err());
        }
    }
}
