//! Backstage's `filter` query parameter: each parameter is one set of conditions.
//!
//! Inside a set, `key=value` conditions separated by commas must all hold; a key repeated in a set
//! means any of its values; a bare `key` means the key exists. Sets are OR-ed. Keys and values are
//! matched case-insensitively.

use std::collections::HashMap;

/// One condition of a filter: a key that must exist, or one of several values it must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// Lower-cased dotted key, such as `kind`, `spec.owner` or `relations.ownedby`.
    pub key: String,
    /// Lower-cased values; `None` means the key must merely exist.
    pub values: Option<Vec<String>>,
}

/// Conditions that must all hold (AND); a filter is a list of sets, any of which may match (OR).
pub type FilterSet = Vec<Condition>;

/// The most `filter` parameters (sets) one request may give.
pub const MAX_FILTER_SETS: usize = 500;

/// Parses the values of every `filter` parameter: at most [`MAX_FILTER_SETS`] of them, and at
/// most [`MAX_ITEMS`](super::query::MAX_ITEMS) values for one key of a set.
pub fn parse(params: &[String]) -> Result<Vec<FilterSet>, String> {
    if params.len() > MAX_FILTER_SETS {
        return Err(format!(
            "too many filter parameters: {} given, more than the limit of {MAX_FILTER_SETS}",
            params.len()
        ));
    }
    params.iter().map(|p| parse_set(p)).collect()
}

fn parse_set(param: &str) -> Result<FilterSet, String> {
    let mut set: FilterSet = Vec::new();
    // Where each key's condition is in `set`: a long filter is read in linear time.
    let mut index: HashMap<String, usize> = HashMap::new();
    for part in param.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (key, value) = match part.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (part, None),
        };
        if key.is_empty() {
            return Err(format!("invalid filter \"{param}\": a condition has an empty key"));
        }
        let key = key.to_lowercase();
        let value = value.map(str::to_lowercase);
        match index.get(&key).map(|&i| &mut set[i]) {
            Some(existing) => match (&mut existing.values, value) {
                (Some(vals), Some(_)) if vals.len() >= super::query::MAX_ITEMS => {
                    let n = part_count(param, &key);
                    return Err(format!(
                        "invalid filter: {}",
                        super::query::too_many_items(&format!("the key \"{key}\" (repeated in one filter)"), n)
                    ));
                }
                (Some(vals), Some(v)) => vals.push(v),
                (slot @ None, Some(v)) => *slot = Some(vec![v]),
                (_, None) => {}
            },
            None => {
                index.insert(key.clone(), set.len());
                set.push(Condition { key, values: value.map(|v| vec![v]) });
            }
        }
    }
    Ok(set)
}

/// How many conditions of a filter set name this (lower-cased) key.
fn part_count(param: &str, key: &str) -> usize {
    param.split(',').filter(|p| p.split('=').next().is_some_and(|k| k.trim().to_lowercase() == key)).count()
}

/// All values of a repeated query parameter, URL-decoded.
pub fn query_values(query: &str, name: &str) -> Vec<String> {
    url::form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k == name).map(|(_, v)| v.into_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_in_one_parameter_are_anded_and_lower_cased() {
        let f = parse(&["kind=Component,spec.type=service".into()]).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0][0], Condition { key: "kind".into(), values: Some(vec!["component".into()]) });
        assert_eq!(f[0][1].key, "spec.type");
    }

    #[test]
    fn a_repeated_key_in_a_set_means_any_of() {
        let f = parse(&["kind=api,kind=component".into()]).unwrap();
        assert_eq!(f[0], vec![Condition { key: "kind".into(), values: Some(vec!["api".into(), "component".into()]) }]);
    }

    #[test]
    fn a_bare_key_means_exists_and_parameters_are_separate_sets() {
        let f = parse(&["spec.owner".into(), "kind=group".into()]).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0][0].values, None);
    }

    #[test]
    fn more_than_500_sets_or_values_of_one_key_are_refused_with_the_limit() {
        let sets = |n: usize| (0..n).map(|i| format!("metadata.name=n{i}")).collect::<Vec<_>>();
        assert_eq!(parse(&sets(MAX_FILTER_SETS)).unwrap().len(), 500);
        assert_eq!(
            parse(&sets(1000)).unwrap_err(),
            "too many filter parameters: 1000 given, more than the limit of 500"
        );
        let one = |n: usize| (0..n).map(|i| format!("kind=k{i}")).collect::<Vec<_>>().join(",");
        assert!(parse(&[one(500)]).is_ok());
        assert_eq!(
            parse(&[one(999)]).unwrap_err(),
            "invalid filter: the key \"kind\" (repeated in one filter) has 999 items, more than the limit of 500"
        );
    }

    #[test]
    fn an_empty_key_is_an_error() {
        assert!(parse(&["=x".into()]).is_err());
    }
}
