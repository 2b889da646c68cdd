//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), the broker's side: the
//! credential a user file stores, and the two-round exchange that checks a client's
//! proof without the password ever crossing the wire.
//!
//! # The exchange (each message is one SaslAuthenticate `auth_bytes`)
//!
//! ```text
//! client-first  n,,n=alice,r=<client nonce>
//! server-first  r=<client nonce><server nonce>,s=<base64 salt>,i=4096
//! client-final  c=biws,r=<both nonces>,p=<base64 ClientProof>
//! server-final  v=<base64 ServerSignature>
//! ```
//!
//! # What the user file stores (Kafka's `ScramCredential`), never the password
//!
//! | value          | how                                              |
//! |----------------|--------------------------------------------------|
//! | salt           | 32 random bytes                                  |
//! | iterations     | 4096 (Kafka's minimum)                           |
//! | SaltedPassword | PBKDF2-HMAC-H(password, salt, iterations)        |
//! | stored_key     | H(HMAC(SaltedPassword, "Client Key"))            |
//! | server_key     | HMAC(SaltedPassword, "Server Key")               |
//!
//! The proof check: `ClientKey = proof XOR HMAC(stored_key, AuthMessage)`, and
//! `H(ClientKey)` must equal `stored_key`; the answer `v=` is
//! `HMAC(server_key, AuthMessage)`, which proves to the client that the broker knew the
//! credential too. `AuthMessage = client-first-bare , server-first , client-final
//! without ",p=…"`.
//!
//! What must stay true:
//! - Keys are compared in constant time (`subtle`).
//! - An unknown user goes through the same exchange with a made-up credential (a salt
//!   derived from the name, so it is the same every time) and fails at the proof, as a
//!   wrong password does: the answers do not tell which names exist.
//! - client-final must echo server-first's nonce (RFC 5802), or, for librdkafka before
//!   2.6.1, the client nonce followed by it (see `client_final`).
//! - Channel binding (`p=`), a mandatory extension (`m=`) and Kafka's delegation tokens
//!   (`tokenauth=true`) are refused with a reason; an authzid (`a=`) must be the user.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::{digest, hmac, pbkdf2, rand::SecureRandom};
use subtle::ConstantTimeEq;

use crate::config::SaslMechanism;

/// Kafka's minimum (and `kafka-configs`' default) iteration count.
pub const DEFAULT_ITERATIONS: u32 = 4096;

/// The hash of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScramHash {
    Sha256,
    Sha512,
}

impl ScramHash {
    /// The hash of a SCRAM mechanism; `None` for PLAIN.
    pub fn of(mechanism: SaslMechanism) -> Option<ScramHash> {
        match mechanism {
            SaslMechanism::ScramSha256 => Some(ScramHash::Sha256),
            SaslMechanism::ScramSha512 => Some(ScramHash::Sha512),
            SaslMechanism::Plain => None,
        }
    }

    pub fn mechanism(self) -> SaslMechanism {
        match self {
            ScramHash::Sha256 => SaslMechanism::ScramSha256,
            ScramHash::Sha512 => SaslMechanism::ScramSha512,
        }
    }

    fn hmac_algorithm(self) -> hmac::Algorithm {
        match self {
            ScramHash::Sha256 => hmac::HMAC_SHA256,
            ScramHash::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn pbkdf2_algorithm(self) -> pbkdf2::Algorithm {
        match self {
            ScramHash::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            ScramHash::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    fn len(self) -> usize {
        match self {
            ScramHash::Sha256 => 32,
            ScramHash::Sha512 => 64,
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        let key = hmac::Key::new(self.hmac_algorithm(), key);
        hmac::sign(&key, data).as_ref().to_vec()
    }

    fn h(self, data: &[u8]) -> Vec<u8> {
        let algorithm = match self {
            ScramHash::Sha256 => &digest::SHA256,
            ScramHash::Sha512 => &digest::SHA512,
        };
        digest::digest(algorithm, data).as_ref().to_vec()
    }

    /// `Hi()`: PBKDF2 with this hash's HMAC.
    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0; self.len()];
        let iterations =
            std::num::NonZeroU32::new(iterations.max(1)).unwrap_or(std::num::NonZeroU32::MIN);
        pbkdf2::derive(
            self.pbkdf2_algorithm(),
            iterations,
            salt,
            password,
            &mut out,
        );
        out
    }
}

/// One user's stored SCRAM credential for one hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: u32,
}

impl Credential {
    /// The credential of `password` with a new random salt.
    pub fn new(hash: ScramHash, password: &str, iterations: u32) -> Credential {
        let mut salt = vec![0u8; 32];
        // The system RNG does not fail on Linux; a zero salt would still be a valid
        // (if weaker) credential, never a crash.
        let _ = ring::rand::SystemRandom::new().fill(&mut salt);
        Credential::with_salt(hash, password, salt, iterations)
    }

    /// The credential of `password` with `salt`.
    pub fn with_salt(
        hash: ScramHash,
        password: &str,
        salt: Vec<u8>,
        iterations: u32,
    ) -> Credential {
        let salted = hash.salted_password(password.as_bytes(), &salt, iterations);
        let client_key = hash.hmac(&salted, b"Client Key");
        Credential {
            stored_key: hash.h(&client_key),
            server_key: hash.hmac(&salted, b"Server Key"),
            salt,
            iterations,
        }
    }

    /// Whether `password` is the one this credential was made from (how PLAIN logins
    /// are checked: the user file holds no password to compare with).
    pub fn matches(&self, hash: ScramHash, password: &str) -> bool {
        let other = Credential::with_salt(hash, password, self.salt.clone(), self.iterations);
        bool::from(other.stored_key.ct_eq(&self.stored_key))
    }

    /// Kafka's text form (`ScramCredentialUtils.credentialToString`):
    /// `salt=<b64>,stored_key=<b64>,server_key=<b64>,iterations=<n>`.
    pub fn to_text(&self) -> String {
        format!(
            "salt={},stored_key={},server_key={},iterations={}",
            B64.encode(&self.salt),
            B64.encode(&self.stored_key),
            B64.encode(&self.server_key),
            self.iterations
        )
    }

    /// Parses [`Credential::to_text`].
    pub fn from_text(text: &str, hash: ScramHash) -> Result<Credential, String> {
        let (mut salt, mut stored, mut server, mut iterations) = (None, None, None, None);
        for field in text.split(',') {
            let (name, value) = field
                .split_once('=')
                .ok_or_else(|| format!("{field:?} is not name=value"))?;
            let bytes = || B64.decode(value).map_err(|e| format!("{name}: {e}"));
            match name {
                "salt" => salt = Some(bytes()?),
                "stored_key" => stored = Some(bytes()?),
                "server_key" => server = Some(bytes()?),
                "iterations" => {
                    iterations = Some(
                        value
                            .parse::<u32>()
                            .map_err(|e| format!("iterations: {e}"))?,
                    )
                }
                other => return Err(format!("unknown field {other:?}")),
            }
        }
        let missing = |what: &str| format!("no {what}");
        let credential = Credential {
            salt: salt.ok_or_else(|| missing("salt"))?,
            stored_key: stored.ok_or_else(|| missing("stored_key"))?,
            server_key: server.ok_or_else(|| missing("server_key"))?,
            iterations: iterations.ok_or_else(|| missing("iterations"))?,
        };
        if credential.stored_key.len() != hash.len() || credential.server_key.len() != hash.len() {
            return Err(format!("keys are not {} bytes long", hash.len()));
        }
        if credential.iterations < DEFAULT_ITERATIONS {
            return Err(format!("iterations must be at least {DEFAULT_ITERATIONS}"));
        }
        Ok(credential)
    }
}

/// Why an exchange failed. Every variant ends the connection with
/// SASL_AUTHENTICATION_FAILED; only the log line tells them apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("malformed SCRAM message: {0}")]
    Malformed(String),
    #[error("{0} is not supported")]
    Unsupported(&'static str),
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    #[error("wrong password for user {0:?}")]
    BadProof(String),
}

/// Where an exchange is.
#[derive(Debug)]
enum State {
    ClientFirst,
    ClientFinal(Box<Round1>),
    Done,
}

/// What the first round leaves for the second.
#[derive(Debug)]
struct Round1 {
    user: String,
    known: bool,
    credential: Credential,
    client_first_bare: String,
    server_first: String,
    gs2_header: String,
    nonce: String,
}

/// One SCRAM exchange on one connection.
#[derive(Debug)]
pub struct ScramServer {
    hash: ScramHash,
    state: State,
    /// The server's half of the nonce (random; fixed in tests).
    server_nonce: String,
}

impl ScramServer {
    pub fn new(hash: ScramHash) -> ScramServer {
        let mut bytes = [0u8; 18];
        let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
        ScramServer::with_nonce(hash, B64.encode(bytes))
    }

    /// An exchange whose server nonce is `server_nonce` (for the RFC's test vector).
    pub fn with_nonce(hash: ScramHash, server_nonce: String) -> ScramServer {
        ScramServer {
            hash,
            state: State::ClientFirst,
            server_nonce,
        }
    }

    /// The hash this exchange uses.
    pub fn hash(&self) -> ScramHash {
        self.hash
    }

    /// The user named in client-first, once it has been read.
    pub fn user(&self) -> Option<&str> {
        match &self.state {
            State::ClientFinal(round) => Some(&round.user),
            _ => None,
        }
    }

    /// The next server message for `message`: server-first after client-first, then
    /// `Ok(Some(user))` with server-final after client-final. `credential` looks a user
    /// up (in the user file) when client-first names one.
    pub fn step(
        &mut self,
        message: &[u8],
        credential: impl FnOnce(&str) -> Option<Credential>,
    ) -> Result<(Vec<u8>, Option<String>), ScramError> {
        let message =
            std::str::from_utf8(message).map_err(|_| ScramError::Malformed("not UTF-8".into()))?;
        match std::mem::replace(&mut self.state, State::Done) {
            State::ClientFirst => {
                let (reply, next) = self.client_first(message, credential)?;
                self.state = next;
                Ok((reply, None))
            }
            State::ClientFinal(round) => {
                let Round1 {
                    user,
                    known,
                    credential,
                    client_first_bare,
                    server_first,
                    gs2_header,
                    nonce,
                } = *round;
                let proof = client_final(message, &gs2_header, &nonce, &self.server_nonce)?;
                let auth_message =
                    format!("{client_first_bare},{server_first},{}", proof.without_proof);
                let signature = self
                    .hash
                    .hmac(&credential.stored_key, auth_message.as_bytes());
                if proof.proof.len() != signature.len() {
                    return Err(ScramError::Malformed("proof of the wrong length".into()));
                }
                let client_key: Vec<u8> = proof
                    .proof
                    .iter()
                    .zip(&signature)
                    .map(|(a, b)| a ^ b)
                    .collect();
                let ok = bool::from(self.hash.h(&client_key).ct_eq(&credential.stored_key));
                if !known {
                    return Err(ScramError::UnknownUser(user));
                }
                if !ok {
                    return Err(ScramError::BadProof(user));
                }
                let server_signature = self
                    .hash
                    .hmac(&credential.server_key, auth_message.as_bytes());
                let reply = format!("v={}", B64.encode(server_signature)).into_bytes();
                Ok((reply, Some(user)))
            }
            State::Done => Err(ScramError::Malformed("the exchange is already over".into())),
        }
    }

    fn client_first(
        &self,
        message: &str,
        credential: impl FnOnce(&str) -> Option<Credential>,
    ) -> Result<(Vec<u8>, State), ScramError> {
        let malformed = |why: &str| ScramError::Malformed(format!("client-first: {why}"));
        let mut parts = message.splitn(3, ',');
        let cbind = parts.next().unwrap_or_default();
        let authzid = parts.next().ok_or_else(|| malformed("no gs2 header"))?;
        let bare = parts.next().ok_or_else(|| malformed("no gs2 header"))?;
        match cbind {
            "n" | "y" => {}
            c if c.starts_with("p=") => return Err(ScramError::Unsupported("channel binding")),
            _ => return Err(malformed("the gs2 flag is not n, y or p=")),
        }
        let gs2_header = format!("{cbind},{authzid},");
        let mut fields = bare.split(',');
        let user = match fields.next() {
            Some(f) if f.starts_with("m=") => {
                return Err(ScramError::Unsupported("a mandatory extension (m=)"))
            }
            Some(f) => unescape_name(f.strip_prefix("n=").ok_or_else(|| malformed("no n="))?)?,
            None => return Err(malformed("empty")),
        };
        let client_nonce = fields
            .next()
            .and_then(|f| f.strip_prefix("r="))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b)))
            .ok_or_else(|| malformed("no printable r= nonce"))?;
        if fields.any(|f| f == "tokenauth=true") {
            return Err(ScramError::Unsupported(
                "delegation-token authentication (tokenauth)",
            ));
        }
        if let Some(authzid) = authzid.strip_prefix("a=") {
            if unescape_name(authzid)? != user {
                return Err(ScramError::Malformed(
                    "the authorization id must be the user name".into(),
                ));
            }
        } else if !authzid.is_empty() {
            return Err(malformed("bad authzid"));
        }
        let (known, credential) = match credential(&user) {
            Some(c) => (true, c),
            None => (false, self.decoy(&user)),
        };
        let nonce = format!("{client_nonce}{}", self.server_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&credential.salt),
            credential.iterations
        );
        let reply = server_first.clone().into_bytes();
        Ok((
            reply,
            State::ClientFinal(Box::new(Round1 {
                user,
                known,
                credential,
                client_first_bare: bare.to_string(),
                server_first,
                gs2_header,
                nonce,
            })),
        ))
    }

    /// The made-up credential of an unknown user: a salt that depends only on the name
    /// (and this process), keys no proof can match.
    fn decoy(&self, user: &str) -> Credential {
        static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
        let key = KEY.get_or_init(|| {
            let mut k = [0u8; 32];
            let _ = ring::rand::SystemRandom::new().fill(&mut k);
            k
        });
        let salt = self.hash.hmac(key, user.as_bytes())[..32].to_vec();
        let mut keys = vec![0u8; 2 * self.hash.len()];
        let _ = ring::rand::SystemRandom::new().fill(&mut keys);
        Credential {
            salt,
            stored_key: keys[..self.hash.len()].to_vec(),
            server_key: keys[self.hash.len()..].to_vec(),
            iterations: DEFAULT_ITERATIONS,
        }
    }
}

/// client-final, split.
struct ClientFinal {
    without_proof: String,
    proof: Vec<u8>,
}

fn client_final(
    message: &str,
    gs2_header: &str,
    nonce: &str,
    server_nonce: &str,
) -> Result<ClientFinal, ScramError> {
    let malformed = |why: &str| ScramError::Malformed(format!("client-final: {why}"));
    let (without_proof, proof) = message
        .rsplit_once(",p=")
        .ok_or_else(|| malformed("no p= proof"))?;
    let mut fields = without_proof.split(',');
    let binding = fields
        .next()
        .and_then(|f| f.strip_prefix("c="))
        .ok_or_else(|| malformed("no c= binding"))?;
    if B64.decode(binding).ok().as_deref() != Some(gs2_header.as_bytes()) {
        return Err(malformed("c= is not the gs2 header of client-first"));
    }
    let got = fields.next().and_then(|f| f.strip_prefix("r="));
    // librdkafka before 2.6.1 (kcat's 2.0.2 among them) sends the client nonce twice,
    // `r=<client nonce><client nonce><server nonce>` (librdkafka#4895); Kafka 3.8.1 to
    // 3.9 accept it (the full server-first nonce still ends the value, so the proof is
    // still bound to this exchange), and so does minikafka, in that one exact form.
    let doubled = nonce
        .strip_suffix(server_nonce)
        .map(|client_nonce| format!("{client_nonce}{nonce}"));
    if got != Some(nonce) && got.is_none_or(|g| Some(g) != doubled.as_deref()) {
        return Err(ScramError::Malformed(format!(
            "client-final: r={} is not the nonce of server-first, {nonce}",
            got.unwrap_or("(none)")
        )));
    }
    let proof = B64
        .decode(proof)
        .map_err(|_| malformed("p= is not base64"))?;
    Ok(ClientFinal {
        without_proof: without_proof.to_string(),
        proof,
    })
}

/// A saslname: `=2C` is `,` and `=3D` is `=`; any other `=` is an error.
fn unescape_name(name: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => {
                return Err(ScramError::Malformed(format!(
                    "bad escape in user name {name:?}"
                )))
            }
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    if out.is_empty() {
        return Err(ScramError::Malformed("empty user name".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677, section 3: user "user", password "pencil".
    #[test]
    fn rfc7677_sha256_example() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let credential = Credential::with_salt(ScramHash::Sha256, "pencil", salt, 4096);
        let mut server =
            ScramServer::with_nonce(ScramHash::Sha256, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".into());
        let (first, user) = server
            .step(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", |u| {
                (u == "user").then(|| credential.clone())
            })
            .unwrap();
        assert_eq!(user, None);
        assert_eq!(
            String::from_utf8(first).unwrap(),
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let (last, user) = server
            .step(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                |_| None,
            )
            .unwrap();
        assert_eq!(user.as_deref(), Some("user"));
        assert_eq!(
            String::from_utf8(last).unwrap(),
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        assert!(credential.matches(ScramHash::Sha256, "pencil"));
        assert!(!credential.matches(ScramHash::Sha256, "pencil!"));
    }

    #[test]
    fn a_wrong_proof_and_an_unknown_user_fail_the_same_way_at_the_end() {
        let credential = Credential::new(ScramHash::Sha512, "secret", 4096);
        for user in ["alice", "mallory"] {
            let mut server = ScramServer::new(ScramHash::Sha512);
            let (first, _) = server
                .step(format!("n,,n={user},r=abc").as_bytes(), |u| {
                    (u == "alice").then(|| credential.clone())
                })
                .unwrap();
            let first = String::from_utf8(first).unwrap();
            assert!(
                first.starts_with("r=abc") && first.contains(",s=") && first.ends_with(",i=4096")
            );
            let nonce = first.split(',').next().unwrap();
            let bad = format!("c=biws,{nonce},p={}", B64.encode([7u8; 64]));
            let err = server.step(bad.as_bytes(), |_| None).unwrap_err();
            assert!(
                matches!(err, ScramError::BadProof(_) | ScramError::UnknownUser(_)),
                "{err}"
            );
        }
    }

    /// librdkafka < 2.6.1 repeats its nonce in client-final; that form, and no other
    /// variation, is accepted.
    #[test]
    fn old_librdkafkas_doubled_client_nonce_is_accepted_and_nothing_else() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let credential = Credential::with_salt(ScramHash::Sha256, "pencil", salt, 4096);
        let snonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let cnonce = "rOprNGfwEbeRWgbNEkqO";
        let first = format!("n,,n=user,r={cnonce}");
        let server_first = format!("r={cnonce}{snonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
        let attempt = |r: String| {
            let mut server = ScramServer::with_nonce(ScramHash::Sha256, snonce.into());
            server
                .step(first.as_bytes(), |_| Some(credential.clone()))
                .unwrap();
            // The proof over this very AuthMessage, as the client computes it.
            let without_proof = format!("c=biws,r={r}");
            let auth = format!("n=user,r={cnonce},{server_first},{without_proof}");
            let salted = ScramHash::Sha256.salted_password(b"pencil", &credential.salt, 4096);
            let client_key = ScramHash::Sha256.hmac(&salted, b"Client Key");
            let sig = ScramHash::Sha256.hmac(&credential.stored_key, auth.as_bytes());
            let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
            let last = format!("{without_proof},p={}", B64.encode(proof));
            server.step(last.as_bytes(), |_| None)
        };
        assert!(attempt(format!("{cnonce}{snonce}")).is_ok());
        assert!(attempt(format!("{cnonce}{cnonce}{snonce}")).is_ok());
        assert!(attempt(format!("x{cnonce}{snonce}")).is_err());
        assert!(attempt(snonce.to_string()).is_err());
    }

    #[test]
    fn refuses_what_it_does_not_support() {
        let step = |m: &str| ScramServer::new(ScramHash::Sha256).step(m.as_bytes(), |_| None);
        assert_eq!(
            step("p=tls-unique,,n=u,r=x").unwrap_err(),
            ScramError::Unsupported("channel binding")
        );
        assert!(matches!(
            step("n,,n=u,r=x,tokenauth=true"),
            Err(ScramError::Unsupported(_))
        ));
        assert!(matches!(
            step("n,a=other,n=u,r=x"),
            Err(ScramError::Malformed(_))
        ));
        assert!(matches!(step("n,,n=u=,r=x"), Err(ScramError::Malformed(_))));
        assert!(matches!(step("garbage"), Err(ScramError::Malformed(_))));
        assert!(step("n,a=a=3Db,n=a=3Db,r=x").is_ok());
    }

    #[test]
    fn credentials_round_trip_as_text() {
        let c = Credential::new(ScramHash::Sha256, "pw", 4096);
        assert_eq!(
            Credential::from_text(&c.to_text(), ScramHash::Sha256),
            Ok(c.clone())
        );
        assert!(Credential::from_text(&c.to_text(), ScramHash::Sha512).is_err());
        assert!(Credential::from_text("salt=AA==", ScramHash::Sha256).is_err());
    }
}
