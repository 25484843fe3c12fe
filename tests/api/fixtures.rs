//! YAML fixtures shared by several test files, written once.

use std::path::PathBuf;

use crate::helpers::{temp_dir, write_file};

/// A Component in block style, of `owner`.
pub fn component(name: &str, owner: &str) -> String {
    format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: service\n  lifecycle: production\n  owner: {owner}\n"
    )
}

/// A Component in flow style, of `owner`.
pub fn flow_component(name: &str, owner: &str) -> String {
    format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: {name}}}\nspec: {{type: service, lifecycle: production, owner: {owner}}}\n"
    )
}

/// An organisation for the access tests: team-a (under engineering), team-b, platform (the
/// admins' group); alice (team-a), bob (team-b), carol (platform, GitHub login `carol-gh`); team-b's
/// component `shared`.
pub const ORG: &str = r#"
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: engineering}
spec: {type: department, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team, parent: engineering, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-b}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: platform}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: alice}
spec: {profile: {email: Alice@Example.com}, memberOf: [team-a]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: bob}
spec: {profile: {email: bob@example.com}, memberOf: [team-b]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: carol
  annotations: {github.com/user-login: carol-gh}
spec: {memberOf: [platform]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: shared}
spec: {type: service, lifecycle: production, owner: team-b}
"#;

/// The offerings fixture's teams and APIs: platform-team's pay-api and ledger-api, and shop-team.
pub const SHOP_ORG: &str = r#"
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: platform-team}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: shop-team}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: pay-api, description: Take payments}
spec: {type: openapi, lifecycle: production, owner: platform-team, definition: "openapi: 3.0.0"}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: ledger-api}
spec: {type: grpc, lifecycle: experimental, owner: platform-team, definition: "syntax = \"proto3\";"}
"#;

/// platform-team's `pay` platform, offering pay-api in every kind of plan, ledger-api and ghost-api.
pub const PLATFORM: &str = r#"
apiVersion: portolan.dev/v1alpha1
kind: Platform
metadata: {name: pay}
spec:
  owner: platform-team
  domain: money
  providesApis: [pay-api, ledger-api]
  offerings:
    - api: pay-api
      description: Payments as a service.
      plans:
        - {name: free, approval: auto, quota: {requests: 1000, period: day}, rateLimit: {requests: 100, period: second}, credentialLifetimeDays: 30}
        - {name: gold, approval: manual, credentialLifetimeDays: 90}
        - {name: old, approval: auto, status: deprecated}
        - {name: beta, approval: auto, status: staging}
        - {name: legacy, approval: auto, status: closed}
        - {name: tiny, approval: auto, quota: {requests: 3, period: day}}
        - {name: burst, approval: auto, rateLimit: {requests: 2, period: hour}}
        - {name: shared, approval: auto, quota: {requests: 10, period: day}}
        - {name: spare, approval: auto}
    - api: ledger-api
      plans:
        - {name: std}
    - api: ghost-api
      description: Not in the catalog (yet).
      plans:
        - {name: std}
"#;

/// A shop-team Component, with `extra` lines under `metadata`.
pub fn shop_component(name: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\n{extra}spec: {{type: service, lifecycle: production, owner: shop-team}}\n"
    )
}

/// The consumers: `shop-web` consumes pay-api (descriptor-made, default plan), `shop-legacy`
/// consumes it on the deprecated plan by annotation; the others consume nothing.
pub fn consumers(web_consumes: bool) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: shop-web}}\nspec: {{type: website, lifecycle: production, owner: shop-team{}}}\n",
        if web_consumes { ", consumesApis: [pay-api]" } else { "" }
    ));
    out.push_str(
        "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: shop-legacy\n  annotations: {portolan.dev/plan.pay-api: old}\nspec: {type: service, lifecycle: production, owner: shop-team, consumesApis: [pay-api]}\n",
    );
    for name in ["shop-app", "shop-batch", "shop-cli", "shop-kiosk", "shop-pos", "shop-bot"] {
        out.push_str(&shop_component(name, ""));
    }
    out
}

/// The offerings fixture written to a folder: its files, and the folder that must outlive the app.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub files: Vec<PathBuf>,
}

/// The offerings fixture (platform-team's pay platform, shop-team's consumers) in a folder.
pub fn offerings() -> Fixture {
    let dir = temp_dir();
    let files = vec![
        write_file(dir.path(), "org.yaml", SHOP_ORG),
        write_file(dir.path(), "platform.yaml", PLATFORM),
        write_file(dir.path(), "consumers.yaml", &consumers(true)),
    ];
    Fixture { dir, files }
}

/// The offerings fixture's files, to write with `spawn_with_yaml`.
pub fn offerings_yaml() -> [(&'static str, String); 3] {
    [("org.yaml", SHOP_ORG.to_owned()), ("platform.yaml", PLATFORM.to_owned()), ("consumers.yaml", consumers(true))]
}
