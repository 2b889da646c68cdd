//! Kafka's names for its error codes, as its docs and clients print them
//! (`3` → `UNKNOWN_TOPIC_OR_PARTITION`).
//!
//! Where it sits: beside the message path, a leaf like [`crate::config`]: every
//! request handler (protocol and group) uses it for the one-line request log, so it
//! lives below both of them.
//!
//! What must stay true:
//! - It imports nothing from the crate.
//! - Names are Kafka's exactly (`0` → `NONE`); a code Kafka does not know prints as
//!   `error <code>`, never a panic.

/// Kafka's name for an error code: `3` → `UNKNOWN_TOPIC_OR_PARTITION`, `0` → `NONE`.
pub fn error_name(code: i16) -> String {
    match kafka_protocol::ResponseError::try_from_code(code) {
        None => "NONE".to_string(),
        Some(kafka_protocol::ResponseError::Unknown(code)) => format!("error {code}"),
        Some(e) => {
            // The crate names variants in CamelCase: UnknownTopicOrPartition.
            let camel = format!("{e:?}");
            let mut name = String::with_capacity(camel.len() + 8);
            for (i, c) in camel.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    name.push('_');
                }
                name.push(c.to_ascii_uppercase());
            }
            name
        }
    }
}

#[cfg(test)]
mod tests {
    use super::error_name;

    #[test]
    fn error_names_are_kafkas() {
        assert_eq!(error_name(0), "NONE");
        assert_eq!(error_name(1), "OFFSET_OUT_OF_RANGE");
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(35), "UNSUPPORTED_VERSION");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(30000), "error 30000");
    }
}
