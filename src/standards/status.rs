//! The scorecards an entity is judged by, in its `status.items` (the catalog serves them with the
//! entity, the entity page lists them): one item per scorecard with the level reached, the score
//! and the failing checks.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::Standards;
use super::model::Scorecard;
use super::store::{self, ResultRow};
use super::views::outcomes;
use crate::catalog::seam::StatusDecorator;
use crate::db::Pool;

/// The `type` of the items.
pub const ITEM_TYPE: &str = "portolan.dev/scorecard";

/// One entity's standing against one scorecard, as a Backstage status item (`level` is `info`:
/// failing checks with a severity are findings, and show as such).
pub fn status_item(sc: &Scorecard, row: &ResultRow) -> Value {
    let failing: Vec<&str> =
        sc.checks.iter().zip(outcomes(row)).filter(|(_, o)| !o.passed).map(|(c, _)| c.id.as_str()).collect();
    let reached = match &row.level {
        Some(l) => format!("level {l}"),
        None => format!("below {}", sc.levels.first().map_or("the lowest level", String::as_str)),
    };
    let mut message = format!("{}: {reached}, score {}", sc.title, row.score);
    if !failing.is_empty() {
        message.push_str(&format!("; failing: {}", failing.join(", ")));
    }
    json!({
        "type": ITEM_TYPE,
        "level": "info",
        "message": message,
        "scorecard": {
            "ref": sc.entity_ref,
            "title": sc.title,
            "level": row.level,
            "levels": sc.levels,
            "score": row.score,
            "failing": failing,
        },
    })
}

impl StatusDecorator for Standards {
    fn status_items(&self, pool: &Pool, keys: &[String]) -> anyhow::Result<HashMap<String, Vec<Value>>> {
        let rows = store::results_for(pool, keys)?;
        let mut out: HashMap<String, Vec<Value>> = HashMap::new();
        if rows.is_empty() {
            return Ok(out);
        }
        let g = self.org.snapshot(pool)?;
        let scorecards: HashMap<String, Arc<Scorecard>> =
            self.scorecards(pool, &g)?.into_iter().map(|(_, s)| (s.key.clone(), s)).collect();
        for row in &rows {
            if let Some(sc) = scorecards.get(&row.scorecard_ref) {
                out.entry(row.entity_ref.clone()).or_default().push(status_item(sc, row));
            }
        }
        Ok(out)
    }

    fn generation(&self, pool: &Pool) -> anyhow::Result<i64> {
        store::generation(pool)
    }
}
