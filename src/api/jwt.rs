//! HS256 JSON Web Tokens (RFC 7519) for the control API's `jwt.secret`: verification, and
//! signing so that operators (and tests) can make tokens.
//!
//! Strict on purpose: exactly three unpadded base64url parts with canonical trailing bits,
//! `"alg":"HS256"` only (never `none`), signature compared in constant time, `exp`/`nbf`
//! honoured when present.

use std::fmt;

use serde_json::Value;

use ring::hmac;

use super::base64url::{decode, encode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    Malformed,
    BadSignature,
    Expired,
    NotYetValid,
    UnsupportedAlg(String),
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtError::Malformed => f.write_str("malformed token"),
            JwtError::BadSignature => f.write_str("bad signature"),
            JwtError::Expired => f.write_str("expired"),
            JwtError::NotYetValid => f.write_str("not yet valid"),
            JwtError::UnsupportedAlg(alg) => write!(f, "unsupported alg {alg}"),
        }
    }
}

impl std::error::Error for JwtError {}

/// Accepts `token` if it is an HS256 JWT signed with `secret` and, at `now_unix_secs`, neither
/// expired (`now >= exp`) nor not yet valid (`now < nbf`).
pub fn verify_hs256(token: &str, secret: &[u8], now_unix_secs: u64) -> Result<(), JwtError> {
    let mut parts = token.split('.');
    let (Some(header64), Some(payload64), Some(signature64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header = json_object(header64)?;
    match header.get("alg") {
        Some(Value::String(alg)) if alg == "HS256" => {}
        Some(Value::String(alg)) => return Err(JwtError::UnsupportedAlg(alg.clone())),
        _ => return Err(JwtError::Malformed),
    }
    let signature = decode(signature64).ok_or(JwtError::Malformed)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let signed = format!("{header64}.{payload64}");
    // Constant-time comparison of the expected MAC with the token's.
    hmac::verify(&key, signed.as_bytes(), &signature).map_err(|_| JwtError::BadSignature)?;
    let claims = json_object(payload64)?;
    let now = now_unix_secs as f64;
    let time_claim = |name| {
        let seconds = |value: &Value| value.as_f64().ok_or(JwtError::Malformed);
        claims.get(name).map(seconds).transpose()
    };
    if let Some(exp) = time_claim("exp")?
        && now >= exp
    {
        return Err(JwtError::Expired);
    }
    if let Some(nbf) = time_claim("nbf")?
        && now < nbf
    {
        return Err(JwtError::NotYetValid);
    }
    Ok(())
}

/// An HS256 JWT carrying `claims_json` (used as is, e.g. `{"exp":1900000000}`) signed with
/// `secret`.
pub fn sign_hs256(claims_json: &str, secret: &[u8]) -> String {
    let signing_input = format!(
        "{}.{}",
        encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        encode(claims_json.as_bytes())
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let signature = hmac::sign(&key, signing_input.as_bytes());
    format!("{signing_input}.{}", encode(signature.as_ref()))
}

fn json_object(part64: &str) -> Result<serde_json::Map<String, Value>, JwtError> {
    let bytes = decode(part64).ok_or(JwtError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(JwtError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const JWT_IO: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    const SECRET: &[u8] = b"your-256-bit-secret";
    const NOW: u64 = 1_700_000_000;

    #[test]
    fn the_jwt_io_example_verifies_and_is_what_sign_makes() {
        assert_eq!(verify_hs256(JWT_IO, SECRET, NOW), Ok(()));
        assert_eq!(
            sign_hs256(
                r#"{"sub":"1234567890","name":"John Doe","iat":1516239022}"#,
                SECRET
            ),
            JWT_IO
        );
        assert_eq!(
            verify_hs256(JWT_IO, b"another-secret", NOW),
            Err(JwtError::BadSignature)
        );
    }

    #[test]
    fn a_changed_signature_or_payload_fails() {
        let flipped = JWT_IO.replace(".SflKx", ".TflKx");
        assert_eq!(
            verify_hs256(&flipped, SECRET, NOW),
            Err(JwtError::BadSignature)
        );
        let (header, rest) = JWT_IO.split_once('.').unwrap();
        let signature = rest.split_once('.').unwrap().1;
        let forged = format!("{header}.{}.{signature}", encode(br#"{"sub":"admin"}"#));
        assert_eq!(
            verify_hs256(&forged, SECRET, NOW),
            Err(JwtError::BadSignature)
        );
    }

    #[test]
    fn only_hs256_is_accepted() {
        let payload = encode(br#"{"sub":"x"}"#);
        for (alg, header) in [
            ("none", r#"{"alg":"none","typ":"JWT"}"#),
            ("HS512", r#"{"alg":"HS512"}"#),
            ("hs256", r#"{"alg":"hs256"}"#),
        ] {
            let input = format!("{}.{payload}", encode(header.as_bytes()));
            for signature in [
                String::new(),
                encode(
                    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, SECRET), input.as_bytes())
                        .as_ref(),
                ),
            ] {
                assert_eq!(
                    verify_hs256(&format!("{input}.{signature}"), SECRET, NOW),
                    Err(JwtError::UnsupportedAlg(alg.into()))
                );
            }
        }
        let no_alg = format!("{}.{payload}.", encode(br#"{"typ":"JWT"}"#));
        assert_eq!(verify_hs256(&no_alg, SECRET, NOW), Err(JwtError::Malformed));
        assert_eq!(
            JwtError::UnsupportedAlg("none".into()).to_string(),
            "unsupported alg none"
        );
    }

    #[test]
    fn exp_and_nbf_are_honoured() {
        let token = sign_hs256(r#"{"exp":1000,"nbf":500}"#, SECRET);
        assert_eq!(
            verify_hs256(&token, SECRET, 499),
            Err(JwtError::NotYetValid)
        );
        assert_eq!(verify_hs256(&token, SECRET, 500), Ok(()));
        assert_eq!(verify_hs256(&token, SECRET, 999), Ok(()));
        assert_eq!(verify_hs256(&token, SECRET, 1000), Err(JwtError::Expired));
        let bad_exp = sign_hs256(r#"{"exp":"tomorrow"}"#, SECRET);
        assert_eq!(verify_hs256(&bad_exp, SECRET, 0), Err(JwtError::Malformed));
        assert_eq!(JwtError::Expired.to_string(), "expired");
    }

    #[test]
    fn garbage_is_malformed() {
        let good = sign_hs256("{}", SECRET);
        for token in [
            "",
            "abc",
            "a.b",
            "a.b.c.d",
            &format!("{good}.x"),
            &format!("{good}="),
            &good.replacen('.', "+.", 1),
            &format!("{}.W10.{}", encode(br#"{"alg":"HS256"}"#), "x"),
            "e30.e30.e30",
        ] {
            let result = verify_hs256(token, SECRET, NOW);
            assert!(
                matches!(result, Err(JwtError::Malformed)),
                "{token}: {result:?}"
            );
        }
        // A payload that is not a JSON object, correctly signed, is still malformed.
        let input = format!("{}.{}", encode(br#"{"alg":"HS256"}"#), encode(b"[1]"));
        let token = format!(
            "{input}.{}",
            encode(
                hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, SECRET), input.as_bytes()).as_ref()
            )
        );
        assert_eq!(verify_hs256(&token, SECRET, NOW), Err(JwtError::Malformed));
        assert_eq!(JwtError::Malformed.to_string(), "malformed token");
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic(token in ".*", secret in proptest::collection::vec(any::<u8>(), 0..80), now: u64) {
            let _ = verify_hs256(&token, &secret, now);
        }

        #[test]
        fn token_shaped_strings_never_panic(token in "[A-Za-z0-9_=.-]{0,120}", now: u64) {
            let _ = verify_hs256(&token, SECRET, now);
        }

        #[test]
        fn signed_claims_verify(claims in proptest::collection::btree_map("[a-z]{1,8}", any::<i32>(), 0..6)) {
            let claims = serde_json::to_string(&claims).unwrap();
            prop_assume!(!claims.contains("\"exp\"") && !claims.contains("\"nbf\""));
            prop_assert_eq!(verify_hs256(&sign_hs256(&claims, SECRET), SECRET, NOW), Ok(()));
        }
    }
}
