//! DeleteTopics (key 20): removing a topic from the registry in [`crate::topics`].
//!
//! Flow: an admin client (or kcat, or a test) → **DeleteTopics** → `Topics::delete`
//! removes the topic's partition directories → its name is free again.
//!
//! What must stay true:
//! - Each topic in a request gets its own result; one bad topic never fails the
//!   others.
//! - Internal topics (`__consumer_offsets`) cannot be deleted: INVALID_TOPIC_EXCEPTION.
//! - Disk work (removing directories) runs on the blocking pool.

use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::{topic_error_code, BrokerContext};

/// DeleteTopics v1–v6 (v6 may name topics by id; this broker has none).
pub async fn handle(
    ctx: &BrokerContext,
    req: DeleteTopicsRequest,
    version: i16,
) -> (DeleteTopicsResponse, String) {
    // v0–v5 list names; v6 lists {name | topic id} states.
    let wanted: Vec<DeleteTopicState> = if version >= 6 {
        req.topics
    } else {
        req.topic_names
            .into_iter()
            .map(|n| DeleteTopicState::default().with_name(Some(n)))
            .collect()
    };
    let mut results = Vec::with_capacity(wanted.len());
    let mut summary = Vec::with_capacity(wanted.len());
    for state in wanted {
        let Some(name) = state.name else {
            summary.push(format!("id {}: unknown topic id", state.topic_id));
            results.push(
                DeletableTopicResult::default()
                    .with_name(None)
                    .with_topic_id(state.topic_id)
                    .with_error_code(ResponseError::UnknownTopicId.code()),
            );
            continue;
        };
        let name_str = name.0.as_str().to_string();
        let outcome = delete_one(ctx, &name_str).await;
        let result = DeletableTopicResult::default().with_name(Some(name));
        results.push(match outcome {
            Ok(()) => {
                summary.push(format!("{name_str} deleted"));
                result
            }
            Err((code, message)) => {
                summary.push(format!("{name_str}: {message}"));
                let result = result.with_error_code(code);
                if version >= 5 {
                    result.with_error_message(Some(StrBytes::from_string(message)))
                } else {
                    result
                }
            }
        });
    }
    let line = format!("delete_topics {}", summary.join("; "));
    (
        DeleteTopicsResponse::default().with_responses(results),
        line,
    )
}

async fn delete_one(ctx: &BrokerContext, name: &str) -> Result<(), (i16, String)> {
    match ctx.topics.get(name) {
        None => {
            return Err((
                ResponseError::UnknownTopicOrPartition.code(),
                format!("unknown topic {name:?}"),
            ))
        }
        Some(topic) if topic.internal => {
            return Err((
                ResponseError::InvalidTopicException.code(),
                format!("{name:?} is an internal topic and cannot be deleted"),
            ))
        }
        Some(_) => {}
    }
    let registry = ctx.topics.clone();
    let owned = name.to_string();
    match tokio::task::spawn_blocking(move || registry.delete(&owned)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err((topic_error_code(&e), e.to_string())),
        Err(e) => Err((
            ResponseError::UnknownServerError.code(),
            format!("deleting the topic did not finish: {e}"),
        )),
    }
}
