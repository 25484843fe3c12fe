//! The annotations a processed entity carries: where it was read (`managed-by-location`,
//! `managed-by-origin-location`), and for files read from a URL `view-url`, `edit-url` and
//! `source-location`; and the generated Location entity that stands for a registered location.

use serde_json::{Map, Value};
use sha1::{Digest, Sha1};

use crate::catalog::fetch::Target;
use crate::catalog::model::DEFAULT_NAMESPACE;

pub const MANAGED_BY_LOCATION: &str = "backstage.io/managed-by-location";
pub const MANAGED_BY_ORIGIN_LOCATION: &str = "backstage.io/managed-by-origin-location";

/// The name of the Location entity that stands for a registered location:
/// `generated-<sha1 of "type:target">`, as Backstage names it.
pub fn generated_location_name(kind: &str, target: &str) -> String {
    let digest = Sha1::digest(format!("{kind}:{target}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("generated-{hex}")
}

/// The Location entity that stands for a registered location.
pub fn generated_location_entity(kind: &str, target: &str) -> Value {
    let location = format!("{kind}:{target}");
    serde_json::json!({
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Location",
        "metadata": {
            "name": generated_location_name(kind, target),
            "namespace": DEFAULT_NAMESPACE,
            "annotations": {
                MANAGED_BY_LOCATION: location,
                MANAGED_BY_ORIGIN_LOCATION: location,
            }
        },
        "spec": { "type": kind, "target": target }
    })
}

/// Stamps the location annotations on an entity, as Backstage does: the two managed-by ones
/// always, and for URL sources `backstage.io/view-url`, `edit-url` (GitHub and GitLab) and
/// `source-location` (the folder), unless the descriptor sets them itself.
pub(super) fn set_annotations(value: &mut Value, source: &str, origin: &str, file: &Target) {
    let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    let annotations = meta.entry("annotations").or_insert_with(|| Value::Object(Map::new()));
    if let Some(a) = annotations.as_object_mut() {
        a.insert(MANAGED_BY_LOCATION.into(), Value::String(source.to_owned()));
        a.insert(MANAGED_BY_ORIGIN_LOCATION.into(), Value::String(origin.to_owned()));
        if let Target::Url(url) = file {
            for (key, derived) in url_annotations(url) {
                a.entry(key).or_insert(Value::String(derived));
            }
        }
    }
}

/// view-url, edit-url and source-location for a file read from a URL.
pub fn url_annotations(url: &url::Url) -> Vec<(&'static str, String)> {
    let text = url.as_str();
    let (view, edit, folder) = if let Some(rest) = text.strip_prefix("https://raw.githubusercontent.com/") {
        // owner/repo/ref/path...
        let parts: Vec<&str> = rest.splitn(4, '/').collect();
        if parts.len() < 4 {
            return Vec::new();
        }
        let (owner, repo, git_ref, path) = (parts[0], parts[1], parts[2], parts[3]);
        let dir = path.rsplit_once('/').map(|(d, _)| format!("{d}/")).unwrap_or_default();
        (
            format!("https://github.com/{owner}/{repo}/blob/{git_ref}/{path}"),
            Some(format!("https://github.com/{owner}/{repo}/edit/{git_ref}/{path}")),
            format!("https://github.com/{owner}/{repo}/tree/{git_ref}/{dir}"),
        )
    } else if text.contains("/-/raw/") {
        let view = text.replacen("/-/raw/", "/-/blob/", 1);
        let edit = text.replacen("/-/raw/", "/-/edit/", 1);
        let folder = match view.rsplit_once('/') {
            Some((d, _)) => format!("{}/", d.replacen("/-/blob/", "/-/tree/", 1)),
            None => view.clone(),
        };
        (view, Some(edit), folder)
    } else {
        let folder = match text.rsplit_once('/') {
            Some((d, _)) => format!("{d}/"),
            None => text.to_owned(),
        };
        (text.to_owned(), None, folder)
    };
    let mut out = vec![("backstage.io/view-url", view), ("backstage.io/source-location", format!("url:{folder}"))];
    if let Some(edit) = edit {
        out.push(("backstage.io/edit-url", edit));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(u: &str) -> Vec<(&'static str, String)> {
        url_annotations(&url::Url::parse(u).unwrap())
    }

    #[test]
    fn github_raw_reads_get_blob_edit_and_tree_urls() {
        let a = ann("https://raw.githubusercontent.com/acme/svc/main/deploy/catalog-info.yaml");
        assert!(a.contains(&(
            "backstage.io/view-url",
            "https://github.com/acme/svc/blob/main/deploy/catalog-info.yaml".into()
        )));
        assert!(a.contains(&(
            "backstage.io/edit-url",
            "https://github.com/acme/svc/edit/main/deploy/catalog-info.yaml".into()
        )));
        assert!(
            a.contains(&("backstage.io/source-location", "url:https://github.com/acme/svc/tree/main/deploy/".into()))
        );
    }

    #[test]
    fn gitlab_raw_reads_get_blob_edit_and_tree_urls() {
        let a = ann("https://gitlab.com/acme/svc/-/raw/main/catalog-info.yaml");
        assert!(
            a.contains(&("backstage.io/view-url", "https://gitlab.com/acme/svc/-/blob/main/catalog-info.yaml".into()))
        );
        assert!(
            a.contains(&("backstage.io/edit-url", "https://gitlab.com/acme/svc/-/edit/main/catalog-info.yaml".into()))
        );
        assert!(a.contains(&("backstage.io/source-location", "url:https://gitlab.com/acme/svc/-/tree/main/".into())));
    }

    #[test]
    fn other_urls_get_a_view_url_and_their_folder_but_no_edit_url() {
        let a = ann("http://127.0.0.1:8080/catalog/svc.yaml");
        assert_eq!(a.len(), 2);
        assert!(a.contains(&("backstage.io/source-location", "url:http://127.0.0.1:8080/catalog/".into())));
    }
}
