//! SASL PLAIN (RFC 4616): the client sends its name and password in one message,
//! `[authzid] NUL authcid NUL password`, and the broker checks the password against
//! the user's stored SCRAM credential (`users.rs`). Use it inside TLS (SASL_SSL): over
//! SASL_PLAINTEXT the password crosses the network in the open.
//!
//! What must stay true:
//! - The password is never logged, and never kept after the check.
//! - An authorization id, when given, must be the user name (Kafka's rule).

use super::users::Users;

/// Why a PLAIN login failed (the client is told only "invalid username or password").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlainError {
    #[error("malformed PLAIN message: {0}")]
    Malformed(&'static str),
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    #[error("wrong password for user {0:?}")]
    WrongPassword(String),
}

/// Checks one PLAIN message; the user name on success.
pub fn authenticate(message: &[u8], users: &Users) -> Result<String, PlainError> {
    let text = std::str::from_utf8(message).map_err(|_| PlainError::Malformed("not UTF-8"))?;
    let mut parts = text.split('\0');
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(PlainError::Malformed(
            "expected [authzid] NUL user NUL password",
        ));
    };
    if user.is_empty() || password.is_empty() {
        return Err(PlainError::Malformed("empty user name or password"));
    }
    if !authzid.is_empty() && authzid != user {
        return Err(PlainError::Malformed(
            "the authorization id must be the user name",
        ));
    }
    match users.check_password(user, password) {
        Some(true) => Ok(user.to_string()),
        Some(false) => Err(PlainError::WrongPassword(user.to_string())),
        None => Err(PlainError::UnknownUser(user.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::scram::ScramHash;

    #[test]
    fn checks_name_and_password() {
        let mut users = Users::default();
        users.add("alice", "pw", &[ScramHash::Sha256]).unwrap();
        assert_eq!(authenticate(b"\0alice\0pw", &users), Ok("alice".into()));
        assert_eq!(
            authenticate(b"alice\0alice\0pw", &users),
            Ok("alice".into())
        );
        assert_eq!(
            authenticate(b"\0alice\0nope", &users),
            Err(PlainError::WrongPassword("alice".into()))
        );
        assert_eq!(
            authenticate(b"\0bob\0pw", &users),
            Err(PlainError::UnknownUser("bob".into()))
        );
        assert!(matches!(
            authenticate(b"bob\0alice\0pw", &users),
            Err(PlainError::Malformed(_))
        ));
        assert!(matches!(
            authenticate(b"alice:pw", &users),
            Err(PlainError::Malformed(_))
        ));
    }
}
