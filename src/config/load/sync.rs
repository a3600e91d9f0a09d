//! What the connector writes back to Sentinel: `[connector.on_acknowledge]` and
//! `[connector.on_close]` (owner, status, classification, reason, comment).
//!
//! Invariant: a classification and its reason are checked together, so a Closed write that
//! Sentinel would refuse is an error here, at load, not a failed write at 3 a.m.

use super::*;

pub(super) fn read_on_acknowledge(ctx: &mut Ctx, t: &mut TableReader) -> Option<OnAcknowledge> {
    let Some(mut a) = ctx.opt_table(t, "on_acknowledge") else {
        return (!t.contains("on_acknowledge")).then_some(OnAcknowledge {
            set_active: true,
            assign_owner: true,
        });
    };
    let result = OnAcknowledge {
        set_active: ctx.opt_bool(&mut a, "set_active").unwrap_or(true),
        assign_owner: ctx.opt_bool(&mut a, "assign_owner").unwrap_or(true),
    };
    ctx.finish(a);
    Some(result)
}

pub(super) fn read_on_close(ctx: &mut Ctx, t: &mut TableReader) -> Option<OnClose> {
    let Some(mut c) = ctx.opt_table(t, "on_close") else {
        return (!t.contains("on_close")).then_some(OnClose {
            classification: Classification::Undetermined,
            classification_reason: None,
            classification_comment: Some(DEFAULT_CLOSE_COMMENT.to_string()),
            assign_owner: false,
        });
    };
    let classification = word(
        ctx,
        &mut c,
        "classification",
        Classification::parse,
        Classification::expected,
    )
    .map(|v| v.unwrap_or(Classification::Undetermined));
    let reason_item = c.get("classification_reason").map(|i| i.span);
    let reason = word(
        ctx,
        &mut c,
        "classification_reason",
        ClassificationReason::parse,
        ClassificationReason::expected,
    );
    let comment = match ctx.opt_str(&mut c, "classification_comment") {
        Some((s, _)) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        None => Some(DEFAULT_CLOSE_COMMENT.to_string()),
    };
    let assign_owner = ctx.opt_bool(&mut c, "assign_owner").unwrap_or(false);
    let (classification, reason) = (classification?, reason?);

    // Sentinel refuses to close with a reason that does not match the classification
    // (docs/reference/azure-apis.md §2.6); catching it here beats a 400 on the first close.
    let allowed = classification.allowed_reasons();
    let path = c.child_path("classification_reason");
    match reason {
        None if !allowed.is_empty() => {
            let span = c.span.clone();
            ctx.error(
                Some(&span),
                &path,
                ErrorKind::Conflict,
                format!(
                    "classification {classification} needs a classification_reason; expected {}",
                    one_of(allowed.iter().map(|r| r.as_str()))
                ),
            );
            ctx.finish(c);
            return None;
        }
        Some(r) if !allowed.contains(&r) => {
            let expected = if allowed.is_empty() {
                "none (remove classification_reason)".to_string()
            } else {
                one_of(allowed.iter().map(|r| r.as_str()))
            };
            ctx.error(
                reason_item.as_ref(),
                &path,
                ErrorKind::Conflict,
                format!(
                    "classification_reason {r} does not go with classification {classification}; \
                     expected {expected}"
                ),
            );
            ctx.finish(c);
            return None;
        }
        _ => {}
    }
    ctx.finish(c);
    Some(OnClose {
        classification,
        classification_reason: reason,
        classification_comment: comment,
        assign_owner,
    })
}
