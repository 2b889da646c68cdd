//! Topic names: the characters and lengths Kafka accepts, and which topics are internal.
//!
//! Flow: CreateTopics, Metadata auto-create and `topics.json` on open all pass a name
//! through [`validate_topic_name`] before anything touches the disk; the name becomes
//! part of a directory name (`<topic>-<partition>`), so it must be safe as one.
//!
//! What must stay true: the rules are Kafka's (`Topic.validate`): `[a-zA-Z0-9._-]`,
//! 1 to 249 characters, and neither `.` nor `..`.

use super::TopicError;

/// Topics Kafka itself treats as internal.
pub fn is_internal(name: &str) -> bool {
    name == "__consumer_offsets" || name == "__transaction_state"
}

/// Checks a topic name as Kafka does: `[a-zA-Z0-9._-]`, 1..=249 chars, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    let fail = |reason: &str| {
        Err(TopicError::InvalidName {
            name: name.to_string(),
            reason: reason.to_string(),
        })
    };
    if name.is_empty() {
        return fail("the name is empty");
    }
    if name == "." || name == ".." {
        return fail("'.' and '..' are not allowed");
    }
    if name.len() > 249 {
        return fail("longer than 249 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return fail("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_as_kafka_does() {
        for ok in ["a", "orders.v1_x-Y", "__consumer_offsets", &"x".repeat(249)] {
            validate_topic_name(ok).unwrap();
        }
        for bad in ["", ".", "..", "a b", "é", "a/b", &"x".repeat(250)] {
            assert!(matches!(
                validate_topic_name(bad),
                Err(TopicError::InvalidName { .. })
            ));
        }
    }

    #[test]
    fn internal_topics_are_kafkas() {
        assert!(is_internal("__consumer_offsets"));
        assert!(is_internal("__transaction_state"));
        assert!(!is_internal("orders"));
    }
}
