//! HS256 JWT verification (src/api/jwt.rs) on arbitrary tokens with a fixed secret and time, and
//! sign/verify round trips.
//!
//! Input: [mode][rest]. `mode % 3`:
//! - 0: `rest` (UTF-8, lossy) is a token: verify must not panic and must not accept it (a
//!   token the fuzzer cannot sign is never valid, unless it found an HMAC forgery).
//! - 1: `rest` is a claims text, signed with `sign_hs256`: verifying that token must accept it or
//!   give exactly the verdict the claims call for (expired, not yet valid, or malformed when the
//!   claims are not a JSON object or `exp`/`nbf` are not numbers); never `BadSignature`.
//! - 2: as 1, then one character of the token is replaced (position and character from the
//!   input): a token that changed must be refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livego::api::jwt::{JwtError, sign_hs256, verify_hs256};
use livego_fuzz::{Bound, Input, bounded};
use serde_json::Value;

const SECRET: &[u8] = b"fuzz-secret";
const NOW: u64 = 1_700_000_000;
/// Verification decodes the three parts (3/4 of their length each), parses the JSON (serde_json
/// values are ~32-80 bytes per 1-2 input bytes, e.g. `[0,0,0]`) and formats the signing input
/// once: ~64 bytes per input byte, doubled for growth.
const PER_BYTE: usize = 128;
const BASE: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mode = input.u8() % 3;
    match mode {
        0 => {
            let token = String::from_utf8_lossy(input.rest());
            let verdict = bounded("jwt verify", data.len(), Bound::new(PER_BYTE, BASE), || {
                verify_hs256(&token, SECRET, NOW)
            });
            assert!(
                verdict.is_err(),
                "accepted a token not signed by us: {token:?}"
            );
        }
        _ => {
            let (at, with) = (usize::from(input.u16()), char::from(input.u8()));
            let claims = String::from_utf8_lossy(input.rest()).into_owned();
            let token = sign_hs256(&claims, SECRET);
            let verdict = bounded("jwt verify", data.len(), Bound::new(PER_BYTE, BASE), || {
                verify_hs256(&token, SECRET, NOW)
            });
            assert_eq!(verdict, expected(&claims), "claims {claims:?}");
            if mode == 2 && !token.is_empty() {
                let at = at % token.len();
                let mut changed = token.clone();
                changed.replace_range(at..at + 1, with.encode_utf8(&mut [0; 4]));
                if changed != token {
                    let verdict = verify_hs256(&changed, SECRET, NOW);
                    assert!(verdict.is_err(), "accepted a changed token {changed:?}");
                }
            }
        }
    }
});

/// What verifying a well-signed token with these claims must say.
fn expected(claims: &str) -> Result<(), JwtError> {
    let Ok(Value::Object(claims)) = serde_json::from_str::<Value>(claims) else {
        return Err(JwtError::Malformed);
    };
    let time = |name: &str| {
        claims
            .get(name)
            .map(|v| v.as_f64().ok_or(JwtError::Malformed))
    };
    let now = NOW as f64;
    if let Some(exp) = time("exp").transpose()?
        && now >= exp
    {
        return Err(JwtError::Expired);
    }
    if let Some(nbf) = time("nbf").transpose()?
        && now < nbf
    {
        return Err(JwtError::NotYetValid);
    }
    Ok(())
}
