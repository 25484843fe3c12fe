//! The offerings domain's pure parts: offerings and plans read from Platform descriptors, the
//! subscription state machine, gateway reasons, and counter windows. No I/O here.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::model::{DEFAULT_NAMESPACE, EntityRef};

/// How a plan grants subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    Auto,
    Manual,
}

impl Approval {
    pub fn as_str(self) -> &'static str {
        match self {
            Approval::Auto => "auto",
            Approval::Manual => "manual",
        }
    }
}

/// Whether a plan takes new subscriptions: only `published` does. `deprecated` keeps existing
/// subscriptions working; `closed` ends them; `staging` is not open yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanStatus {
    Staging,
    Published,
    Deprecated,
    Closed,
}

impl PlanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::Staging => "staging",
            PlanStatus::Published => "published",
            PlanStatus::Deprecated => "deprecated",
            PlanStatus::Closed => "closed",
        }
    }
}

/// Who shares one quota: a consumer (across its subscriptions to the API), or every consumer
/// owned by the same team.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuotaScope {
    #[default]
    Consumer,
    Team,
}

/// `requests` per `period` (quota: minute|hour|day|month; rate limit: second|minute|hour).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    pub requests: i64,
    pub period: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub name: String,
    pub description: Option<String>,
    pub approval: Approval,
    pub quota: Option<Limit>,
    /// Stored plans written before it existed read as `consumer`.
    #[serde(default)]
    pub quota_scope: QuotaScope,
    pub rate_limit: Option<Limit>,
    pub credential_lifetime_days: Option<i64>,
    pub status: PlanStatus,
}

/// One offered API, as the Platform that offers it describes it. Refs are ref keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offering {
    pub api: String,
    pub platform: String,
    pub description: Option<String>,
    pub plans: Vec<Plan>,
}

impl Offering {
    pub fn plan(&self, name: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.name == name)
    }

    /// The plan a descriptor-made subscription takes: the first published plan with auto approval.
    pub fn default_plan(&self) -> Option<&Plan> {
        self.plans.iter().find(|p| p.status == PlanStatus::Published && p.approval == Approval::Auto)
    }
}

fn limit(v: &Value) -> Option<Limit> {
    Some(Limit { requests: v.get("requests")?.as_i64()?, period: v.get("period")?.as_str()?.to_owned() })
}

fn plan(v: &Value) -> Option<Plan> {
    let status = match v.get("status").and_then(Value::as_str).unwrap_or("published") {
        "staging" => PlanStatus::Staging,
        "deprecated" => PlanStatus::Deprecated,
        "closed" => PlanStatus::Closed,
        _ => PlanStatus::Published,
    };
    Some(Plan {
        name: v.get("name")?.as_str()?.to_owned(),
        description: v.get("description").and_then(Value::as_str).map(str::to_owned),
        approval: if v.get("approval").and_then(Value::as_str) == Some("manual") {
            Approval::Manual
        } else {
            Approval::Auto
        },
        quota: v.get("quota").and_then(limit),
        quota_scope: if v.get("quotaScope").and_then(Value::as_str) == Some("team") {
            QuotaScope::Team
        } else {
            QuotaScope::Consumer
        },
        rate_limit: v.get("rateLimit").and_then(limit),
        credential_lifetime_days: v.get("credentialLifetimeDays").and_then(Value::as_i64),
        status,
    })
}

/// The offerings a Platform body declares (`spec.offerings`), with refs resolved against the
/// platform's namespace. Entries whose API ref cannot be parsed are left out (validation has
/// already reported them).
pub fn offerings_of_platform(platform_key: &str, body: &Value) -> Vec<Offering> {
    let namespace = body.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or(DEFAULT_NAMESPACE);
    let Some(list) = body.pointer("/spec/offerings").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|o| {
            let api = EntityRef::parse(o.get("api")?.as_str()?, Some("api"), namespace).ok()?.key();
            let mut plans: Vec<Plan> = Vec::new();
            for p in o.get("plans").and_then(Value::as_array).into_iter().flatten().filter_map(plan) {
                if !plans.iter().any(|q| q.name == p.name) {
                    plans.push(p);
                }
            }
            Some(Offering {
                api,
                platform: platform_key.to_owned(),
                description: o.get("description").and_then(Value::as_str).map(str::to_owned),
                plans,
            })
        })
        .collect()
}

/// A ref from a request: a full ref or a plain name (default kind and namespace), as a ref key.
pub fn request_ref(raw: &str, default_kind: &str) -> Option<String> {
    EntityRef::parse(raw.trim(), Some(default_kind), DEFAULT_NAMESPACE).ok().map(|r| r.key())
}

/// The states of a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Active,
    Paused,
    Rejected,
    Closed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Active => "active",
            Status::Paused => "paused",
            Status::Rejected => "rejected",
            Status::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Status::Pending,
            "active" => Status::Active,
            "paused" => Status::Paused,
            "rejected" => Status::Rejected,
            "closed" => Status::Closed,
            _ => return None,
        })
    }

    /// Pending, active and paused subscriptions are live: at most one per (API, consumer).
    pub fn is_live(self) -> bool {
        matches!(self, Status::Pending | Status::Active | Status::Paused)
    }
}

/// What a caller may ask of a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Approve,
    Reject,
    Pause,
    Resume,
    Transfer,
    Close,
}

/// Whose owner may take an action (admins may take every one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    Consumer,
    Platform,
}

impl Action {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "approve" => Action::Approve,
            "reject" => Action::Reject,
            "pause" => Action::Pause,
            "resume" => Action::Resume,
            "transfer" => Action::Transfer,
            "close" => Action::Close,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Transfer => "transfer",
            Action::Close => "close",
        }
    }

    pub fn party(self) -> Party {
        match self {
            Action::Close => Party::Consumer,
            _ => Party::Platform,
        }
    }

    /// The state this action leads to from `from`, or `None` when it is illegal there. After
    /// Gravitee's model: pending -> active | rejected | closed; active <-> paused;
    /// active | paused -> closed; transfer keeps an active subscription active on another plan.
    pub fn next(self, from: Status) -> Option<Status> {
        use Status::*;
        match (self, from) {
            (Action::Approve, Pending) => Some(Active),
            (Action::Reject, Pending) => Some(Rejected),
            (Action::Pause, Active) => Some(Paused),
            (Action::Resume, Paused) => Some(Active),
            (Action::Transfer, Active) => Some(Active),
            (Action::Close, Pending | Active | Paused) => Some(Closed),
            _ => None,
        }
    }
}

/// Why the gateway allowed or refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Ok,
    UnknownKey,
    Revoked,
    Expired,
    Pending,
    Paused,
    NotSubscribed,
    PlanClosed,
    QuotaExceeded,
    RateLimited,
}

impl Reason {
    /// The status `GET /api/gateway/auth` answers (nginx `auth_request`).
    pub fn auth_status(self) -> u16 {
        match self {
            Reason::Ok => 204,
            Reason::UnknownKey | Reason::Revoked | Reason::Expired => 401,
            Reason::Pending | Reason::Paused | Reason::NotSubscribed | Reason::PlanClosed => 403,
            Reason::QuotaExceeded | Reason::RateLimited => 429,
        }
    }
}

/// What one quota or rate-limit counter counts for: a consumer's calls of an API across its
/// subscriptions (closing and subscribing again continues the window), or, for a quota with
/// `quotaScope: team`, the calls of every consumer its team owns (a consumer with no owner
/// counts on its own).
pub fn counter_scope(api: &str, consumer: &str, team: Option<&str>, scope: QuotaScope) -> String {
    match (scope, team) {
        (QuotaScope::Team, Some(team)) => format!("team {team} {api}"),
        _ => format!("consumer {consumer} {api}"),
    }
}

/// The fixed window holding `now_ms` for a period: its start and its end (milliseconds, UTC).
/// Months are calendar months.
pub fn window(period: &str, now_ms: i64) -> (i64, i64) {
    let len = match period {
        "second" => 1_000,
        "minute" => 60_000,
        "hour" => 3_600_000,
        "day" => 86_400_000,
        "month" => {
            use chrono::{Datelike, TimeZone, Utc};
            let t = chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
            let start = Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0).single().unwrap_or_default();
            let (y, m) = if t.month() == 12 { (t.year() + 1, 1) } else { (t.year(), t.month() + 1) };
            let end = Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single().unwrap_or_default();
            return (start.timestamp_millis(), end.timestamp_millis());
        }
        _ => 60_000,
    };
    let start = now_ms - now_ms.rem_euclid(len);
    (start, start + len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_transition_of_the_state_machine() {
        use Status::*;
        let states = [Pending, Active, Paused, Rejected, Closed];
        let actions = [Action::Approve, Action::Reject, Action::Pause, Action::Resume, Action::Transfer, Action::Close];
        let legal = [
            (Action::Approve, Pending, Active),
            (Action::Reject, Pending, Rejected),
            (Action::Close, Pending, Closed),
            (Action::Pause, Active, Paused),
            (Action::Transfer, Active, Active),
            (Action::Close, Active, Closed),
            (Action::Resume, Paused, Active),
            (Action::Close, Paused, Closed),
        ];
        for a in actions {
            for s in states {
                let want = legal.iter().find(|(la, ls, _)| *la == a && *ls == s).map(|(_, _, to)| *to);
                assert_eq!(a.next(s), want, "{a:?} from {s:?}");
            }
        }
    }

    #[test]
    fn offerings_resolve_refs_in_the_platform_namespace_and_default_plan_fields() {
        let body = json!({"metadata": {"name": "p", "namespace": "ops"}, "spec": {"offerings": [
            {"api": "a", "plans": [{"name": "free"}, {"name": "gold", "approval": "manual", "status": "staging",
              "quota": {"requests": 5, "period": "day"}, "rateLimit": {"requests": 1, "period": "second"}}]},
            {"api": "api:default/b"}
        ]}});
        let o = offerings_of_platform("platform:ops/p", &body);
        assert_eq!(o.len(), 2);
        assert_eq!(o[0].api, "api:ops/a");
        assert_eq!(o[1].api, "api:default/b");
        assert_eq!(o[0].plans[0].approval, Approval::Auto);
        assert_eq!(o[0].plans[0].status, PlanStatus::Published);
        assert_eq!(o[0].plans[1].status, PlanStatus::Staging);
        assert_eq!(o[0].plans[1].quota, Some(Limit { requests: 5, period: "day".into() }));
        assert_eq!(o[0].plans[1].quota_scope, QuotaScope::Consumer);
        assert_eq!(o[0].default_plan().unwrap().name, "free");
    }

    #[test]
    fn quota_scope_is_read_and_old_stored_plans_default_to_consumer() {
        let body = json!({"spec": {"offerings": [{"api": "a", "plans": [{"name": "t", "quotaScope": "team"}]}]}});
        assert_eq!(offerings_of_platform("platform:default/p", &body)[0].plans[0].quota_scope, QuotaScope::Team);
        let stored: Plan = serde_json::from_value(json!({"name": "old", "approval": "auto", "status": "published"}))
            .expect("a plan stored before quotaScope");
        assert_eq!(stored.quota_scope, QuotaScope::Consumer);
        assert_eq!(
            counter_scope("api:default/a", "component:default/c", Some("group:default/t"), QuotaScope::Team),
            "team group:default/t api:default/a"
        );
        assert_eq!(
            counter_scope("api:default/a", "component:default/c", None, QuotaScope::Team),
            "consumer component:default/c api:default/a"
        );
    }

    #[test]
    fn windows_are_aligned_and_months_are_calendar_months() {
        assert_eq!(window("second", 1_500), (1_000, 2_000));
        assert_eq!(window("minute", 61_000), (60_000, 120_000));
        // 2026-12-15T00:00:00Z
        let (s, e) = window("month", 1_797_292_800_000);
        assert_eq!(crate::db::rfc3339(s), "2026-12-01T00:00:00.000Z");
        assert_eq!(crate::db::rfc3339(e), "2027-01-01T00:00:00.000Z");
    }

    #[test]
    fn gateway_reasons_map_to_auth_request_statuses() {
        assert_eq!(Reason::Ok.auth_status(), 204);
        assert_eq!(Reason::Revoked.auth_status(), 401);
        assert_eq!(Reason::Paused.auth_status(), 403);
        assert_eq!(Reason::RateLimited.auth_status(), 429);
        assert_eq!(serde_json::to_value(Reason::QuotaExceeded).unwrap(), "quota_exceeded");
    }
}
