//! Discovery's routes: the providers, their runs, and push webhooks.

use super::{handlers as discovery, push};
use crate::auth::policy::Rule::*;
use crate::rows::{Body, OBJECT, route_table};

route_table! {
    /// Discovery providers and push webhooks.
    ROUTES, configure;
    GET "/api/providers" => discovery::list_providers {
        tag: "providers", rule: Read, summary: "Configured GitHub and GitLab discovery providers, with their last run",
    }
    GET "/api/providers/{id}/runs" => discovery::list_provider_runs {
        tag: "providers", rule: Read,
        summary: "Recent runs of a provider: repositories seen, locations added and removed, errors",
    }
    POST "/api/providers/{id}/run" => discovery::run_provider {
        tag: "providers", rule: Admin, summary: "Runs a provider now and answers its outcome",
    }
    POST "/api/webhooks/github" => push::receive_github {
        tag: "webhooks", rule: Webhook, summary: "GitHub webhook deliveries (X-Hub-Signature-256 checked before parsing)",
        body: Body::Json(OBJECT),
    }
    POST "/api/webhooks/gitlab" => push::receive_gitlab {
        tag: "webhooks", rule: Webhook, summary: "GitLab webhook deliveries (X-Gitlab-Token checked before parsing)",
        body: Body::Json(OBJECT),
    }
}

/// Every table of this domain, in registration order (named in `startup`'s domain list).
pub const TABLES: &[&[crate::rows::Route]] = &[ROUTES];
