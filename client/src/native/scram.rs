//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), the client's side: two
//! SaslAuthenticate rounds that prove the password without sending it, and check that
//! the broker knew the credential too.
//!
//! ```text
//! client-first  n,,n=<user>,r=<client nonce>
//! server-first  r=<client nonce><server nonce>,s=<base64 salt>,i=<iterations>
//! client-final  c=biws,r=<both nonces>,p=<base64 ClientProof>
//! server-final  v=<base64 ServerSignature>
//! ```
//!
//! `SaltedPassword = PBKDF2(password, salt, i)`, `ClientKey = HMAC(SaltedPassword,
//! "Client Key")`, `StoredKey = H(ClientKey)`, `ClientProof = ClientKey XOR
//! HMAC(StoredKey, AuthMessage)`, `ServerSignature = HMAC(HMAC(SaltedPassword, "Server
//! Key"), AuthMessage)`, with `AuthMessage = client-first-bare , server-first ,
//! client-final-without-proof`.
//!
//! What must stay true:
//! - The server nonce must extend ours, and the iteration count must be at least 4096
//!   (Kafka's minimum): a broker that asks for less is refused, as Kafka's client does.
//! - The server's signature is checked in constant time; a wrong one fails the login
//!   even though the broker said yes (it did not prove it knows the credential).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::rand::SecureRandom;
use ring::{digest, hmac, pbkdf2};
use subtle::ConstantTimeEq;

use crate::config::SaslMechanism;

/// The least iteration count accepted (Kafka's `ScramMechanism.minIterations`).
const MIN_ITERATIONS: u32 = 4096;

/// One SCRAM login in progress.
#[derive(Debug)]
pub(crate) struct ScramClient {
    sha512: bool,
    password: String,
    client_first_bare: String,
    client_nonce: String,
    /// Set after server-first: the signature server-final must carry.
    expected_server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    /// A login of `user` with `password`; `None` for a mechanism that is not SCRAM.
    pub(crate) fn new(mechanism: SaslMechanism, user: &str, password: &str) -> Option<ScramClient> {
        let sha512 = match mechanism {
            SaslMechanism::ScramSha256 => false,
            SaslMechanism::ScramSha512 => true,
            SaslMechanism::Plain => return None,
        };
        let mut bytes = [0u8; 24];
        let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
        let client_nonce = B64.encode(bytes);
        let user = user.replace('=', "=3D").replace(',', "=2C");
        Some(ScramClient {
            sha512,
            password: password.to_string(),
            client_first_bare: format!("n={user},r={client_nonce}"),
            client_nonce,
            expected_server_signature: None,
        })
    }

    /// client-first.
    pub(crate) fn first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// client-final, for the broker's server-first.
    pub(crate) fn respond(&mut self, server_first: &[u8]) -> Result<Vec<u8>, String> {
        let server_first = std::str::from_utf8(server_first)
            .map_err(|_| "server-first is not UTF-8".to_string())?;
        let (mut nonce, mut salt, mut iterations) = (None, None, None);
        for field in server_first.split(',') {
            match field.split_at_checked(2) {
                Some(("r=", v)) => nonce = Some(v),
                Some(("s=", v)) => salt = Some(B64.decode(v).map_err(|_| "bad salt".to_string())?),
                Some(("i=", v)) => iterations = v.parse::<u32>().ok(),
                Some(("e=", v)) => return Err(format!("the broker refused: {v}")),
                _ => {}
            }
        }
        let nonce = nonce.ok_or("server-first has no nonce")?;
        let salt = salt.ok_or("server-first has no salt")?;
        let iterations = iterations.ok_or("server-first has no iteration count")?;
        if !nonce.starts_with(&self.client_nonce) || nonce.len() == self.client_nonce.len() {
            return Err("the server nonce does not extend ours".into());
        }
        if iterations < MIN_ITERATIONS {
            return Err(format!(
                "the broker asks for {iterations} iterations, fewer than {MIN_ITERATIONS}"
            ));
        }
        let salted = self.salted_password(&salt, iterations);
        let client_key = self.hmac(&salted, b"Client Key");
        let stored_key = self.h(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = self.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = self.hmac(&salted, b"Server Key");
        self.expected_server_signature = Some(self.hmac(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Checks server-final.
    pub(crate) fn finish(&self, server_final: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(server_final)
            .map_err(|_| "server-final is not UTF-8".to_string())?;
        if let Some(e) = text.strip_prefix("e=") {
            return Err(format!("the broker refused: {e}"));
        }
        let got = text
            .strip_prefix("v=")
            .and_then(|v| B64.decode(v).ok())
            .ok_or("server-final has no signature")?;
        let want = self
            .expected_server_signature
            .as_ref()
            .ok_or("server-final before server-first")?;
        if bool::from(got.ct_eq(want)) {
            Ok(())
        } else {
            Err("the broker's signature is wrong: it does not know the credential".into())
        }
    }

    fn hmac(&self, key: &[u8], data: &[u8]) -> Vec<u8> {
        let algorithm = if self.sha512 {
            hmac::HMAC_SHA512
        } else {
            hmac::HMAC_SHA256
        };
        hmac::sign(&hmac::Key::new(algorithm, key), data)
            .as_ref()
            .to_vec()
    }

    fn h(&self, data: &[u8]) -> Vec<u8> {
        let algorithm = if self.sha512 {
            &digest::SHA512
        } else {
            &digest::SHA256
        };
        digest::digest(algorithm, data).as_ref().to_vec()
    }

    fn salted_password(&self, salt: &[u8], iterations: u32) -> Vec<u8> {
        let (algorithm, len) = if self.sha512 {
            (pbkdf2::PBKDF2_HMAC_SHA512, 64)
        } else {
            (pbkdf2::PBKDF2_HMAC_SHA256, 32)
        };
        let mut out = vec![0; len];
        let iterations = std::num::NonZeroU32::new(iterations).unwrap_or(std::num::NonZeroU32::MIN);
        pbkdf2::derive(
            algorithm,
            iterations,
            salt,
            self.password.as_bytes(),
            &mut out,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677, section 3: the client's side of the example exchange.
    #[test]
    fn rfc7677_sha256_example() {
        let mut c = ScramClient::new(SaslMechanism::ScramSha256, "user", "pencil").unwrap();
        c.client_nonce = "rOprNGfwEbeRWgbNEkqO".into();
        c.client_first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO".into();
        assert_eq!(c.first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let last = c
            .respond(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap();
        assert_eq!(
            String::from_utf8(last).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        c.finish(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        assert!(c.finish(b"v=AAAA").is_err());
    }

    #[test]
    fn a_broker_that_does_not_extend_the_nonce_or_asks_for_few_iterations_is_refused() {
        let mut c = ScramClient::new(SaslMechanism::ScramSha512, "u", "p").unwrap();
        assert!(c.respond(b"r=other,s=AAAA,i=4096").is_err());
        let nonce = c.client_nonce.clone();
        assert!(c
            .respond(format!("r={nonce}x,s=AAAA,i=1000").as_bytes())
            .is_err());
        assert!(c
            .respond(format!("r={nonce}x,s=AAAA,i=4096").as_bytes())
            .is_ok());
    }
}
