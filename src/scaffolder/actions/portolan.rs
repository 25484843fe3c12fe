//! What Backstage lacks: `portolan:approval`, a step that waits until one of its approvers
//! approves (or rejects) the task.

use serde_json::{Map, Value, json};

use super::{Action, Ctx, Outcome, text};

pub(super) fn actions() -> Vec<Action> {
    vec![Action {
        id: "portolan:approval",
        description: "Waits until one of the approvers (groups or users) approves the task; a rejection fails it",
        input: || {
            json!({"type": "object", "required": ["approvers"], "properties": {
                "approvers": {"type": "array", "minItems": 1, "items": {"type": "string"},
                    "description": "Group or user refs (a group by default) who may decide"},
                "message": {"type": "string", "description": "What the approvers are asked"}}})
        },
        output: || json!({"type": "object", "properties": {"approvedBy": {"type": "string"}, "reason": {"type": "string"}}}),
        run: approval,
        dry_run: true,
    }]
}

fn approval(ctx: &mut Ctx<'_>, input: &Map<String, Value>) -> Outcome {
    let mut approvers = Vec::new();
    for (i, raw) in input.get("approvers").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let raw = raw.as_str().unwrap_or_default();
        let key = crate::catalog::model::EntityRef::parse(raw, Some("group"), "default")
            .map(|r| r.key())
            .map_err(|e| format!("approvers[{i}]: '{raw}': {e}"))?;
        approvers.push(key);
    }
    let message = text(input, "message").unwrap_or("Approve this task to let it go on").to_owned();
    match ctx.gate.filter(|_| !ctx.dry_run) {
        None => {
            (ctx.log)(format!("Would wait for the approval of {} (dry run)", approvers.join(", ")));
            Ok(Map::new())
        }
        Some(gate) => gate.approval(ctx.step, &approvers, &message),
    }
}
