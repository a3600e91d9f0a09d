//! SIGNL4 outbound-webhook notifications, parsed into what StatusSync acts on.
//!
//! Invariants: parsing is total — any JSON body gives either a [`Notification`] or a
//! [`NotificationError`] naming the field that is wrong, never a panic; event types the
//! connector does not act on (200 created, 202 escalated, duty events, test pings) parse to
//! `Ignored` so the receiver can answer 2xx without recording anything; the notification `id`
//! is required (SIGNL4 delivers at least once, and older logs deduplicated on it).
//!
//! Every notification also names the *change* it reports ([`Notification::change_key`]): the
//! outbound webhook and the REST polling fallback compute the same key for the same change
//! (an acknowledge by one user, the close, one annotation), so a change seen both ways, or by
//! two polls, is recorded once.

use chrono::DateTime;
use serde_json::Value;
use store::events::Signl4Action;

/// A notification StatusSync acts on.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// The top-level `id`: unique per notification, the inbox key.
    pub id: String,
    /// `alert.id`.
    pub signl_id: String,
    /// `alert.externalEventId`: the ExternalID the connector sent, if any.
    pub external_id: Option<String>,
    pub action: Signl4Action,
    /// `user.mailaddress` and `user.username`, when a user acted.
    pub user_email: Option<String>,
    pub user_name: Option<String>,
    /// `user.id`, when a user acted.
    pub user_id: Option<String>,
    /// `annotation.id` of an annotation.
    pub annotation_id: Option<String>,
    /// `eventRaisedUtc` in ms (0 when absent or unparsable).
    pub raised_at_ms: i64,
}

impl Notification {
    /// The change this reports, the same whether it came by webhook or by REST poll:
    /// `ack/{signl}/{user id or -}` (a multi-ack Signl is acknowledged once per user), `close/{signl}`,
    /// `note/{annotation id}` (or `notification/{id}` for an annotation without one).
    pub fn change_key(&self) -> String {
        match &self.action {
            Signl4Action::Acknowledged => format!(
                "ack/{}/{}",
                self.signl_id,
                self.user_id.as_deref().unwrap_or("-")
            ),
            Signl4Action::Closed => format!("close/{}", self.signl_id),
            Signl4Action::Annotated { .. } => match &self.annotation_id {
                Some(id) => format!("note/{id}"),
                None => format!("notification/{}", self.id),
            },
        }
    }
}

/// What a body turned out to be.
#[derive(Clone, Debug, PartialEq)]
pub enum Parsed {
    /// Something to record.
    Action(Notification),
    /// A valid notification of a kind the connector does not act on (`eventType`).
    Ignored(i64),
}

/// Why a body is not a notification.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum NotificationError {
    #[error("body is not a JSON object")]
    NotAnObject,
    #[error("field {0} is missing or has the wrong type")]
    Field(&'static str),
    #[error("eventType 201 with alert.statusCode {0}: expected 2 (acknowledged) or 4 (closed)")]
    StatusCode(i64),
}

/// Parses one outbound-webhook body.
pub fn parse(body: &Value) -> Result<Parsed, NotificationError> {
    if !body.is_object() {
        return Err(NotificationError::NotAnObject);
    }
    let event_type = body["eventType"]
        .as_i64()
        .ok_or(NotificationError::Field("eventType"))?;
    let action = match event_type {
        201 => match body["alert"]["statusCode"].as_i64() {
            Some(2) => Signl4Action::Acknowledged,
            Some(4) => Signl4Action::Closed,
            Some(other) => return Err(NotificationError::StatusCode(other)),
            None => return Err(NotificationError::Field("alert.statusCode")),
        },
        203 => Signl4Action::Annotated {
            text: body["annotation"]["message"]
                .as_str()
                .ok_or(NotificationError::Field("annotation.message"))?
                .to_string(),
        },
        other => return Ok(Parsed::Ignored(other)),
    };
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    Ok(Parsed::Action(Notification {
        id: text(&body["id"]).ok_or(NotificationError::Field("id"))?,
        signl_id: text(&body["alert"]["id"]).ok_or(NotificationError::Field("alert.id"))?,
        external_id: text(&body["alert"]["externalEventId"]),
        action,
        user_email: text(&body["user"]["mailaddress"]),
        user_name: text(&body["user"]["username"]),
        user_id: text(&body["user"]["id"]),
        annotation_id: text(&body["annotation"]["id"]),
        raised_at_ms: body["eventRaisedUtc"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or(0, |t| t.timestamp_millis()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_documented_samples() {
        let ack = json!({"eventType":201,"eventRaisedUtc":"2017-09-01T08:11:37.4815663Z",
            "user":{"username":"Rene","mailaddress":"rene@signl4.com","id":"f0bd"},
            "alert":{"statusCode":2,"eventId":"e","externalEventId":"ext","id":"s1"},
            "id":"dd209a2d"});
        let Parsed::Action(n) = parse(&ack).unwrap() else {
            panic!()
        };
        assert_eq!(n.action, Signl4Action::Acknowledged);
        assert_eq!(n.user_email.as_deref(), Some("rene@signl4.com"));
        assert_eq!(n.external_id.as_deref(), Some("ext"));
        assert_eq!(n.raised_at_ms, 1_504_253_497_481);
        assert_eq!(n.change_key(), "ack/s1/f0bd");

        let note = json!({"eventType":203,"alert":{"statusCode":0,"id":"s1","externalEventId":"ext"},
            "annotation":{"message":"OK, I'll take care about it.","id":"a9"},"id":"141c"});
        let Parsed::Action(n) = parse(&note).unwrap() else {
            panic!()
        };
        assert!(matches!(n.action, Signl4Action::Annotated { .. }));
        assert_eq!(n.change_key(), "note/a9");
        let close = json!({"eventType":201,"alert":{"statusCode":4,"id":"s1"},"id":"c1"});
        let Parsed::Action(n) = parse(&close).unwrap() else {
            panic!()
        };
        assert_eq!(n.change_key(), "close/s1");
        assert_eq!(
            parse(&json!({"eventType":200,"id":"x"})),
            Ok(Parsed::Ignored(200))
        );
    }

    #[test]
    fn bad_bodies_name_the_field() {
        assert_eq!(parse(&json!([1])), Err(NotificationError::NotAnObject));
        assert_eq!(
            parse(&json!({"eventType":"201"})),
            Err(NotificationError::Field("eventType"))
        );
        assert_eq!(
            parse(&json!({"eventType":201,"alert":{"statusCode":9}})),
            Err(NotificationError::StatusCode(9))
        );
        assert_eq!(
            parse(&json!({"eventType":201,"alert":{"statusCode":2,"id":"s"}})),
            Err(NotificationError::Field("id"))
        );
    }
}
